"""Bring your own data: train one of our tasks on a user's table through a column mapping.

A :class:`DataMapping` (YAML) names the id, target and positive label, an optional time column,
the feature columns with their kinds and the columns to ignore. :func:`load_user_frame` turns
the table into a :class:`~allotment.features.frame.TaskFrame` that
:func:`~allotment.modeling.train.train_task` trains like any other; :func:`leakage_warnings`
flags columns that give the answer away before anyone trusts the resulting AUC.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sklearn.metrics import roc_auc_score

from allotment.errors import AppError
from allotment.features.frame import FeatureKind, Task, TaskFrame
from allotment.io.mapping import CsvOptions
from allotment.io.reading import read_table
from allotment.modeling.config import LightGBMParams, SplitConfig, TrainConfig, load_yaml_model

#: Single-feature AUC (either direction) at or above which a column is suspected of leaking.
LEAKAGE_AUC = 0.98
#: Problems listed in one error message before the rest are counted.
_MAX_LISTED = 5


class DataMappingError(AppError):
    """A data mapping is missing, malformed, or names a column the data file lacks."""

    status_code = 422
    code = "data_mapping_invalid"


class UserDataError(AppError):
    """A user's table has a value the mapping cannot use (text in a numeric column, ...)."""

    status_code = 422
    code = "user_data_invalid"


def _labels(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, bool):
            # YAML 1.1 reads an unquoted Yes/No/on/off as a boolean: we cannot know the spelling
            raise ValueError(f"{v!r} is a YAML boolean; quote the label as it is in the file")
        if v is None or isinstance(v, dict | list):
            raise ValueError(f"a label must be text or a number, got {v!r}")
        out.append(str(v))
    if not out:
        raise ValueError("give at least one label")
    return out


class DataMapping(BaseModel):
    """How a user's table maps onto one of our tasks.

    ``positive`` (and optional ``negative``) are the target's labels as written in the file
    (text or numbers; several allowed). Without ``negative`` every other label is negative.
    With ``time`` the rows are split by it, otherwise by a seeded stratified split. ``seed``,
    ``split``, ``lightgbm``, ``calibration``, ``imbalance`` and ``early_stopping_rounds`` are
    the :class:`~allotment.modeling.config.TrainConfig` keys of the same names.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    model_name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    task: Task
    id: str = Field(min_length=1)
    target: str = Field(min_length=1)
    positive: list[str]
    negative: list[str] | None = None
    time: str | None = None
    features: dict[str, FeatureKind] = Field(min_length=1)
    ignore: list[str] = Field(default_factory=list)
    seed: int = 42
    split: SplitConfig = SplitConfig()
    lightgbm: LightGBMParams = LightGBMParams()
    calibration: Literal["isotonic", "sigmoid"] = "sigmoid"
    imbalance: Literal["none", "balanced", "sqrt"] = "none"
    early_stopping_rounds: int = Field(100, ge=1)

    @field_validator("positive", "negative", mode="before")
    @classmethod
    def _as_labels(cls, value: Any) -> Any:
        return None if value is None else _labels(value)

    @model_validator(mode="after")
    def _roles_do_not_overlap(self) -> DataMapping:
        roles: dict[str, str] = {}
        named = [("id", self.id), ("target", self.target)]
        if self.time is not None:
            named.append(("time", self.time))
        named += [("features", c) for c in self.features] + [("ignore", c) for c in self.ignore]
        for role, column in named:
            if column in roles:
                raise ValueError(f"column {column!r} is both in {roles[column]} and in {role}")
            roles[column] = role
        if self.negative is not None:
            both = {_label_key(v) for v in self.positive} & {_label_key(v) for v in self.negative}
            if both:
                raise ValueError(f"labels {sorted(both)} are both positive and negative")
        return self

    def columns(self) -> list[str]:
        """Every column the mapping names (all must exist in the file)."""
        named = [self.id, self.target, *([self.time] if self.time else [])]
        return named + list(self.features) + list(self.ignore)

    def train_config(self) -> TrainConfig:
        """The training configuration of this mapping (its task, seed, split, LightGBM...)."""
        return TrainConfig(
            task=self.task,
            seed=self.seed,
            split=self.split,
            lightgbm=self.lightgbm,
            calibration=self.calibration,
            imbalance=self.imbalance,
            early_stopping_rounds=self.early_stopping_rounds,
        )


def load_mapping(path: str | Path) -> DataMapping:
    """Read a :class:`DataMapping` from YAML.

    Raises
    ------
    DataMappingError
        The file is missing, not a YAML mapping, or invalid (unknown keys and bad values are
        named with their dotted path, e.g. ``features.tenure``).
    """
    return load_yaml_model(path, DataMapping, DataMappingError, "data mapping")


# --------------------------------------------------------------------------------------------
# the user's table -> TaskFrame
# --------------------------------------------------------------------------------------------


def _label_key(value: str) -> str:
    """A label as compared: trimmed, case-folded, numbers by value ("1", "1.0" and 1 agree)."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        return text.casefold()
    return repr(number) if np.isfinite(number) else text.casefold()


def _where(file: str, rows: np.ndarray, mask: np.ndarray) -> str:
    listed = ", ".join(str(int(r)) for r in rows[mask][:_MAX_LISTED])
    more = int(mask.sum()) - _MAX_LISTED
    return f"{file} row{'s' if mask.sum() > 1 else ''} {listed}" + (
        f" and {more} more" if more > 0 else ""
    )


def _numeric(file: str, column: str, text: pd.Series, rows: np.ndarray) -> pd.Series:
    stripped = text.fillna("").str.strip()
    values = pd.to_numeric(stripped.where(stripped != ""), errors="coerce")
    bad = (values.isna() & (stripped != "")).to_numpy()
    if bad.any():
        first = stripped[bad].iloc[0]
        raise UserDataError(
            f"{_where(file, rows, bad)}, column {column!r}: not a number "
            f"(e.g. {first!r}); declare the column categorical or fix the values",
            file=file,
            column=column,
            rows=[int(r) for r in rows[bad][:_MAX_LISTED]],
        )
    return values.astype("float64")


def _categorical(text: pd.Series) -> pd.Series:
    stripped = text.fillna("").str.strip()
    return stripped.where(stripped != "").astype("category")


def _target(file: str, mapping: DataMapping, text: pd.Series, rows: np.ndarray) -> pd.Series:
    keys = text.fillna("").map(_label_key)
    positive = keys.isin({_label_key(v) for v in mapping.positive}).to_numpy()
    if mapping.negative is not None:
        known = positive | keys.isin({_label_key(v) for v in mapping.negative}).to_numpy()
        expected = f"positive {mapping.positive} or negative {mapping.negative}"
    else:
        known = (keys != "").to_numpy()
        expected = "a label (it is blank)"
    if not known.all():
        seen = sorted(set(text[~known].fillna("").str.strip()))[:_MAX_LISTED]
        raise UserDataError(
            f"{_where(file, rows, ~known)}, column {mapping.target!r}: target value "
            f"{', '.join(repr(s) for s in seen)} is not {expected}",
            file=file,
            column=mapping.target,
            rows=[int(r) for r in rows[~known][:_MAX_LISTED]],
        )
    return pd.Series(positive.astype(np.int8), name="y")


def _times(file: str, column: str, text: pd.Series, rows: np.ndarray) -> pd.Series:
    stripped = text.fillna("").str.strip()
    stamps = pd.to_datetime(stripped.where(stripped != ""), errors="coerce", format="mixed")
    bad = stamps.isna().to_numpy()
    if bad.any():
        raise UserDataError(
            f"{_where(file, rows, bad)}, column {column!r}: missing or unreadable time "
            "(a time split needs every row's time)",
            file=file,
            column=column,
        )
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.astype("datetime64[ns]").reset_index(drop=True)


def unmapped_columns(columns: Iterable[str], mapping: DataMapping) -> list[str]:
    """The file's columns the mapping neither uses nor ignores, in file order.

    They are left out of training; listing them tells the user a column was forgotten rather
    than deliberately dropped (move it to ``features`` or ``ignore`` to silence the notice).
    """
    named = set(mapping.columns())
    return [c for c in columns if c not in named]


def load_user_frame(
    data_path: str | Path,
    mapping: DataMapping,
    *,
    csv: CsvOptions | None = None,
    notice: Callable[[str], None] | None = None,
) -> TaskFrame:
    """Read a CSV or Parquet table into a labelled :class:`TaskFrame` for ``mapping.task``.

    Numeric features become float64 (blank -> NaN), categorical ones pandas ``category``
    (blank -> missing), the target 0/1 ``int8``; the id column is kept as ``ids``, never as a
    feature. File columns the mapping neither uses nor ignores are reported through ``notice``
    (see :func:`unmapped_columns`). Without a time column ``as_of`` is all missing, which
    makes training use the seeded stratified split.

    Raises
    ------
    DataMappingError
        A column the mapping names is not in the file.
    UserDataError
        The file cannot be read, a numeric cell is not a number, a target value is neither a
        positive nor a negative label, or a time is missing (errors name file, rows, column).
    """
    path = Path(data_path)
    try:
        raw = read_table(path, csv or CsvOptions())
    except ValueError as exc:  # unknown extension
        raise UserDataError(str(exc), file=path.name) from exc
    except OSError as exc:
        raise UserDataError(f"{path}: cannot read: {exc}", file=path.name) from exc
    if raw.problems:
        listed = "; ".join(
            f"row {p.row}: {p.reason}" if p.row not in (None, "file") else p.reason
            for p in raw.problems[:_MAX_LISTED]
        )
        raise UserDataError(f"{raw.file}: {listed}", file=raw.file)
    missing = [c for c in mapping.columns() if c not in raw.frame.columns]
    if missing:
        raise DataMappingError(
            f"{raw.file}: the mapping names column(s) {missing} that the file does not have "
            f"(it has {list(raw.frame.columns)})",
            file=raw.file,
            columns=missing,
        )
    if len(raw.frame) == 0:
        raise UserDataError(f"{raw.file}: no data rows", file=raw.file)
    unmapped = unmapped_columns(raw.frame.columns, mapping)
    if unmapped and notice is not None:
        notice(
            f"{raw.file}: column(s) {unmapped} are neither features nor ignored in the mapping;"
            " they are not used (list them under `ignore` to silence this)"
        )
    cells = raw.frame.reset_index(drop=True)
    rows = raw.rows
    X = pd.DataFrame(
        {
            name: (
                _numeric(raw.file, name, cells[name], rows)
                if kind == FeatureKind.NUMERIC
                else _categorical(cells[name])
            )
            for name, kind in mapping.features.items()
        }
    )
    y = _target(raw.file, mapping, cells[mapping.target], rows)
    if mapping.time is not None:
        as_of = _times(raw.file, mapping.time, cells[mapping.time], rows)
    else:
        as_of = pd.Series(pd.NaT, index=range(len(cells)), dtype="datetime64[ns]")
    return TaskFrame(
        task=mapping.task,
        X=X,
        features=dict(mapping.features),
        ids=cells[mapping.id].fillna("").str.strip().rename("id"),
        as_of=as_of,
        y=y,
    )


# --------------------------------------------------------------------------------------------
# leakage guard
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeakageWarning:
    """A feature suspected of leaking the target: why, and its single-feature AUC."""

    column: str
    auc: float
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"column {self.column!r} (single-feature AUC {self.auc:.3f}): " + "; ".join(
            self.reasons
        )


def _normalised(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def _out_of_fold_rates(values: pd.Series, y: np.ndarray, *, folds: int, seed: int) -> np.ndarray:
    """Each row's category's target rate, computed on the other folds.

    In-sample rates would give any high-cardinality column (an id in disguise) an AUC near 1;
    out of fold, a category only scores what it predicts for rows it has not seen.
    """
    codes = values.cat.codes.to_numpy() if values.dtype == "category" else values.to_numpy()
    prior = float(y.mean())
    fold = np.random.default_rng(seed).integers(0, folds, size=len(y))
    score = np.full(len(y), prior)
    for k in range(folds):
        fit = fold != k
        rates = pd.Series(y[fit]).groupby(codes[fit]).mean()
        score[~fit] = pd.Series(codes[~fit]).map(rates).fillna(prior).to_numpy()
    return score


def single_feature_auc(values: pd.Series, y: pd.Series, *, seed: int = 0) -> float:
    """How well one feature alone ranks the target: ``max(auc, 1 - auc)`` (0.5 = useless).

    Numeric values are scored as they are (missing values rank below every other value, so
    a missingness pattern counts too); categorical ones by their category's out-of-fold target
    rate, missing being a category of its own.
    """
    target = pd.Series(y).to_numpy(dtype=np.int64)
    if len(np.unique(target)) < 2:
        return 0.5
    if isinstance(values.dtype, pd.CategoricalDtype):
        filled = values.cat.add_categories("\0missing").fillna("\0missing")
        score = _out_of_fold_rates(filled, target, folds=5, seed=seed)
    else:
        numbers = pd.Series(values, dtype="float64").to_numpy()
        finite = numbers[np.isfinite(numbers)]
        floor = float(finite.min()) - 1.0 if len(finite) else 0.0
        score = np.where(np.isfinite(numbers), numbers, floor)
    auc = float(roc_auc_score(target, score))
    return max(auc, 1.0 - auc)


def leakage_warnings(
    frame: TaskFrame, *, target_name: str | None = None, threshold: float = LEAKAGE_AUC
) -> list[LeakageWarning]:
    """Features that look like the target in disguise.

    A feature is flagged when its single-feature AUC (see :func:`single_feature_auc`) is at
    least ``threshold``, or when its name equals or contains ``target_name`` (case and
    punctuation ignored: ``churn_flag`` looks like ``Churn``).
    """
    if frame.y is None:
        return []
    target_key = _normalised(target_name) if target_name else ""
    out = []
    for name in frame.features:
        auc = single_feature_auc(frame.X[name], frame.y)
        reasons = []
        if auc >= threshold:
            reasons.append(f"alone it predicts the target almost perfectly (≥ {threshold:g})")
        if target_key and target_key in _normalised(name):
            reasons.append(f"its name looks like the target {target_name!r}")
        if reasons:
            out.append(LeakageWarning(name, auc, tuple(reasons)))
    return out

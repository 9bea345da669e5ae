"""Validate feature rows against what a LightGBM model saw in training; impute and flag.

Everything is read from the booster itself (``Booster.dump_model()``), so it works for any
model whatever the feature list is:

* ``feature_infos`` gives each numeric feature's training range (``min_value``/``max_value``,
  from LightGBM's bin-construction sample) and each categorical feature's seen codes;
  ``pandas_categorical`` gives the category list whose positions are those codes (the same list
  :class:`allotment.modeling.pipelines.CategoryDtypes` casts with);
* a split's ``missing_type`` says whether the feature had missing values in training
  (``"NaN"``) or not (``"None"``); the trees' ``leaf_count`` give how many training rows fell
  in each leaf.

Rules (each imputation yields an :class:`InputFlag`; nothing is silent):

``missing``
    NaN in a feature the model saw missing in training: LightGBM's learned missing-value
    branch is legitimate and is used (no flag). NaN in a feature the model never saw missing
    (LightGBM would silently treat it as 0.0): imputed with the feature's **training median
    estimated from the trees** (each tree partitions the training rows into leaves; a leaf's
    rows are spread uniformly over the leaf's interval of the feature, clipped to the training
    range, and the trees' distributions are averaged; the 0.5-quantile of that mixture is the
    estimate). A categorical feature gets its most frequent training category, estimated the
    same way. A value that is not a number counts as missing and is always flagged.
``out_of_range``
    A numeric value outside the training range is clipped to it. For trees this never changes
    the prediction (every threshold lies inside the range), but the flag says the model did
    not see such a value.
``unseen_category``
    A category not in the training list is treated as missing: the missing branch when the
    model saw missing values of that feature (``used`` is ``None``), else the most frequent
    category.

A feature the model never splits on cannot change the output; it is neither imputed nor
flagged. A frame whose columns differ from the model's features (names or order) is refused
with :class:`FeatureFrameMismatchError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from allotment.errors import ModelSignatureError
from allotment.features.frame import FeatureKind

Problem = Literal["missing", "out_of_range", "unseen_category"]
FloatArray = npt.NDArray[np.float64]


class FeatureFrameMismatchError(ModelSignatureError):
    """Feature rows whose columns differ from the model's features (names or order)."""

    status_code = 422
    code = "feature_frame_mismatch"


@dataclass(frozen=True)
class InputFlag:
    """One imputed input: which feature, what was wrong, the value given and the value used.

    ``used`` is ``None`` when LightGBM's learned missing-value branch was used.
    """

    feature: str
    problem: Problem
    value: Any
    used: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "problem": self.problem,
            "value": jsonable(self.value),
            "used": jsonable(self.used),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputFlag:
        return cls(
            feature=str(data["feature"]),
            problem=data["problem"],
            value=data.get("value"),
            used=data.get("used"),
        )


@dataclass(frozen=True)
class Imputed:
    """The flags of one feature and problem in a batch: ``rows`` (positions), and per row the
    value given and the value used (as in :class:`InputFlag`)."""

    feature: str
    problem: Problem
    rows: npt.NDArray[np.intp]
    values: list[Any]
    used: list[Any]


def jsonable(value: Any) -> Any:
    """A JSON-safe scalar: NaN/inf -> None (PostgreSQL JSON refuses NaN), numpy -> Python."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass(frozen=True)
class FeatureDomain:
    """What the model saw of one feature in training.

    Parameters
    ----------
    name, kind, index
        Feature name, kind and column position.
    used
        The model splits on it (otherwise its value cannot change the output).
    saw_missing
        Training had missing values, so LightGBM learned where NaN goes.
    low, high
        Training range of a numeric feature (NaN for categoricals).
    categories
        Category list of a categorical feature; a value's code is its position.
    fill
        Value imputed for a disallowed NaN: the estimated training median (numeric) or the
        code of the most frequent category (categorical).
    """

    name: str
    kind: FeatureKind
    index: int
    used: bool
    saw_missing: bool
    low: float
    high: float
    categories: tuple[Any, ...]
    fill: float

    def display(self, code_or_value: float) -> Any:
        """A matrix value as a person reads it (category name for categoricals)."""
        if self.kind is FeatureKind.CATEGORICAL:
            if math.isnan(code_or_value):
                return None
            return self.categories[int(code_or_value)]
        return None if math.isnan(code_or_value) else float(code_or_value)


class InputValidator:
    """Turns feature rows into the model's float matrix, imputing and flagging (see module).

    Build it once per model version with :meth:`from_boosters`.
    """

    def __init__(self, domains: Sequence[FeatureDomain]) -> None:
        self.domains = tuple(domains)
        self.names = tuple(d.name for d in self.domains)
        self._codes = [
            {c: float(i) for i, c in enumerate(d.categories)}
            if d.kind is FeatureKind.CATEGORICAL
            else None
            for d in self.domains
        ]
        self._index = [pd.Index(list(d.categories), dtype=object) for d in self.domains]

    @classmethod
    def from_boosters(
        cls, boosters: Sequence[Any], features: Mapping[str, FeatureKind]
    ) -> InputValidator:
        """Read the domains from one or more boosters trained on the same features.

        With several boosters (a cross-validated calibration ensemble) the range is their
        union, missing values count as seen only if every booster saw them, and the fill is
        estimated from all their trees.

        Raises
        ------
        FeatureFrameMismatchError
            A booster's feature count or names differ from ``features``.
        """
        names = list(features)
        dumps = [b.dump_model() for b in boosters]
        for dump in dumps:
            got = [str(n) for n in dump["feature_names"]]
            if got != names:
                raise FeatureFrameMismatchError(
                    f"booster features {got} differ from the model's features {names}",
                    problems=["booster feature names differ"],
                )
        split_stats = [_split_stats(dump, len(names)) for dump in dumps]  # one pass per booster
        domains: list[FeatureDomain] = []
        for j, name in enumerate(names):
            kind = FeatureKind(features[name])
            stats = [per_dump[j] for per_dump in split_stats]
            used = any(s.used for s in stats)
            saw_missing = all(s.saw_missing or not s.used for s in stats) and any(
                s.saw_missing for s in stats
            )
            if kind is FeatureKind.CATEGORICAL:
                categories = _categories(dumps[0], names, features, name)
                fill = _mode_code(dumps, j, len(categories)) if used else math.nan
                domains.append(
                    FeatureDomain(
                        name, kind, j, used, saw_missing, math.nan, math.nan, categories, fill
                    )
                )
            else:
                lows, highs = zip(*(_range(dump, j, name) for dump in dumps), strict=True)
                low, high = float(min(lows)), float(max(highs))
                fill = _median(dumps, j, low, high) if used else math.nan
                domains.append(FeatureDomain(name, kind, j, used, saw_missing, low, high, (), fill))
        return cls(domains)

    # ------------------------------------------------------------------ conversion

    def check_columns(self, columns: Sequence[Any]) -> None:
        """Refuse columns that differ from the model's features (names or order)."""
        got = [str(c) for c in columns]
        if got == list(self.names):
            return
        missing = [n for n in self.names if n not in got]
        extra = [c for c in got if c not in self.names]
        problems = []
        if missing:
            problems.append(f"missing features {missing}")
        if extra:
            problems.append(f"unexpected features {extra}")
        if not problems:
            problems.append("feature order differs")
        raise FeatureFrameMismatchError(
            "feature rows do not match the model's features: " + "; ".join(problems),
            problems=problems,
        )

    def matrix(self, X: pd.DataFrame) -> tuple[FloatArray, list[tuple[InputFlag, ...]]]:
        """The imputed float matrix (categoricals as codes) and each row's flags.

        Raises
        ------
        FeatureFrameMismatchError
            ``X``'s columns differ from the model's features.
        """
        out, imputed = self.impute(X)
        flags: list[list[InputFlag]] = [[] for _ in range(len(X))]
        # Column by column, as the rows' flags are ordered (a row has at most one per feature).
        for imp in imputed:
            name, problem = imp.feature, imp.problem
            for r, v, u in zip(imp.rows.tolist(), imp.values, imp.used, strict=True):
                flags[r].append(InputFlag(name, problem, v, u))
        return out, [tuple(f) for f in flags]

    def impute(self, X: pd.DataFrame) -> tuple[FloatArray, list[Imputed]]:
        """The imputed float matrix of :meth:`matrix` and its flags by feature and problem
        (columns of rows, no object per flag): for a large batch whose flags are only
        summarised (scoring), building one :class:`InputFlag` per cell costs more than the
        prediction.

        Raises
        ------
        FeatureFrameMismatchError
            ``X``'s columns differ from the model's features.
        """
        self.check_columns(list(X.columns))
        n = len(X)
        out = np.empty((n, len(self.domains)), dtype=np.float64)
        imputed: list[Imputed] = []
        for d in self.domains:
            col = X.iloc[:, d.index]
            if d.kind is FeatureKind.CATEGORICAL:
                raw = col.to_numpy(dtype=object)
                codes = self._index[d.index].get_indexer(raw)  # -1: unseen or missing
                values = codes.astype(np.float64)
                values[codes < 0] = np.nan
                out[:, d.index] = values
                if not d.used:
                    continue
                bad = np.isnan(values)
                if not bad.any():
                    continue
                given_missing = col.isna().to_numpy()
                for problem, rows in (
                    ("missing", np.flatnonzero(bad & given_missing)),
                    ("unseen_category", np.flatnonzero(bad & ~given_missing)),
                ):
                    if not len(rows) or (problem == "missing" and d.saw_missing):
                        continue  # the learned missing branch; nothing was imputed
                    given = [_plain(raw[i]) for i in rows.tolist()]
                    if d.saw_missing:
                        used: list[Any] = [None] * len(rows)
                    else:
                        out[rows, d.index] = d.fill
                        used = [d.display(d.fill)] * len(rows)
                    imputed.append(Imputed(d.name, problem, rows, given, used))  # type: ignore[arg-type]
            else:
                values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
                out[:, d.index] = values
                if not d.used:
                    continue
                missing = np.isnan(values)
                if missing.any():
                    # a value that is not a number counts as missing, and is always flagged
                    given_all = col.to_numpy(dtype=object)
                    garbage = missing & col.notna().to_numpy()
                    rows = np.flatnonzero(missing if not d.saw_missing else garbage)
                    fill = None if d.saw_missing else d.fill
                    if not d.saw_missing:
                        out[rows, d.index] = d.fill
                    if len(rows):
                        imputed.append(
                            Imputed(
                                d.name,
                                "missing",
                                rows,
                                [_plain(given_all[r]) for r in rows.tolist()],
                                [fill] * len(rows),
                            )
                        )
                with np.errstate(invalid="ignore"):
                    outside = (values < d.low) | (values > d.high)
                # Vectorised (a large backlog has many out-of-range cells): clip, then flag.
                rows = np.flatnonzero(outside)
                if len(rows):
                    clipped = np.minimum(np.maximum(values[rows], d.low), d.high)
                    out[rows, d.index] = clipped
                    imputed.append(
                        Imputed(
                            d.name, "out_of_range", rows, values[rows].tolist(), clipped.tolist()
                        )
                    )
        return out, imputed

    def row(self, values: Mapping[str, Any]) -> tuple[FloatArray, tuple[InputFlag, ...]]:
        """One row as a ``(1, k)`` matrix and its flags, without building a DataFrame.

        Raises
        ------
        FeatureFrameMismatchError
            ``values`` lacks a feature or has one the model does not know.
        """
        if len(values) != len(self.names) or any(n not in values for n in self.names):
            self.check_columns(list(values))
        out = np.empty((1, len(self.domains)), dtype=np.float64)
        flags: list[InputFlag] = []
        lists = [flags]
        for d, codes in zip(self.domains, self._codes, strict=True):
            value = values[d.name]
            j = d.index
            if codes is not None:
                code = None if _is_missing(value) else codes.get(value)
                if code is not None:
                    out[0, j] = code
                    continue
                out[0, j] = math.nan
                problem: Problem = "missing" if _is_missing(value) else "unseen_category"
                self._fix_categorical(out, lists, 0, d, problem, value)
                continue
            x = _to_float(value)
            out[0, j] = x
            if not d.used:
                continue
            if math.isnan(x):
                given = _plain(value)  # not None: a value that is not a number
                if not d.saw_missing:
                    out[0, j] = d.fill
                    flags.append(InputFlag(d.name, "missing", given, d.fill))
                elif given is not None:
                    flags.append(InputFlag(d.name, "missing", given, None))
            elif x < d.low or x > d.high:
                used = min(max(x, d.low), d.high)
                out[0, j] = used
                flags.append(InputFlag(d.name, "out_of_range", x, used))
        return out, tuple(flags)

    def rows(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[FloatArray, list[tuple[InputFlag, ...]]]:
        """Several mappings as one matrix (the row path, stacked)."""
        out = np.empty((len(rows), len(self.domains)), dtype=np.float64)
        flags: list[tuple[InputFlag, ...]] = []
        for i, values in enumerate(rows):
            m, f = self.row(values)
            out[i] = m[0]
            flags.append(f)
        return out, flags

    def to_frame(self, matrix: FloatArray) -> pd.DataFrame:
        """The imputed matrix back as a frame the model's pipeline accepts (for checks)."""
        cols: dict[str, Any] = {}
        for d in self.domains:
            col = matrix[:, d.index]
            if d.kind is FeatureKind.CATEGORICAL:
                codes = np.where(np.isnan(col), -1, col).astype(np.int64)
                cols[d.name] = pd.Categorical.from_codes(
                    codes, categories=pd.Index(list(d.categories))
                )
            else:
                cols[d.name] = col.astype(np.float64)
        return pd.DataFrame(cols)

    def _fix_categorical(
        self,
        out: FloatArray,
        flags: Sequence[list[InputFlag]],
        i: int,
        d: FeatureDomain,
        problem: Problem,
        value: Any,
    ) -> None:
        if not d.used:
            return
        if problem == "missing" and d.saw_missing:
            return  # the learned missing branch; nothing was imputed
        if d.saw_missing:
            flags[i].append(InputFlag(d.name, problem, _plain(value), None))
            return
        out[i, d.index] = d.fill
        flags[i].append(InputFlag(d.name, problem, _plain(value), d.display(d.fill)))


def _to_float(value: Any) -> float:
    """A numeric input as float; missing or not a number -> NaN (then imputed and flagged)."""
    if _is_missing(value):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _plain(value: Any) -> Any:
    return None if _is_missing(value) else value


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, float | np.floating) and math.isnan(value))
    except TypeError:
        return False


# ---------------------------------------------------------------------- reading the booster


@dataclass(frozen=True)
class _SplitStats:
    used: bool
    saw_missing: bool


def _nodes(dump: Mapping[str, Any]) -> Any:
    """Every node of every tree (depth first), with its tree index."""
    for t, tree in enumerate(dump["tree_info"]):
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            yield t, node
            if "split_index" in node:
                stack.append(node["left_child"])
                stack.append(node["right_child"])


def _split_stats(dump: Mapping[str, Any], n_features: int) -> list[_SplitStats]:
    """Per feature: is it split on, and did any split learn a missing-value branch."""
    used = [False] * n_features
    saw = [False] * n_features
    for _, node in _nodes(dump):
        j = node.get("split_feature")
        if j is not None:
            used[j] = True
            saw[j] = saw[j] or node.get("missing_type") == "NaN"
    return [_SplitStats(u, m) for u, m in zip(used, saw, strict=True)]


def _range(dump: Mapping[str, Any], j: int, name: str) -> tuple[float, float]:
    info = dump["feature_infos"]
    raw = info.get(name) if isinstance(info, Mapping) else info[j]
    if isinstance(raw, Mapping):
        return float(raw["min_value"]), float(raw["max_value"])
    text = str(raw)  # older LightGBM: "[min:max]", or "none" for an unused feature
    if text.startswith("[") and ":" in text:
        lo, hi = text.strip("[]").split(":")
        return float(lo), float(hi)
    return -math.inf, math.inf


def _categories(
    dump: Mapping[str, Any], names: Sequence[str], features: Mapping[str, FeatureKind], name: str
) -> tuple[Any, ...]:
    categorical = [n for n in names if FeatureKind(features[n]) is FeatureKind.CATEGORICAL]
    lists = dump.get("pandas_categorical") or []
    position = categorical.index(name)
    if position >= len(lists):
        raise FeatureFrameMismatchError(
            f"{name} is categorical but the booster stores no category list for it",
            problems=[f"no categories for {name}"],
        )
    return tuple(lists[position])


def _leaf_spans(dump: Mapping[str, Any], j: int, low: float, high: float) -> list[FloatArray]:
    """Per tree splitting on feature ``j``: rows ``(lo, hi, share of rows)`` of its leaves."""
    per_tree: dict[int, list[tuple[float, float, float]]] = {}
    for t, tree in enumerate(dump["tree_info"]):
        stack: list[tuple[Any, float, float]] = [(tree["tree_structure"], low, high)]
        splits = False
        leaves: list[tuple[float, float, float]] = []
        while stack:
            node, lo, hi = stack.pop()
            if "split_index" not in node:
                leaves.append((lo, hi, float(node.get("leaf_count", 0))))
                continue
            if node["split_feature"] == j:
                splits = True
                thr = float(node["threshold"])
                stack.append((node["left_child"], lo, min(hi, thr)))
                stack.append((node["right_child"], max(lo, thr), hi))
            else:
                stack.append((node["left_child"], lo, hi))
                stack.append((node["right_child"], lo, hi))
        total = sum(c for _, _, c in leaves)
        if splits and total > 0:
            per_tree[t] = [(lo, hi, c / total) for lo, hi, c in leaves]
    return [np.asarray(v, dtype=np.float64) for v in per_tree.values()]


def _median(dumps: Sequence[Mapping[str, Any]], j: int, low: float, high: float) -> float:
    """Training median of numeric feature ``j`` estimated from leaf counts (see module)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return 0.0
    spans = [s for dump in dumps for s in _leaf_spans(dump, j, low, high)]
    if not spans or high <= low:
        return low
    seg = np.concatenate(spans) * np.array([1.0, 1.0, 1.0 / len(spans)])
    lo, hi, w = seg[:, 0], seg[:, 1], seg[:, 2]

    def cdf(x: float) -> float:
        width = np.maximum(hi - lo, 0.0)
        inside = np.where(width > 0, np.clip((x - lo) / np.where(width > 0, width, 1), 0, 1), 0)
        point = np.where(width > 0, 0.0, (x >= lo).astype(np.float64))
        return float(np.sum(w * (inside + point)))

    a, b = low, high
    for _ in range(60):  # bisection to well below any threshold spacing
        mid = 0.5 * (a + b)
        if cdf(mid) < 0.5:
            a = mid
        else:
            b = mid
    return float(b)


def _mode_code(dumps: Sequence[Mapping[str, Any]], j: int, n_categories: int) -> float:
    """Code of the most frequent training category of feature ``j`` (from leaf counts)."""
    mass = np.zeros(n_categories, dtype=np.float64)
    for dump in dumps:
        for tree in dump["tree_info"]:
            everything = frozenset(range(n_categories))
            stack: list[tuple[Any, frozenset[int]]] = [(tree["tree_structure"], everything)]
            leaves: list[tuple[frozenset[int], float]] = []
            splits = False
            while stack:
                node, allowed = stack.pop()
                if "split_index" not in node:
                    leaves.append((allowed, float(node.get("leaf_count", 0))))
                    continue
                if node["split_feature"] == j:
                    splits = True
                    left = frozenset(int(c) for c in str(node["threshold"]).split("||"))
                    stack.append((node["left_child"], allowed & left))
                    stack.append((node["right_child"], allowed - left))
                else:
                    stack.append((node["left_child"], allowed))
                    stack.append((node["right_child"], allowed))
            total = sum(c for _, c in leaves)
            if not splits or total <= 0:
                continue
            for allowed, count in leaves:
                if allowed:
                    for c in allowed:
                        mass[c] += count / total / len(allowed)
    return float(int(np.argmax(mass)))


__all__ = [
    "FeatureDomain",
    "FeatureFrameMismatchError",
    "Imputed",
    "InputFlag",
    "InputValidator",
    "Problem",
    "jsonable",
]

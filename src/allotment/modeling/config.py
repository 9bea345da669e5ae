"""Training configuration per task, loaded from YAML files in ``training/configs/``.

One :class:`TrainConfig` per task. Unknown keys are rejected (a typo must not silently fall
back to a default), and the error names the file and the key.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal, TypeVar

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from allotment.errors import AppError
from allotment.features.frame import Task

M = TypeVar("M", bound=BaseModel)

#: The repository's ``training/configs`` folder (``src/allotment/modeling`` -> repo root).
CONFIG_DIR = Path(__file__).resolve().parents[3] / "training" / "configs"


class TrainConfigError(AppError):
    """A training configuration file is missing, malformed or names an unknown key."""

    status_code = 422
    code = "train_config_invalid"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LightGBMParams(_Strict):
    """LightGBM hyperparameters (scikit-learn API names).

    ``n_estimators`` is an upper bound: training stops early on the validation split.
    """

    n_estimators: int = Field(2000, ge=1)
    learning_rate: float = Field(0.03, gt=0, le=1)
    num_leaves: int = Field(31, ge=2)
    max_depth: int = -1  # -1: unlimited
    min_child_samples: int = Field(50, ge=1)  # rows per leaf
    subsample: float = Field(0.8, gt=0, le=1)
    subsample_freq: int = Field(1, ge=0)  # bagging every k iterations; 0 disables it
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_alpha: float = Field(0.0, ge=0)
    reg_lambda: float = Field(1.0, ge=0)
    min_split_gain: float = Field(0.0, ge=0)
    cat_smooth: float = Field(10.0, ge=0)
    max_cat_to_onehot: int = Field(4, ge=1)
    max_bin: int = Field(255, ge=2)
    num_threads: int = Field(2, ge=1)  # training threads; single-row scoring must use 1


class SplitConfig(_Strict):
    """How rows are split into train / validation / test.

    With ``valid_start`` and ``test_start`` the split is by those dates (train: ``as_of`` before
    ``valid_start``; validation: from ``valid_start`` to before ``test_start``; test: from
    ``test_start``). Otherwise by fractions of rows in time order (``train_fraction`` and
    ``valid_fraction``; the rest is test), cut at dates so that no date straddles two parts.
    ``embargo_days`` drops rows whose ``as_of`` is within that many days before the next part
    starts (labels that resolve over a horizon would otherwise overlap the next window).
    ``maturity_days`` drops the most recent rows (``as_of`` within that many days of the latest
    one), whose labels are not yet mature.
    """

    train_fraction: float = Field(0.6, gt=0, lt=1)
    valid_fraction: float = Field(0.2, gt=0, lt=1)
    valid_start: date | None = None
    test_start: date | None = None
    embargo_days: int = Field(0, ge=0)
    maturity_days: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> SplitConfig:
        if self.train_fraction + self.valid_fraction >= 1:
            raise ValueError("train_fraction + valid_fraction must be below 1 (test needs rows)")
        if (self.valid_start is None) != (self.test_start is None):
            raise ValueError("give both valid_start and test_start, or neither")
        if self.valid_start and self.test_start and self.valid_start >= self.test_start:
            raise ValueError("valid_start must be before test_start")
        return self


class QuantileConfig(_Strict):
    """Quantile regressors for a continuous extra target (days late for supplier delay).

    ``rows="all"`` fits the unconditional quantiles of the target (days late <= 0 means on time),
    so P90 is the arrival-date bound that holds for 90% of lines; ``rows="late"`` fits the
    quantiles given that the line is late (target > 0).
    """

    target: str = "days_late"
    alphas: tuple[float, ...] = (0.5, 0.9)
    rows: Literal["all", "late"] = "all"
    n_estimators: int = Field(1000, ge=1)
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(31, ge=2)
    min_child_samples: int = Field(50, ge=1)

    @model_validator(mode="after")
    def _alphas_in_range(self) -> QuantileConfig:
        if not self.alphas or any(not 0 < a < 1 for a in self.alphas):
            raise ValueError("alphas must be a non-empty list of numbers strictly between 0 and 1")
        return self


class TrainConfig(_Strict):
    """Everything that determines one training run of one task (besides the data).

    Class imbalance (``imbalance``): ``none`` trains unweighted; ``balanced`` sets LightGBM's
    ``scale_pos_weight`` to negatives/positives of the training split; ``sqrt`` to its square
    root (a milder reweighting). Any weighting distorts raw probabilities, which is why the
    model is always recalibrated on the validation split (``calibration``).

    ``calibration_rows`` says which predictions the calibrator is fitted on: ``valid`` (the
    validation rows, scored by the model) or ``history`` (the validation rows plus out-of-time
    predictions for the training rows: the training window is cut into ``calibration_blocks``
    time blocks, and each block after the first is scored by a model fitted like this one,
    with the same number of trees, on the blocks before it). ``history`` spreads the
    calibration over every season the data covers instead of the validation window alone: a
    validation window that holds a seasonal peak the model under-predicts would otherwise
    teach the calibrator to raise every later prediction. A split without times (stratified)
    always calibrates on the validation rows.

    ``monotone_constraints`` maps a numeric feature to +1 (risk never decreases as it grows) or
    -1 (never increases); LightGBM enforces it, which makes the directional behaviour tests
    guarantees rather than hopes.
    """

    task: Task
    seed: int = 42
    lightgbm: LightGBMParams = LightGBMParams()
    calibration: Literal["isotonic", "sigmoid"] = "sigmoid"
    calibration_rows: Literal["valid", "history"] = "valid"
    calibration_blocks: int = Field(4, ge=2, le=20)
    imbalance: Literal["none", "balanced", "sqrt"] = "none"
    early_stopping_rounds: int = Field(100, ge=1)
    monotone_constraints: dict[str, Literal[-1, 1]] = Field(default_factory=dict)
    split: SplitConfig = SplitConfig()
    quantiles: QuantileConfig | None = None


def load_yaml_model(path: str | Path, model: type[M], error: type[AppError], what: str) -> M:
    """Read a YAML file into the pydantic ``model``; every problem raises ``error``.

    The message names the file and, for each invalid or unknown key, its dotted path
    (e.g. ``lightgbm.num_leavs``); ``what`` says what the file is ("training config").
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc}", file=str(path)) from exc
    return load_yaml_text(text, model, error, what, where=str(path))


def load_yaml_text(text: str, model: type[M], error: type[AppError], what: str, *, where: str) -> M:
    """Parse YAML ``text`` into the pydantic ``model`` (``where`` names its origin in messages)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{where}: not valid YAML: {exc}", file=where) from exc
    if not isinstance(raw, dict):
        raise error(f"{where}: expected a mapping at the top level", file=where)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown key {key!r}")
            else:
                msg = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"{key}: {msg}")
        raise error(
            f"{where}: invalid {what}: " + "; ".join(problems), file=where, problems=problems
        ) from None


def load_config(path: str | Path) -> TrainConfig:
    """Read a :class:`TrainConfig` from a YAML file.

    Raises
    ------
    TrainConfigError
        The file is missing, is not a YAML mapping, or fails validation (unknown keys are
        named with their dotted path, e.g. ``lightgbm.num_leavs``).
    """
    return load_yaml_model(path, TrainConfig, TrainConfigError, "training config")


def default_config(task: Task | str, *, config_dir: Path = CONFIG_DIR) -> TrainConfig:
    """The default configuration of a task: ``<config_dir>/<task>.yaml``."""
    task = Task(task)
    config = load_config(config_dir / f"{task.value}.yaml")
    if config.task != task:
        raise TrainConfigError(
            f"{config_dir / f'{task.value}.yaml'}: task is {config.task.value!r}, "
            f"expected {task.value!r}"
        )
    return config

"""The contract between feature building and modeling: a task's frame.

Feature code (:mod:`allotment.features`) produces a :class:`TaskFrame`; modeling
(:mod:`allotment.modeling`) consumes it. The same builders serve training (many as-of times,
labels attached) and scoring (as of now, no labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd


class Task(StrEnum):
    """The three risk models."""

    SUPPLIER_DELAY = "supplier_delay"  # unit: PO line; target: arrives later than promised
    SLA_BREACH = "sla_breach"  # unit: backordered order line; target: misses promised date
    CHURN = "churn"  # unit: customer at a date; target: churns within the horizon


class FeatureKind(StrEnum):
    NUMERIC = "numeric"  # float64; NaN allowed only where the spec says so
    CATEGORICAL = "categorical"  # pandas "category" dtype with fixed categories


@dataclass(frozen=True)
class TaskFrame:
    """One row per (subject, as-of time) for a task.

    Parameters
    ----------
    task
        Which model the frame is for.
    X
        Feature columns only, in a fixed order; dtypes per ``features``.
    features
        Feature name -> kind, in column order of ``X``.
    ids
        Subject id per row (PO line id, order line id or customer id).
    as_of
        The time each row's features were computed at (``datetime64[ns]``, UTC-naive); rows
        are split by it (time-based train/validation/test).
    y
        Binary target (0/1 ``int8``), or ``None`` when scoring.
    extra_targets
        Other targets of the same rows, e.g. ``days_late`` (float days) for supplier delay.
    oracle
        The synthetic world's true probability for each row (``None`` for real data). Never a
        feature; used only to compute the oracle AUC.
    """

    task: Task
    X: pd.DataFrame
    features: dict[str, FeatureKind]
    ids: pd.Series
    as_of: pd.Series
    y: pd.Series | None = None
    extra_targets: dict[str, pd.Series] = field(default_factory=dict)
    oracle: pd.Series | None = None

    def __post_init__(self) -> None:
        n = len(self.X)
        if list(self.X.columns) != list(self.features):
            raise ValueError("X columns must match the feature spec, in order")
        for name, series in (("ids", self.ids), ("as_of", self.as_of)):
            if len(series) != n:
                raise ValueError(f"{name} has {len(series)} rows, X has {n}")
        for name, opt in (("y", self.y), ("oracle", self.oracle)):
            if opt is not None and len(opt) != n:
                raise ValueError(f"{name} has {len(opt)} rows, X has {n}")

    def __len__(self) -> int:
        return len(self.X)

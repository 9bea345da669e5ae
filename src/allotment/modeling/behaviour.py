"""Behavioural model checks (directional and invariance), reusable by tests and the gate.

Directional: "a supplier with a worse recent on-time rate never gets a lower delay risk, all
else equal" becomes ``check_directional(model, X, "on_time_rate_90d", direction=-1)``.
Guarantee it (rather than hope for it) with ``monotone_constraints`` in the config: LightGBM
then produces a monotone score, and isotonic or sigmoid calibration preserves monotonicity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DirectionalReport:
    """Result of one directional check.

    ``violations`` counts rows whose risk moved against ``direction`` by more than
    ``tolerance`` (probability units); ``worst`` is the largest such move (0 when none).
    """

    feature: str
    direction: int
    delta: float
    n: int
    violations: int
    worst: float
    mean_change: float

    @property
    def ok(self) -> bool:
        return self.violations == 0


def check_directional(
    model: Any,
    X: pd.DataFrame,
    feature: str,
    direction: int,
    *,
    delta: float | None = None,
    tolerance: float = 1e-9,
) -> DirectionalReport:
    """Raise ``feature`` by ``delta`` on every row and check the risk moves with ``direction``.

    Parameters
    ----------
    model
        Fitted classifier with ``predict_proba``.
    X
        Rows to perturb (feature columns as the model expects).
    feature
        A numeric feature.
    direction
        +1: risk must not decrease when the feature grows; -1: must not increase.
    delta
        Increase of the feature, in its units; default one standard deviation.
    tolerance
        Allowed move against the direction, in probability units.
    """
    if direction not in (-1, 1):
        raise ValueError("direction must be +1 or -1")
    if feature not in X.columns:
        raise ValueError(f"{feature!r} is not a column of X")
    values = X[feature].astype("float64")
    step = float(values.std()) if delta is None else float(delta)
    if not step > 0:
        raise ValueError("delta must be positive")
    shifted = X.copy()
    shifted[feature] = values + step
    before = np.asarray(model.predict_proba(X)[:, 1], dtype=np.float64)
    after = np.asarray(model.predict_proba(shifted)[:, 1], dtype=np.float64)
    against = -direction * (after - before)  # > 0 means it moved the wrong way
    bad = against > tolerance
    return DirectionalReport(
        feature=feature,
        direction=direction,
        delta=step,
        n=len(X),
        violations=int(bad.sum()),
        worst=float(against[bad].max()) if bad.any() else 0.0,
        mean_change=float(np.mean(after - before)),
    )

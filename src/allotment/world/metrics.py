"""Small, dependency-free metrics for the world's sanity checks (no scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def auc(score: npt.ArrayLike, outcome: npt.ArrayLike) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney U), with ties averaged.

    Parameters
    ----------
    score
        Higher means "more likely positive".
    outcome
        Booleans (or 0/1).

    Returns
    -------
    float
        AUC in [0, 1]; ``nan`` when one class is missing.
    """
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(outcome).astype(bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # Average rank for ties: first and last position of each run of equal scores.
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of the run
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def rate(values: npt.NDArray[Any]) -> float:
    """Mean of a boolean array; ``nan`` when empty."""
    return float(np.mean(values)) if len(values) else float("nan")

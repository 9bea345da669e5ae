"""Arrival confidence: ETA P50/P90 of open PO lines from the supplier-delay quantile models.

The supplier-delay champion carries two companion regressors (``days_late_p50`` and
``days_late_p90``, see :func:`allotment.modeling.registry.load_companions`), trained on every
PO line (on time counts as 0 days late or less), so their predictions are unconditional
quantiles of the arrival date relative to the promised date. For a line scored on day ``d``:

``eta_q = promised + max(0, round(q̂))``, floored at ``d + 1`` for a line not yet received by
``d`` (it cannot arrive in the past), and ``eta_p90 >= eta_p50`` (independently fitted quantile
models can cross; the wider bound wins). A floored value is flagged, because the model's
quantile was already overtaken by events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

#: Companion keys of the supplier-delay model, as registered by ``allotment train``.
P50, P90 = "days_late_p50", "days_late_p90"


@dataclass(frozen=True)
class EtaQuantiles:
    """ETA P50/P90 per PO line (day numbers since 1970-01-01, like the feature frames).

    Attributes
    ----------
    ids
        ``purchase_order_lines.id`` per row.
    p50, p90
        ETA day numbers; P90 is never earlier than P50.
    floored
        True where a quantile fell on or before the scoring day and was moved to the next day.
    """

    ids: npt.NDArray[np.int64]
    p50: npt.NDArray[np.int64]
    p90: npt.NDArray[np.int64]
    floored: npt.NDArray[np.bool_]

    def as_frame(self) -> pd.DataFrame:
        """One row per PO line id: ``eta_p50`` and ``eta_p90`` as dates, and ``floored``."""
        epoch = np.datetime64("1970-01-01", "D")
        return pd.DataFrame(
            {
                "eta_p50": (epoch + self.p50.astype("timedelta64[D]")).astype("datetime64[s]"),
                "eta_p90": (epoch + self.p90.astype("timedelta64[D]")).astype("datetime64[s]"),
                "floored": self.floored,
            },
            index=pd.Index(self.ids, name="po_line_id"),
        )


def eta_quantiles(
    X: pd.DataFrame,
    ids: npt.ArrayLike,
    promised_day: npt.ArrayLike,
    scored_day: npt.ArrayLike,
    companions: Mapping[str, Any],
) -> EtaQuantiles | None:
    """ETA P50/P90 of the supplier-delay frame's rows.

    Parameters
    ----------
    X
        The supplier-delay feature matrix (scoring frame), in the model's column order.
    ids
        PO line id per row of ``X``.
    promised_day
        Promised arrival per row (day number).
    scored_day
        The day each row's features are as of (day number).
    companions
        The champion's companion models; must hold ``days_late_p50`` and ``days_late_p90``.

    Returns
    -------
    EtaQuantiles or None
        ``None`` when the champion has no quantile companions (trained without quantiles):
        callers show the ETA as unknown rather than guess.
    """
    if P50 not in companions or P90 not in companions:
        return None
    promised = np.asarray(promised_day, dtype=np.int64)
    today = np.asarray(scored_day, dtype=np.int64)
    q = {
        key: np.rint(np.maximum(np.asarray(companions[key].predict(X), dtype=np.float64), 0.0))
        for key in (P50, P90)
    }
    p50 = promised + q[P50].astype(np.int64)
    p90 = np.maximum(promised + q[P90].astype(np.int64), p50)
    earliest = today + 1  # an open line arrives tomorrow at the earliest
    floored = (p50 < earliest) | (p90 < earliest)
    return EtaQuantiles(
        ids=np.asarray(ids, dtype=np.int64),
        p50=np.maximum(p50, earliest),
        p90=np.maximum(p90, earliest),
        floored=floored,
    )

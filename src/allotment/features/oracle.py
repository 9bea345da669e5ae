"""The synthetic world's true probabilities, attached to training frames for the oracle AUC.

This is the only place features touch a ``sim_*`` table. The truths are never features: they
go to :attr:`TaskFrame.oracle`, aligned to rows by ``(kind, subject_id, as_of day)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Connection, String, select, type_coerce

from allotment.domain.models import SimTruth
from allotment.features.frame import Task


def load_truths(conn: Connection) -> pd.DataFrame:
    """All recorded truths: ``kind``, ``subject_id``, ``as_of_day`` (int day), ``probability``."""
    from allotment.features.tables import _day, read_frame  # local: tables imports this module

    return read_frame(
        conn,
        select(
            type_coerce(SimTruth.kind, String()).label("kind"),
            SimTruth.subject_id,
            SimTruth.probability,
            _day(conn, SimTruth.as_of, "as_of_day"),
        ),
        days=("as_of_day",),
    )


def oracle_for(
    truths: pd.DataFrame, task: Task, subject_ids: np.ndarray, as_of_days: np.ndarray
) -> pd.Series | None:
    """The true probability of each (subject, as-of day) row; NaN where none was recorded.

    Returns ``None`` when the database holds no truths for ``task`` (real data).
    """
    mine = truths[truths["kind"] == task.value]
    if mine.empty:
        return None
    rows = pd.DataFrame(
        {"subject_id": np.asarray(subject_ids, np.int64), "as_of_day": as_of_days.astype(np.int64)}
    )
    keyed = mine.drop_duplicates(["subject_id", "as_of_day"]).astype(
        {"subject_id": np.int64, "as_of_day": np.int64}
    )
    merged = rows.merge(keyed, on=["subject_id", "as_of_day"], how="left")
    return pd.Series(merged["probability"].to_numpy(np.float64), name="oracle")

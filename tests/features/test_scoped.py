"""Scoring frames for some subjects only: the same rows and values as the full frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from allotment.domain.models import (
    ACTIVE_BACKORDER_STATUSES,
    Backorder,
    CustomerOrder,
    CustomerOrderLine,
)
from allotment.features import Tables, Task, TaskFrame, load_tables, scoring_frame
from allotment.features.build import training_frame
from allotment.features.tables import day_to_timestamp
from tests.features.conftest import generate_tiny


def _table(frame: TaskFrame) -> pd.DataFrame:
    return frame.X.assign(_id=frame.ids, _as_of=frame.as_of)


def _subjects(frame: TaskFrame, n: int, seed: int) -> np.ndarray:
    ids = np.unique(frame.ids.to_numpy(np.int64))
    return np.random.default_rng(seed).choice(ids, size=min(n, len(ids)), replace=False)


@pytest.mark.parametrize("task", list(Task))
def test_subjects_keep_the_rows_and_values_of_the_full_frame(
    tiny_tables: Tables, task: Task
) -> None:
    full = scoring_frame(task, tiny_tables)
    subjects = _subjects(full, 7, seed=3)
    got = _table(scoring_frame(task, tiny_tables, subjects=[*subjects.tolist(), None]))
    expected = _table(full)[full.ids.isin(subjects).to_numpy()].reset_index(drop=True)
    assert len(got) >= len(subjects)
    pd.testing.assert_frame_equal(got, expected)


def test_the_facts_of_one_backorder_give_it_the_features_of_a_full_read(
    engine: Engine,
) -> None:
    generate_tiny(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                Backorder.id,
                Backorder.order_line_id,
                Backorder.po_line_id,
                CustomerOrder.customer_id,
            )
            .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
            .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
            .where(
                Backorder.status.in_(ACTIVE_BACKORDER_STATUSES), Backorder.po_line_id.is_not(None)
            )
            .order_by(Backorder.id)
        ).all()
    full = load_tables(engine)
    for row in rows[:: max(1, len(rows) // 6)]:
        scoped = load_tables(engine, backorders=[row.id], truths=False)
        assert len(scoped.order_lines) < len(full.order_lines)  # it did read less
        assert scoped.data_end == full.data_end
        for task, subject in (
            (Task.SLA_BREACH, row.order_line_id),
            (Task.SUPPLIER_DELAY, row.po_line_id),
            (Task.CHURN, row.customer_id),
        ):
            expected = _table(scoring_frame(task, full, subjects=[subject]))
            assert len(expected) > 0
            got = _table(scoring_frame(task, scoped, subjects=[subject]))
            pd.testing.assert_frame_equal(got, expected)


def test_tables_read_without_truths_build_no_training_frame(engine: Engine) -> None:
    generate_tiny(engine)
    with pytest.raises(ValueError, match="truths=False"):
        training_frame(Task.CHURN, load_tables(engine, truths=False))


def test_scoped_facts_at_an_earlier_day_give_the_features_of_a_full_read(engine: Engine) -> None:
    """The market-wide rates of a scoped read are bounded by the as-of day it is given."""
    generate_tiny(engine)
    full = load_tables(engine)
    day = full.data_end - 45
    at = day_to_timestamp(np.array([day]))[0]
    sla = scoring_frame(Task.SLA_BREACH, full, as_of=at)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Backorder.id, Backorder.order_line_id, Backorder.po_line_id)
            .where(Backorder.order_line_id.in_(sla.ids.tolist()), Backorder.po_line_id.is_not(None))
            .order_by(Backorder.id)
        ).all()
    assert rows
    compared = 0
    for row in rows[:: max(1, len(rows) // 5)]:
        scoped = load_tables(engine, backorders=[row.id], truths=False, as_of_day=day)
        assert len(scoped.po_lines) <= len(full.po_lines)
        for task, subject in (
            (Task.SLA_BREACH, row.order_line_id),
            (Task.SUPPLIER_DELAY, row.po_line_id),
        ):
            expected = _table(scoring_frame(task, full, as_of=at, subjects=[subject]))
            got = _table(scoring_frame(task, scoped, as_of=at, subjects=[subject]))
            pd.testing.assert_frame_equal(got, expected)
            compared += len(expected)
    assert compared > 0

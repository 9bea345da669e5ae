"""Out-of-order ETA updates: any arrival order ends in the state of the in-order run."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain.models import Backorder, PurchaseOrderLine
from allotment.events import service
from tests.events.helpers import T0, event, po_ref, small

ETAS = st.lists(st.integers(min_value=-10, max_value=60), min_size=2, max_size=6)


def _state(session: Session, world: Any) -> tuple[Any, ...]:
    line = session.get(PurchaseOrderLine, world.po_line.id)
    assert line is not None
    backorders = session.execute(
        select(Backorder.order_line_id, Backorder.status, Backorder.expected_fulfillment_date)
        .where(Backorder.po_line_id == line.id)
        .order_by(Backorder.order_line_id)
    ).all()
    # Order lines are new rows per world: compare by position (early, late).
    return (line.current_eta, [(s, d) for _, s, d in backorders])


def _run(session: Session, offsets: list[int], order: list[int]) -> tuple[Any, ...]:
    w = small(session)
    service.ingest(
        session, [event("po_delayed", **po_ref(w), new_eta="2025-02-01", at=T0)], actor="erp"
    )
    updates = [
        event(
            "eta_updated",
            **po_ref(w),
            eta=(date(2025, 2, 1) + timedelta(days=d)).isoformat(),
            at=T0 + timedelta(hours=k + 1),
        )
        for k, d in enumerate(offsets)
    ]
    result = service.ingest(session, [updates[k] for k in order], actor="erp")
    session.commit()
    # An update is stale exactly when a newer one came before it.
    for position, k in enumerate(order):
        came_before = order[:position]
        expected = "stale" if any(j > k for j in came_before) else "applied"
        assert result.outcomes[position].status == expected, (order, position)
    return _state(session, w)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(offsets=ETAS, data=st.data())
def test_any_arrival_order_ends_in_the_in_order_state(
    session: Session, offsets: list[int], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(offsets))))
    in_order = _run(session, offsets, list(range(len(offsets))))
    shuffled = _run(session, offsets, list(order))
    assert shuffled == in_order
    assert shuffled[0] == date(2025, 2, 1) + timedelta(days=offsets[-1])

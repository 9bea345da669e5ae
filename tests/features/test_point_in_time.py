"""No feature reads data after its as-of day.

The strong check: build every frame as of day ``T`` on the full tiny world, then delete every
fact dated after ``T`` and scramble every current-state column (statuses, received and shipped
totals, current ETAs, inventory, churn dates after ``T``, contract end and renewal dates), and
build again: every feature value must be identical. Plus a hand-made case that fails if one
future receipt leaks into a supplier's on-time rate.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import Connection, Engine, bindparam, delete, select, update
from sqlalchemy.orm import Session

from allotment.domain.models import (
    Backorder,
    BackorderStatusChange,
    Contract,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    EtaChange,
    InventoryPosition,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    Shipment,
)
from allotment.features import BUILDERS, Task, TaskFrame, load_tables, supplier_delay_frame
from tests import factories
from tests.features.conftest import generate_tiny

T = date(2025, 1, 20)  # tiny runs 2024-11-01 .. 2025-02-28; its supply crunch starts 2025-01-30
T_NEXT = datetime.combine(T + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def _frames(engine: Engine) -> dict[str, TaskFrame]:
    tables = load_tables(engine)
    out: dict[str, TaskFrame] = {}
    for task, build in BUILDERS.items():
        out[f"{task.value}:score"] = build(tables, as_of=T)
        out[f"{task.value}:train"] = build(tables, labels=False)
    return out


def _up_to_t(frame: TaskFrame) -> pd.DataFrame:
    """Ids, as-of days and features of the rows as of ``T`` or earlier, in a canonical order."""
    table = frame.X.assign(_id=frame.ids, _as_of=frame.as_of)
    table = table[table["_as_of"] <= pd.Timestamp(T)]
    return table.sort_values(["_as_of", "_id"]).reset_index(drop=True)


def _delete_future(conn: Connection) -> None:
    """Delete every fact dated after ``T`` (children first)."""
    late_orders = select(CustomerOrder.id).where(CustomerOrder.ordered_on > T)
    late_lines = select(CustomerOrderLine.id).where(CustomerOrderLine.order_id.in_(late_orders))
    late_pos = select(PurchaseOrder.id).where(PurchaseOrder.ordered_on > T)
    late_po_lines = select(PurchaseOrderLine.id).where(
        PurchaseOrderLine.purchase_order_id.in_(late_pos)
    )
    late_bos = select(Backorder.id).where(
        (Backorder.created_at >= T_NEXT) | Backorder.order_line_id.in_(late_lines)
    )
    conn.execute(
        delete(BackorderStatusChange).where(
            (BackorderStatusChange.changed_at >= T_NEXT)
            | BackorderStatusChange.backorder_id.in_(late_bos)
        )
    )
    conn.execute(delete(Backorder).where(Backorder.id.in_(late_bos)))
    conn.execute(
        delete(Shipment).where((Shipment.shipped_on > T) | Shipment.order_line_id.in_(late_lines))
    )
    conn.execute(delete(CustomerOrderLine).where(CustomerOrderLine.id.in_(late_lines)))
    conn.execute(delete(CustomerOrder).where(CustomerOrder.ordered_on > T))
    conn.execute(
        update(CustomerOrderLine)
        .where(CustomerOrderLine.po_line_id.in_(late_po_lines))
        .values(po_line_id=None)
    )
    conn.execute(
        update(Backorder).where(Backorder.po_line_id.in_(late_po_lines)).values(po_line_id=None)
    )
    conn.execute(
        delete(EtaChange).where(
            (EtaChange.recorded_at >= T_NEXT) | EtaChange.po_line_id.in_(late_po_lines)
        )
    )
    conn.execute(
        delete(Receipt).where((Receipt.received_on > T) | Receipt.po_line_id.in_(late_po_lines))
    )
    conn.execute(delete(PurchaseOrderLine).where(PurchaseOrderLine.id.in_(late_po_lines)))
    conn.execute(delete(PurchaseOrder).where(PurchaseOrder.ordered_on > T))
    conn.execute(delete(Contract).where(Contract.effective_from > T))
    conn.execute(
        update(Customer).where(Customer.churned_on > T).values(churned_on=None, status="active")
    )


def _scramble_current_state(conn: Connection) -> None:
    """Overwrite every current-state column with nonsense that a leaking feature would see."""
    conn.execute(
        update(PurchaseOrderLine)
        .where(PurchaseOrderLine.status != "cancelled")
        .values(status="open", received_quantity=0, received_on=None, current_eta=date(2099, 1, 1))
    )
    conn.execute(update(PurchaseOrder).values(status="open"))
    conn.execute(
        update(CustomerOrderLine).values(shipped_quantity=0, shipped_on=None, status="open")
    )
    conn.execute(update(CustomerOrder).values(status="open"))
    conn.execute(
        update(Backorder).values(
            status="escalated",
            open_quantity=Backorder.quantity,
            expected_fulfillment_date=None,
            priority=None,
            closed_at=None,
        )
    )
    conn.execute(update(InventoryPosition).values(on_hand=12_345, committed=0))
    conn.execute(update(Customer).values(lifetime_value=0))
    # Contract end dates are written later; renewal dates roll forward a year in place.
    rows = conn.execute(select(Contract.id, Contract.renewal_date)).all()
    conn.execute(
        update(Contract)
        .where(Contract.id == bindparam("cid"))
        .values(effective_to=None, renewal_date=bindparam("renewal")),
        [{"cid": i, "renewal": r + timedelta(days=365)} for i, r in rows],
    )


def test_features_as_of_t_do_not_change_when_every_later_fact_is_removed(engine: Engine) -> None:
    generate_tiny(engine)
    before = _frames(engine)
    with engine.begin() as conn:
        _delete_future(conn)
        _scramble_current_state(conn)
    after = _frames(engine)
    for name, frame in before.items():
        expected, got = _up_to_t(frame), _up_to_t(after[name])
        assert len(expected) > 0, name
        if name.endswith(":train"):
            assert len(after[name]) < len(frame), f"{name}: nothing after T was deleted"
        pd.testing.assert_frame_equal(got, expected, obj=name)


# --- a hand-made leak detector -------------------------------------------------------------


def _supplier_with_history(session: Session) -> tuple[int, int]:
    """A supplier with one on-time and one late delivery before 1 Feb 2025, and an open line.

    Returns the supplier id and the id of a line promised after ``AS_OF`` (still open then).
    """
    sup = factories.supplier(session)
    loc = factories.location(session)

    def line(promised: date, received: date | None) -> PurchaseOrderLine:
        made = factories.po_line(
            session, supplier_id=sup.id, location_id=loc.id, promised_date=promised
        )
        if received is not None:
            session.add(Receipt(po_line_id=made.id, received_on=received, quantity=made.quantity))
        session.flush()
        return made

    line(date(2025, 1, 10), date(2025, 1, 8))  # on time
    line(date(2025, 1, 10), date(2025, 1, 15))  # 5 days late
    open_line = line(date(2025, 2, 10), None)
    session.commit()
    return sup.id, open_line.id


AS_OF = date(2025, 2, 1)


def _rate(session: Session, line_id: int) -> tuple[float, float]:
    frame = supplier_delay_frame(session.connection(), as_of=AS_OF)
    row = frame.X[frame.ids == line_id].iloc[0]
    return float(row["sup_ontime_rate_90d"]), float(row["sup_mean_days_late_90d"])


@pytest.mark.parametrize("received", [date(2025, 2, 2), date(2025, 3, 1)])
def test_a_receipt_after_the_as_of_day_does_not_reach_the_supplier_rate(
    session: Session, received: date
) -> None:
    sup_id, open_id = _supplier_with_history(session)
    assert _rate(session, open_id) == (0.5, 2.5)  # by hand: 1 of 2 on time; (0 + 5) / 2 days
    # An on-time delivery recorded after AS_OF: if it leaked, the rate would be 2/3.
    future = factories.po_line(session, supplier_id=sup_id, promised_date=date(2025, 2, 5))
    session.add(Receipt(po_line_id=future.id, received_on=received, quantity=future.quantity))
    session.commit()
    assert _rate(session, open_id) == (0.5, 2.5)


def test_the_same_receipt_on_or_before_the_as_of_day_does_count(session: Session) -> None:
    sup_id, open_id = _supplier_with_history(session)
    past = factories.po_line(session, supplier_id=sup_id, promised_date=date(2025, 2, 5))
    session.add(Receipt(po_line_id=past.id, received_on=AS_OF, quantity=past.quantity))
    session.commit()
    rate, late = _rate(session, open_id)
    assert rate == pytest.approx(2 / 3) and late == pytest.approx(5 / 3)


def test_a_po_line_past_its_promise_and_not_received_counts_late_from_the_next_day(
    session: Session,
) -> None:
    sup_id, open_id = _supplier_with_history(session)
    factories.po_line(session, supplier_id=sup_id, promised_date=date(2025, 1, 31))
    session.commit()
    assert _rate(session, open_id)[0] == pytest.approx(1 / 3)  # known late on 1 Feb
    frame = supplier_delay_frame(session.connection(), as_of=date(2025, 1, 31))
    row = frame.X[frame.ids == open_id].iloc[0]
    assert row["sup_ontime_rate_90d"] == 0.5  # on its promised day it may still arrive
    assert row["sup_overdue_open_lines"] == 0
    row = supplier_delay_frame(session.connection(), as_of=AS_OF).X.iloc[0]
    assert row["sup_overdue_open_lines"] == 1
    assert _rate(session, open_id)[0] == pytest.approx(1 / 3)
    early = supplier_delay_frame(session.connection(), as_of=date(2025, 1, 5))
    assert early.X["sup_ontime_rate_90d"].isna().all()  # no outcome known yet: NaN


def test_task_enum_covers_every_builder() -> None:
    assert set(BUILDERS) == set(Task)


@pytest.mark.parametrize(
    ("recorded", "expected"), [(date(2025, 1, 25), 1 / 3), (date(2025, 2, 3), 0.5)]
)
def test_an_eta_past_the_promise_shows_the_line_late_from_the_day_it_was_recorded(
    session: Session, recorded: date, expected: float
) -> None:
    sup_id, open_id = _supplier_with_history(session)
    slipping = factories.po_line(session, supplier_id=sup_id, promised_date=date(2025, 2, 5))
    session.add(
        EtaChange(
            po_line_id=slipping.id,
            recorded_at=datetime.combine(recorded, datetime.min.time(), tzinfo=UTC)
            + timedelta(hours=6),
            previous_eta=date(2025, 2, 5),
            new_eta=date(2025, 2, 12),
        )
    )
    session.commit()
    frame = supplier_delay_frame(session.connection(), as_of=AS_OF)
    row = frame.X[frame.ids == open_id].iloc[0]
    assert row["sup_ontime_rate_30d"] == pytest.approx(expected)
    assert row["sup_eta_slips_30d"] == (1 if recorded <= AS_OF else 0)

"""Event effects and the ingestion rules, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from allotment.domain.enums import BackorderStatus, OrderStatus, PurchaseOrderStatus, Tier
from allotment.domain.models import (
    AuditRecord,
    Backorder,
    Contract,
    CustomerOrder,
    IngestedEvent,
    InventoryPosition,
    PurchaseOrderLine,
    RescoreQueue,
    ScoreSnapshot,
)
from allotment.events import service
from allotment.events.errors import EventPayloadMismatchError
from tests import factories
from tests.dumps import dump_tables
from tests.events.helpers import T0, event, po_ref, small
from tests.events.stream import CANONICAL

ACTOR = "erp"


def _ingest(session: Session, *events: object) -> service.IngestResult:
    result = service.ingest(session, list(events), actor=ACTOR)  # type: ignore[arg-type]
    session.commit()
    return result


def _backorders(session: Session) -> list[Backorder]:
    return list(session.scalars(select(Backorder).order_by(Backorder.id)))


def test_po_delay_backorders_the_lines_it_makes_late(session: Session) -> None:
    w = small(session)
    result = _ingest(session, event("po_delayed", **po_ref(w), new_eta="2025-02-01"))
    (outcome,) = result.outcomes
    assert outcome.status == "applied"
    (bo,) = _backorders(session)
    assert bo.order_line_id == w.early.id  # promised 01-27 < ETA 02-01; 02-10 still in time
    assert bo.expected_fulfillment_date == date(2025, 2, 1)
    assert bo.created_at == T0 + (bo.created_at - T0)  # the event's time, not the clock
    assert outcome.touched["backorders_created"] == [bo.id]
    assert outcome.touched["value_at_risk"] == "5000.00"
    assert result.rescore_queued == 1


def test_backorder_timestamps_are_the_events_occurred_at(session: Session) -> None:
    w = small(session)
    ev = event("po_delayed", **po_ref(w), new_eta="2025-02-01")
    _ingest(session, ev)
    (bo,) = _backorders(session)
    assert bo.created_at == ev.occurred_at


def test_eta_update_moves_waiting_backorders_and_creates_none(session: Session) -> None:
    w = small(session)
    _ingest(session, event("po_delayed", **po_ref(w), new_eta="2025-02-01"))
    result = _ingest(session, event("eta_updated", **po_ref(w), eta="2025-02-20"))
    (bo,) = _backorders(session)  # the 02-10 line is now late too, but an ETA update opens none
    assert bo.status is BackorderStatus.ETA_UPDATED
    assert bo.expected_fulfillment_date == date(2025, 2, 20)
    session.refresh(w.po_line)
    assert w.po_line.current_eta == date(2025, 2, 20)
    assert result.outcomes[0].touched["backorders_updated"] == [bo.id]


def test_partial_receipt_partially_resolves_and_the_rest_resolves(session: Session) -> None:
    w = small(session)
    _ingest(session, event("po_delayed", **po_ref(w), new_eta="2025-02-20"))  # both lines late
    first, second = _backorders(session)
    _ingest(session, event("goods_received", **po_ref(w), quantity=15))
    session.refresh(first)
    session.refresh(second)
    # Earliest promise first: the 01-27 line gets all 10, the 02-10 line the other 5.
    assert (first.status, first.open_quantity) == (BackorderStatus.RESOLVED, 0)
    assert (second.status, second.open_quantity) == (BackorderStatus.PARTIALLY_RESOLVED, 5)
    _ingest(session, event("goods_received", **po_ref(w), quantity=85))
    session.refresh(second)
    session.refresh(w.po_line)
    assert (second.status, second.open_quantity) == (BackorderStatus.RESOLVED, 0)
    assert w.po_line.status is PurchaseOrderStatus.RECEIVED
    position = session.scalars(select(InventoryPosition)).one()
    assert (position.on_hand, position.committed) == (100, 20)


def test_order_created_prices_lines_at_list_unless_given(session: Session) -> None:
    w = small(session)
    result = _ingest(
        session,
        event(
            "order_created",
            order_number="SO-NEW-1",
            customer_code=w.customer.code,
            location_code=w.location.code,
            ordered_on="2025-01-20",
            requested_date="2025-01-30",
            promised_date="2025-02-01",
            lines=[
                {"line_no": 1, "sku": w.product.sku, "quantity": 3},
                {"line_no": 2, "sku": w.product.sku, "quantity": 4, "unit_price": "450.00"},
            ],
        ),
    )
    assert result.outcomes[0].status == "applied"
    order = session.scalars(select(CustomerOrder).where(CustomerOrder.number == "SO-NEW-1")).one()
    assert [(ln.quantity, str(ln.unit_price)) for ln in order.lines] == [
        (3, "500.00"),
        (4, "450.00"),
    ]


def test_order_cancelled_cancels_its_lines_and_backorders(session: Session) -> None:
    w = small(session)
    _ingest(session, event("po_delayed", **po_ref(w), new_eta="2025-02-01"))
    order = session.get(CustomerOrder, w.early.order_id)
    assert order is not None
    result = _ingest(session, event("order_cancelled", order_number=order.number))
    (bo,) = _backorders(session)
    session.refresh(order)
    assert bo.status is BackorderStatus.CANCELLED
    assert order.status is OrderStatus.CANCELLED
    assert result.outcomes[0].touched["backorders_cancelled"] == [bo.id]


def test_contract_change_makes_a_version_and_reprioritizes_the_customers_backorders(
    session: Session,
) -> None:
    w = small(session)
    _ingest(session, event("po_delayed", **po_ref(w), new_eta="2025-02-20"))
    session.execute(RescoreQueue.__table__.delete())
    session.commit()
    result = _ingest(
        session,
        event(
            "contract_changed",
            customer_code=w.customer.code,
            effective_from="2025-02-01",
            tier="vip",
            penalty_rate_per_day=0.02,
        ),
    )
    contracts = list(session.scalars(select(Contract).order_by(Contract.version)))
    assert [c.version for c in contracts] == [1, 2]
    assert contracts[0].effective_to == date(2025, 1, 31)
    assert contracts[1].penalty_rate_per_day == 0.02
    assert contracts[1].sla_days == contracts[0].sla_days  # carried over
    session.refresh(w.customer)
    assert w.customer.tier is Tier.VIP
    queued = set(session.scalars(select(RescoreQueue.backorder_id)))
    assert queued == {b.id for b in _backorders(session)}
    assert result.outcomes[0].touched["backorders_reprioritized"] == sorted(queued)


def test_inventory_adjustment_by_delta_and_by_count(session: Session) -> None:
    w = small(session)
    ref = {"sku": w.product.sku, "location_code": w.location.code}
    _ingest(session, event("inventory_adjusted", **ref, delta=7))
    _ingest(session, event("inventory_adjusted", **ref, delta=-2))
    assert session.scalars(select(InventoryPosition.on_hand)).one() == 5
    _ingest(session, event("inventory_adjusted", **ref, on_hand=40))
    assert session.scalars(select(InventoryPosition.on_hand)).one() == 40


def test_an_older_eta_is_stale_and_changes_nothing(session: Session, engine: Engine) -> None:
    w = small(session)
    newer = event("eta_updated", **po_ref(w), eta="2025-03-01", at=T0 + timedelta(hours=2))
    older = event("eta_updated", **po_ref(w), eta="2025-02-05", at=T0 + timedelta(hours=1))
    _ingest(session, newer)
    before = dump_tables(engine)
    before.pop("events")
    result = _ingest(session, older)
    assert result.outcomes[0].status == "stale"
    after = dump_tables(engine)
    after.pop("events")
    assert after == before
    session.refresh(w.po_line)
    assert w.po_line.current_eta == date(2025, 3, 1)
    stored = session.scalars(
        select(IngestedEvent.status).where(IngestedEvent.event_id == older.event_id)
    ).one()
    assert stored == "stale"


def test_a_repeated_id_returns_the_first_result_and_changes_nothing(
    session: Session, engine: Engine
) -> None:
    w = small(session)
    ev = event("po_delayed", **po_ref(w), new_eta="2025-02-01")
    first = _ingest(session, ev).outcomes[0]
    before = dump_tables(engine)
    again = _ingest(session, ev).outcomes[0]
    assert dump_tables(engine) == before
    assert (again.status, again.first_status) == ("duplicate", "applied")
    assert again.touched == first.touched


def test_a_repeated_id_within_one_batch_applies_once(session: Session) -> None:
    w = small(session)
    ev = event("inventory_adjusted", sku=w.product.sku, location_code=w.location.code, delta=5)
    result = _ingest(session, ev, ev)
    assert [o.status for o in result.outcomes] == ["applied", "duplicate"]
    assert session.scalars(select(InventoryPosition.on_hand)).one() == 5


def test_a_known_id_with_another_payload_is_refused_naming_the_field(
    session: Session, engine: Engine
) -> None:
    w = small(session)
    _ingest(session, event("po_delayed", event_id="e-1", **po_ref(w), new_eta="2025-02-01"))
    before = dump_tables(engine)
    ok = event("inventory_adjusted", sku=w.product.sku, location_code=w.location.code, delta=1)
    changed = event("po_delayed", event_id="e-1", **po_ref(w), new_eta="2025-02-02")
    with pytest.raises(EventPayloadMismatchError) as caught:
        service.ingest(session, [ok, changed], actor=ACTOR)
    session.rollback()
    assert caught.value.details["field"] == "events.1.new_eta"
    assert dump_tables(engine) == before  # the good event of that batch is not applied either


def test_a_poison_event_is_parked_and_the_batch_goes_on(session: Session) -> None:
    w = small(session)
    ref = {"sku": w.product.sku, "location_code": w.location.code}
    result = _ingest(
        session,
        event("inventory_adjusted", **ref, delta=3),
        event("goods_received", **po_ref(w), quantity=101),  # more than the line expects
        event("eta_updated", po_number="PO-NOPE", line_no=1, eta="2025-02-01"),
        event("inventory_adjusted", **ref, delta=4),
    )
    assert [o.status for o in result.outcomes] == ["applied", "parked", "parked", "applied"]
    assert result.outcomes[1].error is not None
    assert result.outcomes[1].error.startswith("PurchaseOrderLineStateError: ")
    assert "PO-NOPE" in (result.outcomes[2].error or "")
    assert session.scalars(select(InventoryPosition.on_hand)).one() == 7
    session.refresh(w.po_line)
    assert w.po_line.received_quantity == 0  # the parked receipt left nothing behind
    parked = session.scalars(select(IngestedEvent).where(IngestedEvent.status == "parked")).all()
    assert len(parked) == 2 and all(p.error for p in parked)


def test_a_batch_with_applied_events_ends_its_audit_records_with_one_summary(
    session: Session,
) -> None:
    w = small(session)
    delay = event("po_delayed", **po_ref(w), new_eta="2025-02-01")
    _ingest(session, delay, event("eta_updated", po_number="PO-NOPE", line_no=1, eta="2025-02-01"))
    *changes, record = session.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
    # The delay's changes (the ETA, one backorder), then the batch.
    assert [c.action for c in changes] == ["po_line.eta_changed", "backorder.created"]
    assert {c.reason for c in changes} == {f"event po_delayed {delay.event_id}"}
    assert (record.action, record.actor) == ("events.applied", ACTOR)
    assert record.after is not None
    assert record.after["applied"] == {"po_delayed": [delay.event_id]}  # not the parked one
    assert record.after["backorders_queued"] == [b.id for b in _backorders(session)]


def test_drain_rescores_what_the_events_touched(session: Session, engine: Engine) -> None:
    w = small(session)
    _ingest(session, event("po_delayed", **po_ref(w), new_eta="2025-02-20"))
    ids = {b.id for b in _backorders(session)}
    session.commit()  # a SQLite session holds the write lock until it ends
    drained = service.drain(engine)
    assert drained.scored == len(ids) == 2
    assert drained.left == 0
    # The drain wrote through its own sessions; this one (expire_on_commit=False) may still
    # hold the backorders as loaded before it, depending on when they were garbage collected.
    session.expire_all()
    scored = set(session.scalars(select(ScoreSnapshot.backorder_id)))
    assert scored == ids
    assert session.scalar(select(func.count()).select_from(RescoreQueue)) == 0
    assert all(b.priority is not None for b in _backorders(session))


def test_stale_and_parked_events_queue_nothing(session: Session) -> None:
    w = small(session)
    _ingest(session, event("eta_updated", **po_ref(w), eta="2025-03-01", at=T0))
    result = _ingest(
        session,
        event("po_delayed", **po_ref(w), new_eta="2025-02-01", at=T0 - timedelta(days=1)),
    )
    assert result.outcomes[0].status == "stale"
    assert result.rescore_queued == 0
    assert session.scalars(select(PurchaseOrderLine.current_eta)).one() == date(2025, 3, 1)


def _state(session: Session) -> dict[str, list[tuple[object, ...]]]:
    """What events change, by natural keys, seen through the session's own transaction."""
    skip = {"events", "audit"}
    return {
        name: sorted((tuple(r) for r in session.execute(text(sql))), key=repr)
        for name, sql in CANONICAL.items()
        if name not in skip
    }


def per_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ingestion take the per-event path (one savepoint segment, redone on a failure)."""
    monkeypatch.setattr(service.set_wise, "apply", lambda *_a, **_k: None)


@pytest.mark.parametrize("path", ["set_wise", "per_event"])
def test_a_poison_event_that_wrote_before_failing_leaves_the_rest_as_a_clean_run(
    session: Session, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    if path == "per_event":
        per_event(monkeypatch)
    w = small(session)
    elsewhere = factories.location(session)
    session.commit()
    good = [
        event("po_delayed", **po_ref(w), new_eta="2025-02-01"),
        # Two ETAs in time order: redone after the rollback, the later one must not make the
        # earlier look stale.
        event("eta_updated", **po_ref(w), eta="2025-02-03"),
        event("eta_updated", **po_ref(w), eta="2025-02-04"),
        event("goods_received", **po_ref(w), quantity=5),
        event("inventory_adjusted", sku=w.product.sku, location_code=w.location.code, delta=3),
    ]
    # Per event: adds a stock position, then fails (negative stock): its segment is rolled
    # back and redone. Set-wise: refused before it changes anything.
    dirty = event("inventory_adjusted", sku=w.product.sku, location_code=elsewhere.code, delta=-5)
    clean = event("eta_updated", po_number="PO-NOPE", line_no=1, eta="2025-02-01")
    redone: list[int] = []
    real_redo = service._redo
    monkeypatch.setattr(service, "_redo", lambda *a, **k: redone.append(1) or real_redo(*a, **k))

    result = service.ingest(session, [*good[:3], dirty, clean, *good[3:]], actor=ACTOR)
    assert [o.status for o in result.outcomes] == ["applied"] * 3 + ["parked"] * 2 + ["applied"] * 2
    assert (result.outcomes[3].error or "").startswith("InventoryAdjustmentError: ")
    assert bool(redone) == (path == "per_event")  # the per-event fallback ran
    with_poison = _state(session)
    session.rollback()

    # Ids the database assigns differ (PostgreSQL keeps sequence values a rollback took).
    alone = service.ingest(session, good, actor=ACTOR)
    assert [o.status for o in alone.outcomes] == ["applied"] * 5
    assert _state(session) == with_poison
    assert with_poison["backorders"] and with_poison["receipts"]


def test_eta_changes_tell_the_customer_once_per_event(session: Session) -> None:
    from allotment.domain.models import Notification

    w = small(session)
    delay = event("po_delayed", **po_ref(w), new_eta="2025-02-01")
    update = event("eta_updated", **po_ref(w), eta="2025-02-20")
    _ingest(session, delay)
    _ingest(session, update)
    _ingest(session, update)  # re-sent: a duplicate applies nothing, tells nobody again
    messages = session.scalars(
        select(Notification).where(Notification.kind == "customer_eta_change")
    ).all()
    bodies = sorted(m.body for m in messages)
    assert len(bodies) == 2
    assert "to 2025-02-01" in bodies[0] or "to 2025-02-01" in bodies[1]
    assert any("from 2025-02-01 to 2025-02-20" in b for b in bodies)
    (recipient,) = {m.recipient for m in messages}  # the one affected customer
    assert recipient.startswith("customer:")

"""Every state change an event makes has its own hash-chained audit record, on both paths."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment import audit
from allotment.audit.canonical import normalize
from allotment.domain import contracts as contract_rules
from allotment.domain.models import (
    AuditRecord,
    Backorder,
    BackorderStatusChange,
    Contract,
    CustomerOrder,
    EtaChange,
)
from allotment.events import batch, service
from allotment.policy.service import active_policy
from tests.audit.lift import append_only_lifted
from tests.events.helpers import event, po_ref, small

ACTOR = "erp-connector"


@pytest.fixture(params=["set-wise", "per-event"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "per-event":
        monkeypatch.setattr(batch, "apply", lambda *_a, **_k: None)
    return str(request.param)


def _ingest(session: Session, *events: Any) -> service.IngestResult:
    result = service.ingest(session, list(events), actor=ACTOR, role="integration")
    session.commit()
    return result


def _records(session: Session, action: str | None = None) -> list[AuditRecord]:
    stmt = select(AuditRecord).order_by(AuditRecord.id)
    if action is not None:
        stmt = stmt.where(AuditRecord.action == action)
    return list(session.scalars(stmt))


def test_each_state_change_of_an_event_has_its_record(session: Session, path: str) -> None:
    w = small(session)
    first = event("po_delayed", **po_ref(w), new_eta="2025-02-01")
    _ingest(session, first)
    (created,) = _records(session, "backorder.created")
    (bo,) = session.scalars(select(Backorder)).all()
    assert (created.entity_type, created.entity_id, created.before) == (
        "backorder",
        str(bo.id),
        None,
    )
    assert created.after is not None
    assert created.after["status"] == "open" and created.after["quantity"] == 10
    assert created.after["expected_fulfillment_date"] == "2025-02-01"
    assert (created.actor, created.role) == (ACTOR, "integration")
    assert created.reason == f"event po_delayed {first.event_id}"
    (eta,) = _records(session, "po_line.eta_changed")
    assert (eta.entity_type, eta.entity_id) == ("po_line", str(w.po_line.id))
    assert eta.after == {"eta": "2025-02-01"}

    # A second delay: the backorder moves to eta_updated, the later line is backordered too.
    second = event("po_delayed", **po_ref(w), new_eta="2025-02-20")
    delay_after = _records(session)[-1].id
    _ingest(session, second)
    moved = [r for r in _records(session, "backorder.transitioned") if r.id > delay_after]
    assert [(r.entity_id, r.before, r.after) for r in moved] == [
        (
            str(bo.id),
            {"status": "open", "expected_fulfillment_date": "2025-02-01"},
            {"status": "eta_updated", "expected_fulfillment_date": "2025-02-20"},
        )
    ]
    assert len(_records(session, "backorder.created")) == 2
    assert [r.before for r in _records(session, "po_line.eta_changed")][1] == {"eta": "2025-02-01"}

    # Goods resolve what they serve; each resolution is its own record.
    receipt = event("goods_received", **po_ref(w), quantity=15)
    result = _ingest(session, receipt)
    served = result.outcomes[0].touched["backorders"]
    resolved = [
        r for r in _records(session) if r.reason == f"event goods_received {receipt.event_id}"
    ]
    assert sorted(
        (r.entity_id, r.after["status"])
        for r in resolved
        if r.after and r.action == "backorder.transitioned"
    ) == sorted((str(f["id"]), f["status"]) for f in served)
    assert resolved[0].action == "po_line.goods_received"
    assert {r.action for r in resolved} == {"po_line.goods_received", "backorder.transitioned"}

    # Cancelling the later order cancels its (partially resolved) backorder.
    late_order = session.get(CustomerOrder, w.late.order_id)
    assert late_order is not None
    cancel = event("order_cancelled", order_number=late_order.number)
    result = _ingest(session, cancel)
    (cancelled_id,) = result.outcomes[0].touched["backorders_cancelled"]
    (cancelled,) = [
        r
        for r in _records(session, "backorder.transitioned")
        if r.reason == f"event order_cancelled {cancel.event_id}"
    ]
    assert cancelled.entity_id == str(cancelled_id)
    assert cancelled.after == {"status": "cancelled"}

    # A contract change with a new tier: before and after on the customer.
    change = event(
        "contract_changed",
        customer_code=w.customer.code,
        effective_from="2025-02-01",
        tier="vip",
        penalty_rate_per_day=0.02,
    )
    _ingest(session, change)
    (contract,) = _records(session, "customer.contract_changed")
    assert (contract.entity_type, contract.entity_id) == ("customer", str(w.customer.id))
    assert contract.before is not None
    assert (contract.before["contract_version"], contract.before["tier"]) == (1, "standard")
    assert contract.after is not None
    assert (contract.after["contract_version"], contract.after["tier"]) == (2, "vip")
    assert contract.after["terms"]["penalty_rate_per_day"] == 0.02
    assert contract.reason == f"event contract_changed {change.event_id}"

    # Every status the backorders entered and every ETA revision is in the trail, in order.
    history = session.scalars(select(BackorderStatusChange).order_by(BackorderStatusChange.id))
    audited = [
        (r.entity_id, (r.before or {}).get("status"), r.after["status"] if r.after else None)
        for r in _records(session)
        if r.entity_type == "backorder"
    ]
    assert audited == [
        (str(h.backorder_id), h.from_status.value if h.from_status else None, h.to_status.value)
        for h in history
    ]
    etas = session.scalars(select(EtaChange).order_by(EtaChange.id))
    assert [r.after for r in _records(session, "po_line.eta_changed")] == [
        {"eta": e.new_eta.isoformat()} for e in etas
    ]
    # One summary per batch, after the batch's changes.
    assert len(_records(session, "events.applied")) == 5
    assert _records(session)[-1].action == "events.applied"
    result_ = audit.verify(session)
    assert result_.ok and result_.checked == len(_records(session))


def test_tampering_with_an_events_record_is_detected(session: Session, path: str) -> None:
    w = small(session)
    _ingest(session, event("po_delayed", **po_ref(w), new_eta="2025-02-20"))
    records = _records(session)
    assert len(records) == 4  # the ETA, two backorders, the batch
    assert audit.verify(session).ok
    target = records[1]
    with append_only_lifted(session.connection()):
        session.execute(
            AuditRecord.__table__.update()
            .where(AuditRecord.id == target.id)
            .values(after={"status": "resolved"})
        )
    broken = audit.verify(session)
    assert (broken.ok, broken.first_broken_id, broken.problem) == (
        False,
        target.id,
        "hash_mismatch",
    )
    session.rollback()


def test_new_orders_and_stock_changes_are_audited(session: Session, path: str) -> None:
    w = small(session)
    ref = {"sku": w.product.sku, "location_code": w.location.code}
    order = event(
        "order_created",
        order_number="SO-NEW-1",
        customer_code=w.customer.code,
        location_code=w.location.code,
        ordered_on="2025-01-20",
        requested_date="2025-01-30",
        promised_date="2025-02-01",
        lines=[{"line_no": 1, "sku": w.product.sku, "quantity": 3, "unit_price": "2.50"}],
    )
    # One batch: a new position then a count of it.
    _ingest(session, order, event("inventory_adjusted", **ref, delta=7))
    _ingest(session, event("inventory_adjusted", **ref, on_hand=40))
    (created,) = _records(session, "order.created")
    new = session.scalars(select(CustomerOrder).where(CustomerOrder.number == "SO-NEW-1")).one()
    assert (created.entity_type, created.entity_id, created.before) == ("order", str(new.id), None)
    assert created.after is not None and created.after["lines"] == [
        {"line_no": 1, "product_id": w.product.id, "quantity": 3, "unit_price": "2.50"}
    ]
    assert created.reason == f"event order_created {order.event_id}"
    stock = _records(session, "inventory.adjusted")
    assert [(r.entity_id, r.before, r.after) for r in stock] == [
        (
            str(w.product.id),
            {"location_id": w.location.id, "on_hand": 0},
            {"location_id": w.location.id, "on_hand": 7},
        ),
        (
            str(w.product.id),
            {"location_id": w.location.id, "on_hand": 7},
            {"location_id": w.location.id, "on_hand": 40},
        ),
    ]
    assert audit.verify(session).ok


def test_cancellations_receipts_and_contract_terms_are_audited_in_full(
    session: Session, path: str
) -> None:
    w = small(session)
    policy, _doc = active_policy(session)  # installs and activates the shipped default
    session.commit()
    _ingest(session, event("po_delayed", **po_ref(w), new_eta="2025-02-20"))

    # A receipt: the PO line's received quantity and status, and each backorder's open quantity.
    line_status = w.po_line.status.value
    receipt = event("goods_received", **po_ref(w), quantity=15, received_on="2025-02-03")
    _ingest(session, receipt)
    booked = [
        r for r in _records(session) if r.reason == f"event goods_received {receipt.event_id}"
    ]
    assert (booked[0].action, booked[0].entity_type, booked[0].entity_id) == (
        "po_line.goods_received",
        "po_line",
        str(w.po_line.id),
    )
    assert booked[0].before == {"received_quantity": 0, "status": line_status}
    assert booked[0].after == {
        "received_quantity": 15,
        "status": "partially_received",
        "receipt": {"quantity": 15, "received_on": "2025-02-03"},
    }
    early = session.scalars(select(Backorder).where(Backorder.order_line_id == w.early.id)).one()
    late = session.scalars(select(Backorder).where(Backorder.order_line_id == w.late.id)).one()
    assert sorted((r.entity_id, r.before, r.after) for r in booked[1:]) == sorted(
        [
            (
                str(early.id),
                {"status": "open", "open_quantity": 10},
                {"status": "resolved", "open_quantity": 0},
            ),
            (
                str(late.id),
                {"status": "open", "open_quantity": 10},
                {"status": "partially_resolved", "open_quantity": 5},
            ),
        ]
    )

    # A later ETA moves the partially resolved backorder's expected date, not its status.
    delay = event("po_delayed", **po_ref(w), new_eta="2025-03-01")
    _ingest(session, delay)
    (moved,) = [
        r
        for r in _records(session)
        if r.reason == f"event po_delayed {delay.event_id}" and r.entity_id == str(late.id)
    ]
    assert (moved.action, moved.entity_id, moved.before, moved.after) == (
        "backorder.expected_date_changed",
        str(late.id),
        {"expected_fulfillment_date": "2025-02-20"},
        {"expected_fulfillment_date": "2025-03-01"},
    )

    # Cancelling an order: its line's and its own status, then the backorder's.
    order = session.get(CustomerOrder, w.late.order_id)
    assert order is not None
    order_status, line_status = order.status.value, w.late.status.value
    cancel = event("order_cancelled", order_number=order.number, reason="customer request")
    _ingest(session, cancel)
    done = [r for r in _records(session) if r.reason == f"event order_cancelled {cancel.event_id}"]
    assert [(r.action, r.entity_id, r.before, r.after) for r in done] == [
        (
            "order_line.status_changed",
            str(w.late.id),
            {"status": line_status},
            {"status": "cancelled"},
        ),
        (
            "backorder.transitioned",
            str(late.id),
            {"status": "partially_resolved"},
            {"status": "cancelled"},
        ),
        ("order.status_changed", str(order.id), {"status": order_status}, {"status": "cancelled"}),
    ]

    # A contract change: the old terms beside the new ones.
    old_contract = session.scalars(
        select(Contract).where(Contract.customer_id == w.customer.id)
    ).one()
    old_terms = {t: getattr(old_contract, t) for t in contract_rules.TERMS}
    change = event(
        "contract_changed",
        customer_code=w.customer.code,
        effective_from="2025-02-01",
        penalty_rate_per_day=0.02,
    )
    _ingest(session, change)
    (contract,) = _records(session, "customer.contract_changed")
    assert contract.before is not None and contract.after is not None
    assert contract.before["effective_from"] == old_contract.effective_from.isoformat()
    assert contract.before["terms"] == normalize(old_terms)
    assert contract.after["terms"] == {**contract.before["terms"], "penalty_rate_per_day": 0.02}

    # Every record of the events names the active policy version and no model.
    from_events = [r for r in _records(session) if (r.reason or "").startswith("event")]
    assert len(from_events) >= 10
    assert {(r.policy_version_id, r.model_versions) for r in from_events} == {(policy.id, None)}
    assert audit.verify(session).ok

"""Backorder creation: from a delayed PO line (with customer impact) and by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allotment.domain import backorders as svc
from allotment.domain.enums import BackorderStatus, OrderStatus, RootCause, Tier
from allotment.domain.models import Backorder, BackorderStatusChange, EtaChange
from allotment.errors import BackorderCreationError, NotFoundError
from tests import factories

AT = datetime(2025, 1, 20, 8, 30, tzinfo=UTC)


def _handbook_case(session: Session) -> dict[str, int]:
    """Chapter 12's example: PO for 100 CM-500 due Jan 25; Metro (VIP) waits on 50 units,
    Industrial Services (standard) on 20, a third customer's line is promised after the new ETA.
    """
    sku = factories.product(session, sku="CM-500", unit_price=Decimal("500.00"))
    wh = factories.location(session)
    pol = factories.po_line(session, product_id=sku.id, location_id=wh.id)
    metro = factories.customer(session, name="Metro Manufacturing", tier=Tier.VIP)
    industrial = factories.customer(session, name="Industrial Services", tier=Tier.STANDARD)
    patient = factories.customer(session, name="Patient Co", tier=Tier.PREMIUM)
    ids = {
        "po_line": pol.id,
        "metro": factories.order_line(
            session,
            customer_id=metro.id,
            product_id=sku.id,
            po_line_id=pol.id,
            quantity=50,
            is_emergency=True,
            promised_date=date(2025, 1, 27),
        ).id,
        "industrial": factories.order_line(
            session,
            customer_id=industrial.id,
            product_id=sku.id,
            po_line_id=pol.id,
            quantity=20,
            promised_date=date(2025, 1, 30),
        ).id,
        "patient": factories.order_line(
            session,
            customer_id=patient.id,
            product_id=sku.id,
            po_line_id=pol.id,
            quantity=10,
            promised_date=date(2025, 3, 1),
        ).id,
        # Shipped already: not affected by the delay.
        "shipped": factories.order_line(
            session,
            product_id=sku.id,
            po_line_id=pol.id,
            quantity=5,
            shipped_quantity=5,
            status=OrderStatus.SHIPPED,
        ).id,
    }
    session.commit()
    return ids


def test_delay_creates_one_backorder_per_affected_line_with_impact(session: Session) -> None:
    ids = _handbook_case(session)
    impact = svc.apply_po_delay(
        session,
        po_line_id=ids["po_line"],
        new_eta=date(2025, 2, 15),
        actor="erp",
        reason="manufacturing issue",
        at=AT,
    )
    session.commit()

    by_line = {a.order_line_id: a for a in impact.lines}
    assert set(by_line) == {ids["metro"], ids["industrial"], ids["patient"]}
    assert by_line[ids["metro"]].action == "created"
    assert by_line[ids["industrial"]].action == "created"
    assert by_line[ids["patient"]].action == "not_late"
    assert by_line[ids["metro"]].tier is Tier.VIP and by_line[ids["metro"]].is_emergency
    assert impact.backordered_quantity == 70
    assert impact.value_at_risk == Decimal("35000.00")  # the handbook's revenue at risk
    assert impact.customers_affected == 2

    rows = session.scalars(select(Backorder).order_by(Backorder.order_line_id)).all()
    assert [(b.order_line_id, b.quantity, b.value_at_risk) for b in rows] == [
        (ids["metro"], 50, Decimal("25000.00")),
        (ids["industrial"], 20, Decimal("10000.00")),
    ]
    for bo in rows:
        assert bo.status is BackorderStatus.OPEN
        assert bo.po_line_id == ids["po_line"]
        assert bo.root_cause is RootCause.SUPPLIER_DELAY
        assert bo.expected_fulfillment_date == date(2025, 2, 15)
        assert bo.number == f"BO-2025-{bo.id:07d}"
        assert [(h.from_status, h.to_status, h.changed_by) for h in bo.history] == [
            (None, BackorderStatus.OPEN, "erp")
        ]
    eta = session.scalars(select(EtaChange)).one()
    assert (eta.previous_eta, eta.new_eta) == (date(2025, 1, 25), date(2025, 2, 15))


def test_second_delay_updates_eta_instead_of_duplicating(session: Session) -> None:
    ids = _handbook_case(session)
    svc.apply_po_delay(
        session, po_line_id=ids["po_line"], new_eta=date(2025, 2, 15), actor="erp", reason="a"
    )
    impact = svc.apply_po_delay(
        session, po_line_id=ids["po_line"], new_eta=date(2025, 2, 22), actor="erp", reason="QA"
    )
    session.commit()
    actions = {a.order_line_id: a.action for a in impact.lines}
    assert actions[ids["metro"]] == "eta_updated"
    assert session.scalar(select(func.count()).select_from(Backorder)) == 2
    statuses = set(session.scalars(select(Backorder.status)).all())
    assert statuses == {BackorderStatus.ETA_UPDATED}
    assert session.scalar(select(func.count()).select_from(EtaChange)) == 2
    # The patient customer's line is now late too: it gets its backorder.
    assert actions[ids["patient"]] == "not_late"
    impact3 = svc.apply_po_delay(
        session, po_line_id=ids["po_line"], new_eta=date(2025, 3, 5), actor="erp", reason="b"
    )
    assert {a.order_line_id: a.action for a in impact3.lines}[ids["patient"]] == "created"


def test_delay_on_unknown_po_line_is_not_found(session: Session) -> None:
    with pytest.raises(NotFoundError):
        svc.apply_po_delay(session, po_line_id=999, new_eta=date(2025, 2, 1), actor="x", reason="y")


def test_manual_creation_checks_quantity_and_duplicates(session: Session) -> None:
    line = factories.order_line(session, quantity=30, shipped_quantity=10)
    with pytest.raises(BackorderCreationError, match="between 1 and the line's open quantity 20"):
        svc.create_manual(session, order_line_id=line.id, quantity=21, actor="a", reason="r")
    bo = svc.create_manual(session, order_line_id=line.id, quantity=20, actor="a", reason="r")
    assert bo.value_at_risk == Decimal("10000.00")
    with pytest.raises(BackorderCreationError, match="already has an active backorder"):
        svc.create_manual(session, order_line_id=line.id, quantity=5, actor="a", reason="r")
    # Once resolved, a new shortage on the same line may be backordered again.
    svc.record_fulfilment(session, backorder=bo, quantity=20, actor="wh", reason="received")
    again = svc.create_manual(session, order_line_id=line.id, quantity=5, actor="a", reason="r")
    assert again.status is BackorderStatus.OPEN


def test_manual_creation_needs_a_reason(session: Session) -> None:
    line = factories.order_line(session)
    with pytest.raises(BackorderCreationError, match="reason"):
        svc.create_manual(session, order_line_id=line.id, quantity=1, actor="a", reason="  ")


def test_fulfilment_partially_then_fully_resolves(session: Session) -> None:
    line = factories.order_line(session, quantity=70)
    bo = svc.create_manual(session, order_line_id=line.id, quantity=70, actor="a", reason="r")
    svc.record_fulfilment(session, backorder=bo, quantity=30, actor="wh", reason="30 received")
    assert (bo.status, bo.open_quantity) == (BackorderStatus.PARTIALLY_RESOLVED, 40)
    with pytest.raises(BackorderCreationError):
        svc.record_fulfilment(session, backorder=bo, quantity=41, actor="wh", reason="too many")
    svc.record_fulfilment(session, backorder=bo, quantity=40, actor="wh", reason="rest")
    session.commit()
    assert (bo.status, bo.open_quantity) == (BackorderStatus.RESOLVED, 0)
    assert bo.closed_at is not None
    path = session.scalars(
        select(BackorderStatusChange.to_status)
        .where(BackorderStatusChange.backorder_id == bo.id)
        .order_by(BackorderStatusChange.id)
    ).all()
    assert path == [
        BackorderStatus.OPEN,
        BackorderStatus.PARTIALLY_RESOLVED,
        BackorderStatus.RESOLVED,
    ]


def test_only_one_active_backorder_per_line_even_bypassing_the_service(session: Session) -> None:
    """The partial unique index backs the rule up in the database itself."""
    from sqlalchemy.exc import IntegrityError

    line = factories.order_line(session)
    svc.create_manual(session, order_line_id=line.id, quantity=5, actor="a", reason="r")
    session.commit()
    session.add(
        Backorder(
            number="BO-X",
            order_line_id=line.id,
            quantity=1,
            open_quantity=1,
            root_cause=RootCause.OTHER,
            status=BackorderStatus.OPEN,
            value_at_risk=Decimal("1.00"),
            created_by="sneaky",
        )
    )
    with pytest.raises(IntegrityError):
        session.commit()

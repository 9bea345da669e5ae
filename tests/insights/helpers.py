"""Tiny backlogs for the insights tests: a backorder with only the facts a test is about."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from allotment.domain.enums import BackorderStatus, RootCause
from allotment.domain.models import Backorder, CustomerOrder, CustomerOrderLine, Recommendation
from tests import factories


def at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def backorder(
    session: Session,
    *,
    created: datetime,
    quantity: int = 10,
    open_quantity: int | None = None,
    status: BackorderStatus = BackorderStatus.OPEN,
    root_cause: RootCause = RootCause.SUPPLIER_DELAY,
    customer_id: int | None = None,
    product_id: int | None = None,
    ordered_on: date | None = None,
    is_emergency: bool = False,
    closed_at: datetime | None = None,
    **overrides: Any,
) -> Backorder:
    """A backorder of a new order line at $500 a unit (value at risk = quantity × $500)."""
    bo: Backorder = factories.backorder(
        session,
        customer_id=customer_id,
        quantity=quantity,
        open_quantity=quantity if open_quantity is None else open_quantity,
        status=status,
        root_cause=root_cause,
        created_at=created,
        closed_at=closed_at,
        **overrides,
    )
    line = session.get(CustomerOrderLine, bo.order_line_id)
    assert line is not None
    if product_id is not None:
        line.product_id = product_id
    order = session.get(CustomerOrder, line.order_id)
    assert order is not None
    order.is_emergency = is_emergency
    if ordered_on is not None:
        order.ordered_on = ordered_on
    session.flush()
    return bo


def recommendation(
    session: Session, bo: Backorder, *, kind: str, rank: int, status: str = "proposed"
) -> Recommendation:
    line = session.get(CustomerOrderLine, bo.order_line_id)
    assert line is not None
    order = session.get(CustomerOrder, line.order_id)
    assert order is not None
    rec = Recommendation(
        backorder_id=bo.id,
        customer_id=order.customer_id,
        product_id=line.product_id,
        kind=kind,
        status=status,
        rank=rank,
        cost=Decimal("100.00"),
        benefit=Decimal("900.00"),
        net_value=Decimal("800.00"),
        committed=Decimal("100.00"),
        amount=Decimal("100.00"),
        routed_amount=Decimal("100.00"),
        route={},
        explanation=f"{kind} it",
        created_by="test",
        created_at=at(date(2025, 2, 19)),
    )
    session.add(rec)
    session.flush()
    return rec

"""Backorders with a chosen promised date, and recommendations waiting for approval."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from allotment.domain.enums import BackorderStatus
from allotment.domain.models import Backorder, CustomerOrder, CustomerOrderLine, Recommendation
from tests import factories


def overdue_backorder(
    session: Session,
    *,
    promised: date,
    status: BackorderStatus = BackorderStatus.OPEN,
    **overrides: Any,
) -> Backorder:
    """A backorder whose customer order was promised for ``promised``."""
    backorder: Backorder = factories.backorder(session, status=status, **overrides)
    line = session.get(CustomerOrderLine, backorder.order_line_id)
    assert line is not None
    order = session.get(CustomerOrder, line.order_id)
    assert order is not None
    order.promised_date = promised
    session.flush()
    return backorder


def waiting_recommendation(
    session: Session,
    *,
    backorder: Backorder,
    created_at: datetime,
    chain: tuple[str, ...] = ("supervisor", "manager"),
    status: str = "pending_approval",
) -> Recommendation:
    """An expedite of $12,500 routed to ``chain``, in ``status`` since ``created_at``."""
    line = session.get(CustomerOrderLine, backorder.order_line_id)
    assert line is not None
    order = session.get(CustomerOrder, line.order_id)
    assert order is not None
    rec = Recommendation(
        backorder_id=backorder.id,
        customer_id=order.customer_id,
        product_id=line.product_id,
        kind="expedite",
        status=status,
        rank=1,
        cost=Decimal("1000.00"),
        benefit=Decimal("5000.00"),
        net_value=Decimal("4000.00"),
        committed=Decimal("1000.00"),
        amount=Decimal("12500.00"),
        routed_amount=Decimal("12500.00"),
        route={"chain": list(chain), "auto": not chain},
        explanation="Expedite the PO line: arrives before the promised date.",
        details={},
        created_at=created_at,
        created_by="planner1",
        model_versions={},
    )
    session.add(rec)
    session.flush()
    return rec

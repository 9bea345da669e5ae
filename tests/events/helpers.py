"""A tiny world for event tests: one PO line two customer order lines wait on, and events."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from allotment.domain.enums import Tier
from allotment.domain.models import (
    Customer,
    CustomerOrderLine,
    Location,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
)
from allotment.events.schemas import EVENT_ADAPTER
from tests import factories

_ids = itertools.count(1)
T0 = datetime(2025, 1, 20, 9, 0, tzinfo=UTC)


@dataclass
class Small:
    """Names a connector would use, and the rows behind them."""

    po_number: str
    po_line: PurchaseOrderLine
    product: Product
    location: Location
    customer: Customer
    early: CustomerOrderLine  # promised 2025-01-27
    late: CustomerOrderLine  # promised 2025-02-10


def small(session: Session) -> Small:
    """PO line (100 units, promised/ETA 2025-01-25) with two 10-unit order lines of one
    standard customer allocated to it: promised 2025-01-27 and 2025-02-10."""
    location = factories.location(session)
    product = factories.product(session)
    line = factories.po_line(session, product_id=product.id, location_id=location.id)
    customer = factories.customer(session, tier=Tier.STANDARD)
    early = factories.order_line(
        session,
        customer_id=customer.id,
        product_id=product.id,
        location_id=location.id,
        po_line_id=line.id,
        quantity=10,
        promised_date=date(2025, 1, 27),
    )
    late = factories.order_line(
        session,
        customer_id=customer.id,
        product_id=product.id,
        location_id=location.id,
        po_line_id=line.id,
        quantity=10,
        promised_date=date(2025, 2, 10),
    )
    po = session.get(PurchaseOrder, line.purchase_order_id)
    assert po is not None
    session.commit()
    return Small(po.number, line, product, location, customer, early, late)


def event(type_: str, *, at: datetime | None = None, **fields: Any) -> Any:
    """A validated event of ``type_`` with a fresh id (override with ``event_id=``)."""
    data = {
        "type": type_,
        "event_id": fields.pop("event_id", f"evt-{next(_ids)}"),
        "occurred_at": (at or T0 + timedelta(minutes=next(_ids))).isoformat(),
        **fields,
    }
    return EVENT_ADAPTER.validate_python(data)


def po_ref(world: Small) -> dict[str, Any]:
    return {"po_number": world.po_number, "line_no": 1}

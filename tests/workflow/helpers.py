"""Recommendations ready for the approval workflow (shared by the workflow, API and CLI tests)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from allotment.domain.enums import Tier
from allotment.domain.models import Backorder, CustomerOrderLine, Recommendation
from tests import factories

#: When the test recommendations are made (UTC).
CREATED = datetime(2025, 2, 1, 9, 0, tzinfo=UTC)


def recommendation(
    session: Session,
    *,
    amount: Decimal | str = "5000.00",
    tier: Tier = Tier.STANDARD,
    backorder: Backorder | None = None,
    kind: str = "expedite",
    units: int = 10,
    arrival: date | None = date(2025, 2, 5),
    created_by: str = "generator",
    **overrides: Any,
) -> Recommendation:
    """A ``proposed`` recommendation whose approval amount is ``amount`` USD.

    Its money committed is a fifth of the amount, the rest is the benefit it claims; it waits on
    a new backorder of 10 units of a ``tier`` customer unless ``backorder`` is given.
    """
    total = Decimal(amount)
    if backorder is None:
        cust = factories.customer(session, tier=tier)
        backorder = factories.backorder(session, customer_id=cust.id, quantity=10)
    line = session.get(CustomerOrderLine, backorder.order_line_id)
    assert line is not None
    committed = (total / 5).quantize(Decimal("0.01"))
    rec = Recommendation(
        backorder_id=backorder.id,
        customer_id=line.order.customer_id,
        product_id=line.product_id,
        kind=kind,
        status="proposed",
        rank=1,
        cost=committed,
        benefit=total - committed,
        net_value=total - 2 * committed,
        committed=committed,
        amount=total,
        routed_amount=total,
        route={"chain": []},
        needs_consent=False,
        explanation=f"{kind} for the test",
        details={"units": units, "arrival": arrival.isoformat() if arrival else None},
        created_at=CREATED,
        created_by=created_by,
        model_versions={"allotment-sla-breach": 3},
    )
    for key, value in overrides.items():
        setattr(rec, key, value)
    session.add(rec)
    session.flush()
    return rec

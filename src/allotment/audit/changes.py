"""The state changes an event makes, collected for the audit trail.

Event ingestion audits every change an event makes (a backorder created or moved through its
lifecycle, a PO line's ETA revised, a customer's contract or tier changed), one record each,
with the event as the reason. Both ways of applying events (set-wise, and event by event through
the domain services) describe a change with the same constructors below, so they end in the
same records. The domain services note changes only while :func:`collecting` is active (event
ingestion); the API and CLI audit what they change themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

_KEY = "allotment.audit.changes"


@dataclass(frozen=True)
class Change:
    """One audited state change (the reason and the actor come from the event)."""

    action: str
    entity_type: str
    entity_id: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def with_id(self, entity_id: int) -> Change:
        return replace(self, entity_id=entity_id)


def _value(v: Any) -> Any:
    return v.value if isinstance(v, Enum) else v


def status_changed(
    backorder_id: int,
    old: Enum | None,
    new: Enum,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> Change:
    """A backorder entered status ``new`` (from ``old``; ``None`` for a new backorder: use
    :func:`backorder_created`); ``before``/``after`` add the other fields the same event changes
    with it (open quantity, expected fulfillment date)."""
    return Change(
        "backorder.transitioned",
        "backorder",
        backorder_id,
        {"status": _value(old), **(before or {})},
        {"status": _value(new), **(after or {})},
    )


def expected_date_changed(backorder_id: int, old: date | None, new: date) -> Change:
    """A backorder's expected fulfillment date moved without a status change."""
    return Change(
        "backorder.expected_date_changed",
        "backorder",
        backorder_id,
        {"expected_fulfillment_date": old},
        {"expected_fulfillment_date": new},
    )


def order_status_changed(order_id: int, old: Enum, new: Enum) -> Change:
    return Change(
        "order.status_changed", "order", order_id, {"status": _value(old)}, {"status": _value(new)}
    )


def order_line_status_changed(line_id: int, old: Enum, new: Enum) -> Change:
    return Change(
        "order_line.status_changed",
        "order_line",
        line_id,
        {"status": _value(old)},
        {"status": _value(new)},
    )


def goods_received(
    po_line_id: int,
    *,
    quantity: int,
    received_on: date,
    old_received: int,
    old_status: Enum,
    received: int,
    status: Enum,
) -> Change:
    """One receipt booked on a PO line (the receipt's quantity and date, the line's received
    quantity and status before and after)."""
    return Change(
        "po_line.goods_received",
        "po_line",
        po_line_id,
        {"received_quantity": old_received, "status": _value(old_status)},
        {
            "received_quantity": received,
            "status": _value(status),
            "receipt": {"quantity": quantity, "received_on": received_on},
        },
    )


def backorder_created(
    backorder_id: int,
    *,
    order_line_id: int,
    po_line_id: int | None,
    quantity: int,
    root_cause: Enum,
    status: Enum,
    expected: date | None,
    value_at_risk: Decimal,
) -> Change:
    return Change(
        "backorder.created",
        "backorder",
        backorder_id,
        None,
        {
            "status": _value(status),
            "order_line_id": order_line_id,
            "po_line_id": po_line_id,
            "quantity": quantity,
            "root_cause": _value(root_cause),
            "expected_fulfillment_date": expected,
            "value_at_risk": value_at_risk,
        },
    )


def eta_changed(po_line_id: int, old: date | None, new: date) -> Change:
    return Change("po_line.eta_changed", "po_line", po_line_id, {"eta": old}, {"eta": new})


def contract_changed(
    customer_id: int,
    *,
    old_version: int | None,
    old_tier: Enum,
    old_effective_from: date | None,
    old_terms: Mapping[str, Any] | None,
    version: int,
    tier: Enum,
    effective_from: date,
    terms: Mapping[str, Any],
) -> Change:
    """A customer's next contract version (``old_*`` ``None`` for a first contract)."""
    return Change(
        "customer.contract_changed",
        "customer",
        customer_id,
        {
            "contract_version": old_version,
            "tier": _value(old_tier),
            "effective_from": old_effective_from,
            "terms": None
            if old_terms is None
            else {k: _value(v) for k, v in sorted(old_terms.items())},
        },
        {
            "contract_version": version,
            "tier": _value(tier),
            "effective_from": effective_from,
            "terms": {k: _value(v) for k, v in sorted(terms.items())},
        },
    )


def order_created(
    order_id: int,
    *,
    number: str,
    customer_id: int,
    location_id: int,
    promised_date: date,
    is_emergency: bool,
    lines: list[tuple[int, int, int, Decimal]],
) -> Change:
    """A customer order; ``lines`` as (line_no, product_id, quantity, unit_price)."""
    return Change(
        "order.created",
        "order",
        order_id,
        None,
        {
            "number": number,
            "customer_id": customer_id,
            "location_id": location_id,
            "promised_date": promised_date,
            "is_emergency": is_emergency,
            "lines": [
                {"line_no": n, "product_id": p, "quantity": q, "unit_price": u}
                for n, p, q, u in lines
            ],
        },
    )


def inventory_adjusted(product_id: int, location_id: int, old: int, new: int) -> Change:
    """Stock on hand of a product at a location (its position row may be new)."""
    return Change(
        "inventory.adjusted",
        "product",
        product_id,
        {"location_id": location_id, "on_hand": old},
        {"location_id": location_id, "on_hand": new},
    )


def note(session: Session, change: Change) -> None:
    """Collect ``change`` if :func:`collecting` is active on ``session``."""
    found = session.info.get(_KEY)
    if found is not None:
        found.append(change)


@contextmanager
def collecting(session: Session) -> Iterator[list[Change]]:
    """The changes noted on ``session`` inside the block, in order."""
    outer = session.info.get(_KEY)
    mine: list[Change] = []
    session.info[_KEY] = mine
    try:
        yield mine
    finally:
        if outer is None:
            session.info.pop(_KEY, None)
        else:
            session.info[_KEY] = outer

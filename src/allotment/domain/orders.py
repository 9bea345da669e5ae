"""Customer order services: creation and cancellation. Services flush; the caller commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.audit import changes
from allotment.db.types import to_money
from allotment.domain import repository as repo
from allotment.domain.backorders import transition
from allotment.domain.enums import BackorderStatus, OrderStatus
from allotment.domain.errors import OrderConflictError
from allotment.domain.models import CustomerOrder, CustomerOrderLine


@dataclass(frozen=True)
class NewLine:
    """An order line to create (``unit_price`` in USD)."""

    line_no: int
    product_id: int
    quantity: int
    unit_price: Decimal


def create_order(
    session: Session,
    *,
    number: str,
    customer_id: int,
    location_id: int,
    ordered_on: date,
    requested_date: date,
    promised_date: date,
    is_emergency: bool,
    lines: list[NewLine],
) -> CustomerOrder:
    """Create an open customer order and its lines; an existing number is a conflict."""
    if session.scalar(select(CustomerOrder.id).where(CustomerOrder.number == number)) is not None:
        raise OrderConflictError(f"order {number} already exists", field="order_number")
    order = CustomerOrder(
        number=number,
        customer_id=customer_id,
        location_id=location_id,
        ordered_on=ordered_on,
        requested_date=requested_date,
        promised_date=promised_date,
        is_emergency=is_emergency,
        status=OrderStatus.OPEN,
    )
    order.lines = [
        CustomerOrderLine(
            line_no=ln.line_no,
            product_id=ln.product_id,
            quantity=ln.quantity,
            unit_price=to_money(ln.unit_price),
            shipped_quantity=0,
            status=OrderStatus.OPEN,
        )
        for ln in lines
    ]
    session.add(order)
    session.flush()
    changes.note(
        session,
        changes.order_created(
            order.id,
            number=number,
            customer_id=customer_id,
            location_id=location_id,
            promised_date=promised_date,
            is_emergency=is_emergency,
            lines=[(ln.line_no, ln.product_id, ln.quantity, ln.unit_price) for ln in order.lines],
        ),
    )
    return order


def cancel_order(
    session: Session,
    *,
    order: CustomerOrder,
    line_nos: list[int] | None,
    actor: str,
    reason: str,
    at: datetime,
) -> list[int]:
    """Cancel an order's open lines (all, or ``line_nos``) and their active backorders.

    Shipped lines stay shipped; the order is cancelled when no line is left open. Returns the
    ids of the backorders cancelled.
    """
    by_no = {line.line_no: line for line in order.lines}
    if line_nos is not None:
        unknown = sorted(set(line_nos) - set(by_no))
        if unknown:
            raise OrderConflictError(
                f"order {order.number} has no line {', '.join(map(str, unknown))}",
                field="line_nos",
            )
    chosen = [by_no[n] for n in sorted(set(line_nos))] if line_nos is not None else order.lines
    cancelled: list[int] = []
    for line in chosen:
        if line.status in (OrderStatus.SHIPPED, OrderStatus.CANCELLED):
            continue
        changes.note(
            session, changes.order_line_status_changed(line.id, line.status, OrderStatus.CANCELLED)
        )
        line.status = OrderStatus.CANCELLED
        backorder = repo.active_backorder_for_line(session=session, order_line_id=line.id)
        if backorder is not None:
            transition(
                session,
                backorder=backorder,
                to=BackorderStatus.CANCELLED,
                actor=actor,
                reason=f"order {order.number} line {line.line_no} cancelled: {reason}",
                at=at,
            )
            cancelled.append(backorder.id)
    closed = all(
        line.status in (OrderStatus.SHIPPED, OrderStatus.CANCELLED) for line in order.lines
    )
    if closed and any(line.status is OrderStatus.CANCELLED for line in order.lines):
        if order.status is not OrderStatus.CANCELLED:
            changes.note(
                session,
                changes.order_status_changed(order.id, order.status, OrderStatus.CANCELLED),
            )
        order.status = OrderStatus.CANCELLED
    session.flush()
    return cancelled

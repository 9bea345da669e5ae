"""SQL for the backorder lifecycle. Keyword-only, typed; never commits (the caller does)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from allotment.domain.lifecycle import ACTIVE_STATUSES
from allotment.domain.models import (
    Backorder,
    Contract,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    InventoryPosition,
    PurchaseOrderLine,
)
from allotment.errors import NotFoundError


def get_backorder(*, session: Session, backorder_id: int, for_update: bool = False) -> Backorder:
    stmt = select(Backorder).where(Backorder.id == backorder_id)
    if for_update:
        stmt = stmt.with_for_update()
    backorder = session.scalars(stmt).one_or_none()
    if backorder is None:
        raise NotFoundError(f"backorder {backorder_id} does not exist", backorder_id=backorder_id)
    return backorder


#: ``session.info`` key of the PO line ids the current transaction already holds locked (a
#: caller that locked them set-wise, e.g. an event batch, sets and clears it).
LOCKED_PO_LINES = "allotment.locked_po_lines"


def get_po_line(
    *, session: Session, po_line_id: int, for_update: bool = False
) -> PurchaseOrderLine:
    if for_update and po_line_id in session.info.get(LOCKED_PO_LINES, ()):
        held = session.get(PurchaseOrderLine, po_line_id)
        if held is not None:
            return held
    stmt = select(PurchaseOrderLine).where(PurchaseOrderLine.id == po_line_id)
    if for_update:
        stmt = stmt.with_for_update()
    line = session.scalars(stmt).one_or_none()
    if line is None:
        raise NotFoundError(
            f"purchase order line {po_line_id} does not exist", po_line_id=po_line_id
        )
    return line


def get_order_line(*, session: Session, order_line_id: int) -> CustomerOrderLine:
    line = session.get(CustomerOrderLine, order_line_id)
    if line is None:
        raise NotFoundError(
            f"order line {order_line_id} does not exist", order_line_id=order_line_id
        )
    return line


def active_backorder_for_line(*, session: Session, order_line_id: int) -> Backorder | None:
    return session.scalars(
        select(Backorder).where(
            Backorder.order_line_id == order_line_id, Backorder.status.in_(ACTIVE_STATUSES)
        )
    ).one_or_none()


def lines_waiting_on_po_line(
    *, session: Session, po_line_id: int
) -> Sequence[tuple[CustomerOrderLine, CustomerOrder, Customer]]:
    """Open customer order lines allocated to a PO line, with their order and customer."""
    rows = session.execute(
        select(CustomerOrderLine, CustomerOrder, Customer)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(Customer, Customer.id == CustomerOrder.customer_id)
        .where(
            CustomerOrderLine.po_line_id == po_line_id,
            CustomerOrderLine.shipped_quantity < CustomerOrderLine.quantity,
            CustomerOrderLine.status.in_(("open", "partially_shipped")),
        )
        .order_by(CustomerOrder.promised_date, CustomerOrderLine.id)
    ).all()
    return [(line, order, customer) for line, order, customer in rows]


def current_contract(*, session: Session, customer_id: int) -> Contract | None:
    """The customer's latest contract version."""
    return session.scalars(
        select(Contract)
        .where(Contract.customer_id == customer_id)
        .order_by(Contract.version.desc())
        .limit(1)
    ).one_or_none()


def active_backorders_waiting_on_po_line(
    *, session: Session, po_line_id: int
) -> Sequence[tuple[Backorder, CustomerOrder]]:
    """Active backorders whose supply is this PO line (theirs or their order line's), with their
    order: emergencies first, then earliest promised date, then oldest backorder."""
    base = (
        select(Backorder, CustomerOrder)
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .where(Backorder.status.in_(ACTIVE_STATUSES))
    )
    # Two indexed look-ups in one statement, not one OR across the join (a scan of every
    # backorder).
    ids = union_all(
        select(Backorder.id).where(Backorder.po_line_id == po_line_id),
        select(Backorder.id)
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .where(CustomerOrderLine.po_line_id == po_line_id, Backorder.po_line_id.is_(None)),
    )
    found = {b.id: (b, o) for b, o in session.execute(base.where(Backorder.id.in_(ids))).all()}
    return sorted(
        found.values(),
        key=lambda bo: (not bo[1].is_emergency, bo[1].promised_date, bo[0].created_at, bo[0].id),
    )


def active_backorders_of_customer(*, session: Session, customer_id: int) -> Sequence[Backorder]:
    return session.scalars(
        select(Backorder)
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .where(CustomerOrder.customer_id == customer_id, Backorder.status.in_(ACTIVE_STATUSES))
        .order_by(Backorder.id)
    ).all()


def inventory_position(
    *, session: Session, product_id: int, location_id: int
) -> InventoryPosition | None:
    return session.scalars(
        select(InventoryPosition)
        .where(
            InventoryPosition.product_id == product_id,
            InventoryPosition.location_id == location_id,
        )
        .with_for_update()
    ).one_or_none()

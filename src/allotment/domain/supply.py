"""Supply services: ETA revisions, goods receipts, inventory adjustments.

Services flush; the caller (an event batch, a command) commits or rolls back. Backorder status
changes go through :func:`allotment.domain.backorders.transition` (the lifecycle state machine).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from allotment.audit import changes
from allotment.domain import repository as repo
from allotment.domain.backorders import expect_on, record_fulfilment
from allotment.domain.enums import BackorderStatus, PurchaseOrderStatus
from allotment.domain.errors import InventoryAdjustmentError, PurchaseOrderLineStateError
from allotment.domain.models import EtaChange, InventoryPosition, PurchaseOrderLine, Receipt

_CLOSED = (PurchaseOrderStatus.RECEIVED, PurchaseOrderStatus.CANCELLED)


@dataclass(frozen=True)
class Fulfilled:
    """Units of a receipt that went to one backorder, and the status it moved to."""

    backorder_id: int
    units: int
    status: BackorderStatus


def _open_line(session: Session, po_line_id: int) -> PurchaseOrderLine:
    line = repo.get_po_line(session=session, po_line_id=po_line_id, for_update=True)
    if line.status in _CLOSED:
        raise PurchaseOrderLineStateError(
            f"purchase order line {po_line_id} is {line.status.value}", field="po_line_id"
        )
    return line


def update_eta(
    session: Session,
    *,
    po_line_id: int,
    eta: date,
    actor: str,
    reason: str,
    at: datetime,
) -> list[int]:
    """Record a revised ETA for a PO line; its waiting backorders expect the new date.

    Backorders that are ``open`` or ``eta_updated`` move to ``eta_updated``; partially resolved
    or escalated ones keep their status (see :mod:`allotment.domain.lifecycle`). Returns the ids
    of the backorders whose expected date changed.
    """
    line = _open_line(session, po_line_id)
    previous = line.current_eta or line.promised_date
    session.add(
        EtaChange(
            po_line=line,
            recorded_at=at,
            previous_eta=line.current_eta,
            new_eta=eta,
            reason=reason[:200],
        )
    )
    changes.note(session, changes.eta_changed(line.id, line.current_eta, eta))
    line.current_eta = eta
    touched: list[int] = []
    for backorder, _order in repo.active_backorders_waiting_on_po_line(
        session=session, po_line_id=po_line_id
    ):
        expect_on(
            session,
            backorder=backorder,
            eta=eta,
            actor=actor,
            reason=f"ETA {previous} -> {eta}: {reason}",
            at=at,
        )
        touched.append(backorder.id)
    session.flush()
    return touched


def _position(
    session: Session, product_id: int, location_id: int, at: datetime
) -> InventoryPosition:
    position = repo.inventory_position(
        session=session, product_id=product_id, location_id=location_id
    )
    if position is None:
        position = InventoryPosition(
            product_id=product_id, location_id=location_id, on_hand=0, committed=0, updated_at=at
        )
        session.add(position)
    return position


def receive_goods(
    session: Session,
    *,
    po_line_id: int,
    quantity: int,
    received_on: date,
    actor: str,
    at: datetime,
) -> list[Fulfilled]:
    """Book a receipt on a PO line and serve the backorders waiting on it.

    The units go on hand at the PO's warehouse; the waiting backorders take them emergencies
    first, then earliest promised date (whole open quantity when enough arrived, else what is
    left), each partially resolved or resolved through the state machine, and the units they
    take are committed to them. Refuses more units than the line still expects.
    """
    line = _open_line(session, po_line_id)
    left_on_line = line.quantity - line.received_quantity
    if quantity > left_on_line:
        raise PurchaseOrderLineStateError(
            f"purchase order line {po_line_id} expects {left_on_line} more unit(s),"
            f" {quantity} received",
            field="quantity",
        )
    session.add(Receipt(po_line_id=po_line_id, received_on=received_on, quantity=quantity))
    old_received, old_status = line.received_quantity, line.status
    line.received_quantity += quantity
    line.received_on = received_on
    line.status = (
        PurchaseOrderStatus.RECEIVED
        if line.received_quantity == line.quantity
        else PurchaseOrderStatus.PARTIALLY_RECEIVED
    )
    changes.note(
        session,
        changes.goods_received(
            line.id,
            quantity=quantity,
            received_on=received_on,
            old_received=old_received,
            old_status=old_status,
            received=line.received_quantity,
            status=line.status,
        ),
    )
    position = _position(session, line.product_id, line.purchase_order.location_id, at)
    position.on_hand += quantity
    position.updated_at = at
    served: list[Fulfilled] = []
    left = quantity
    for backorder, _order in repo.active_backorders_waiting_on_po_line(
        session=session, po_line_id=po_line_id
    ):
        if left <= 0:
            break
        units = min(left, backorder.open_quantity)
        if units <= 0:
            continue
        record_fulfilment(
            session,
            backorder=backorder,
            quantity=units,
            actor=actor,
            reason=f"{units} unit(s) received on PO line {po_line_id} on {received_on}",
            at=at,
        )
        left -= units
        position.committed += units
        served.append(Fulfilled(backorder.id, units, backorder.status))
    session.flush()
    return served


def adjust_inventory(
    session: Session,
    *,
    product_id: int,
    location_id: int,
    at: datetime,
    delta: int | None = None,
    on_hand: int | None = None,
) -> InventoryPosition:
    """Change stock on hand by ``delta`` units, or set it to a counted ``on_hand``."""
    position = _position(session, product_id, location_id, at)
    new = (position.on_hand or 0) + delta if delta is not None else on_hand
    if new is None or new < 0:
        raise InventoryAdjustmentError(
            f"stock on hand would be {new} (now {position.on_hand or 0})", field="delta"
        )
    changes.note(
        session, changes.inventory_adjusted(product_id, location_id, position.on_hand or 0, new)
    )
    position.on_hand = new
    position.updated_at = at
    session.flush()
    return position

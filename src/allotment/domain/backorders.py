"""Backorder services: status transitions, manual creation, creation from a delayed PO line.

Services flush; the caller (CLI command, API request, event batch) commits or rolls back.
Every creation goes through :func:`_new_backorder`, which also enqueues the policy's immediate
``backorder_created`` notifications, so they commit with the backorder or not at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from allotment.audit import changes
from allotment.db.types import to_money, utcnow
from allotment.domain import repository as repo
from allotment.domain.enums import BackorderStatus, OrderStatus, RootCause, Tier
from allotment.domain.lifecycle import TERMINAL_STATUSES, ensure_transition
from allotment.domain.models import Backorder, BackorderStatusChange, EtaChange
from allotment.errors import BackorderCreationError
from allotment.notify import rules as notification_rules
from allotment.policy.schema import NotificationRule
from allotment.policy.service import policy_in_force


def backorder_number(backorder_id: int, year: int) -> str:
    """The human reference of a backorder, e.g. ``BO-2025-0000156``."""
    return f"BO-{year}-{backorder_id:07d}"


def check_transition(
    current: BackorderStatus, to: BackorderStatus, *, reason: str, backorder: str | int
) -> None:
    """Refuse a status change without a reason, or one the lifecycle forbids (what
    :func:`transition` checks; for callers that write the change themselves, set-wise)."""
    if not reason.strip():
        raise BackorderCreationError("a status change needs a reason", field="reason")
    ensure_transition(current, to, backorder=backorder)


def transition(
    session: Session,
    *,
    backorder: Backorder,
    to: BackorderStatus,
    actor: str,
    reason: str,
    at: datetime | None = None,
    audit_before: dict[str, Any] | None = None,
    audit_after: dict[str, Any] | None = None,
) -> BackorderStatusChange:
    """Move ``backorder`` to status ``to`` if the lifecycle allows it, and record who/when/why
    (``audit_before``/``audit_after``: the other fields the change moves, for its audit record
    during event ingestion)."""
    check_transition(
        backorder.status, to, reason=reason, backorder=backorder.number or backorder.id
    )
    at = at or utcnow()
    # Through the many-to-one side: appending to ``backorder.history`` would load the whole
    # history first (the backref adds it to a history already loaded).
    change = BackorderStatusChange(
        backorder=backorder,
        from_status=backorder.status,
        to_status=to,
        changed_at=at,
        changed_by=actor,
        reason=reason,
    )
    session.add(change)
    if backorder.id is not None:
        changes.note(
            session,
            changes.status_changed(
                backorder.id, backorder.status, to, before=audit_before, after=audit_after
            ),
        )
    backorder.status = to
    backorder.updated_at = at
    if to in TERMINAL_STATUSES:
        backorder.closed_at = at
    session.flush()
    return change


def expect_on(
    session: Session,
    *,
    backorder: Backorder,
    eta: date,
    actor: str,
    reason: str,
    at: datetime,
) -> bool:
    """Set a backorder's expected date to its supply's new ETA; an ``open`` or ``eta_updated``
    one moves to ``eta_updated`` (returns whether it moved), a partially resolved or escalated
    one keeps its status."""
    old = backorder.expected_fulfillment_date
    backorder.expected_fulfillment_date = eta
    backorder.updated_at = at
    moved = old != eta
    if backorder.status not in (BackorderStatus.OPEN, BackorderStatus.ETA_UPDATED):
        if moved and backorder.id is not None:
            changes.note(session, changes.expected_date_changed(backorder.id, old, eta))
        return False
    transition(
        session,
        backorder=backorder,
        to=BackorderStatus.ETA_UPDATED,
        actor=actor,
        reason=reason,
        at=at,
        audit_before={"expected_fulfillment_date": old} if moved else None,
        audit_after={"expected_fulfillment_date": eta} if moved else None,
    )
    return True


def record_fulfilment(
    session: Session,
    *,
    backorder: Backorder,
    quantity: int,
    actor: str,
    reason: str,
    at: datetime | None = None,
) -> BackorderStatusChange:
    """Reduce the open quantity by ``quantity`` units: partially resolved, or resolved at zero."""
    if quantity <= 0 or quantity > backorder.open_quantity:
        raise BackorderCreationError(
            f"fulfilled quantity must be between 1 and {backorder.open_quantity}, got {quantity}",
            field="quantity",
        )
    remaining = backorder.open_quantity - quantity
    target = BackorderStatus.RESOLVED if remaining == 0 else BackorderStatus.PARTIALLY_RESOLVED
    change = transition(
        session,
        backorder=backorder,
        to=target,
        actor=actor,
        reason=reason,
        at=at,
        audit_before={"open_quantity": backorder.open_quantity},
        audit_after={"open_quantity": remaining},
    )
    backorder.open_quantity = remaining
    session.flush()
    return change


def _new_backorder(
    session: Session,
    *,
    order_line_id: int,
    po_line_id: int | None,
    quantity: int,
    unit_price: Decimal,
    root_cause: RootCause,
    expected: date | None,
    actor: str,
    reason: str,
    at: datetime,
    notify: list[NotificationRule],
) -> Backorder:
    backorder = Backorder(
        # A unique placeholder until the id is known; replaced below in the same transaction.
        number=f"pending-{uuid.uuid4().hex}",
        order_line_id=order_line_id,
        po_line_id=po_line_id,
        quantity=quantity,
        open_quantity=quantity,
        root_cause=root_cause,
        status=BackorderStatus.OPEN,
        value_at_risk=to_money(unit_price * quantity),
        expected_fulfillment_date=expected,
        reason=reason,
        created_at=at,
        created_by=actor,
        updated_at=at,
    )
    backorder.history.append(
        BackorderStatusChange(
            from_status=None,
            to_status=BackorderStatus.OPEN,
            changed_at=at,
            changed_by=actor,
            reason=reason,
        )
    )
    session.add(backorder)
    session.flush()
    backorder.number = backorder_number(backorder.id, at.year)
    session.flush()
    changes.note(
        session,
        changes.backorder_created(
            backorder.id,
            order_line_id=order_line_id,
            po_line_id=po_line_id,
            quantity=quantity,
            root_cause=root_cause,
            status=BackorderStatus.OPEN,
            expected=expected,
            value_at_risk=backorder.value_at_risk,
        ),
    )
    notification_rules.notify_backorder_created(session, backorder, rules=notify)
    return backorder


def _created_rules(session: Session) -> list[NotificationRule]:
    """The policy's immediate ``backorder_created`` rules (read once per service call)."""
    return notification_rules.immediate_rules(policy_in_force(session), notification_rules.CREATED)


def create_manual(
    session: Session,
    *,
    order_line_id: int,
    quantity: int,
    actor: str,
    reason: str,
    root_cause: RootCause = RootCause.OTHER,
    po_line_id: int | None = None,
    expected_fulfillment_date: date | None = None,
    at: datetime | None = None,
) -> Backorder:
    """Create a backorder by hand for ``quantity`` units of an order line's open quantity."""
    line = repo.get_order_line(session=session, order_line_id=order_line_id)
    if not reason.strip():
        raise BackorderCreationError("a backorder needs a reason", field="reason")
    if line.status in (OrderStatus.SHIPPED, OrderStatus.CANCELLED):
        raise BackorderCreationError(
            f"order line {order_line_id} is {line.status.value}", field="order_line_id"
        )
    if not 0 < quantity <= line.open_quantity:
        raise BackorderCreationError(
            f"quantity must be between 1 and the line's open quantity {line.open_quantity},"
            f" got {quantity}",
            field="quantity",
        )
    if repo.active_backorder_for_line(session=session, order_line_id=order_line_id):
        raise BackorderCreationError(
            f"order line {order_line_id} already has an active backorder", field="order_line_id"
        )
    if po_line_id is not None:
        repo.get_po_line(session=session, po_line_id=po_line_id)
    return _new_backorder(
        session,
        order_line_id=order_line_id,
        po_line_id=po_line_id,
        quantity=quantity,
        unit_price=line.unit_price,
        root_cause=root_cause,
        expected=expected_fulfillment_date,
        actor=actor,
        reason=reason,
        at=at or utcnow(),
        notify=_created_rules(session),
    )


@dataclass(frozen=True)
class AffectedLine:
    """One customer order line hit by a PO delay (quantities in units, values in USD)."""

    order_line_id: int
    order_number: str
    customer_code: str
    customer_name: str
    tier: Tier
    is_emergency: bool
    promised_date: date
    open_quantity: int
    value_at_risk: Decimal
    backorder_id: int | None
    backorder_number: str | None
    action: str  # "created", "eta_updated", "unchanged", "not_late"


@dataclass(frozen=True)
class DelayImpact:
    """What a PO delay did: the ETA change and every allocated order line it touched."""

    po_line_id: int
    previous_eta: date | None
    new_eta: date
    lines: list[AffectedLine] = field(default_factory=list)

    @property
    def backordered_quantity(self) -> int:
        return sum(a.open_quantity for a in self.lines if a.backorder_id is not None)

    @property
    def value_at_risk(self) -> Decimal:
        return sum(
            (a.value_at_risk for a in self.lines if a.backorder_id is not None), Decimal("0.00")
        )

    @property
    def customers_affected(self) -> int:
        return len({a.customer_code for a in self.lines if a.backorder_id is not None})


def apply_po_delay(
    session: Session,
    *,
    po_line_id: int,
    new_eta: date,
    actor: str,
    reason: str,
    root_cause: RootCause = RootCause.SUPPLIER_DELAY,
    at: datetime | None = None,
) -> DelayImpact:
    """Record a supplier's new ETA for a PO line and backorder the customer lines it breaks.

    One backorder per open customer order line allocated to the PO line whose promised date
    falls before the new ETA (a line still served in time is reported as ``not_late``). A line
    that already has an active backorder gets ``eta_updated`` (when its status allows it) and
    the new expected date instead of a second backorder.
    """
    at = at or utcnow()
    if not reason.strip():
        raise BackorderCreationError("a delay needs a reason", field="reason")
    po_line = repo.get_po_line(session=session, po_line_id=po_line_id, for_update=True)
    previous = po_line.current_eta or po_line.promised_date
    if po_line.status.value in ("received", "cancelled"):
        raise BackorderCreationError(
            f"purchase order line {po_line_id} is {po_line.status.value}", field="po_line_id"
        )
    session.add(
        EtaChange(
            po_line=po_line,
            recorded_at=at,
            previous_eta=po_line.current_eta,
            new_eta=new_eta,
            reason=reason,
        )
    )
    changes.note(session, changes.eta_changed(po_line.id, po_line.current_eta, new_eta))
    po_line.current_eta = new_eta

    impact = DelayImpact(po_line_id=po_line_id, previous_eta=previous, new_eta=new_eta)
    notify: list[NotificationRule] | None = None
    for line, order, customer in repo.lines_waiting_on_po_line(
        session=session, po_line_id=po_line_id
    ):
        open_qty = line.open_quantity
        value = to_money(line.unit_price * open_qty)
        existing = repo.active_backorder_for_line(session=session, order_line_id=line.id)
        if existing is not None:
            moved = expect_on(
                session,
                backorder=existing,
                eta=new_eta,
                actor=actor,
                reason=f"ETA {previous} -> {new_eta}: {reason}",
                at=at,
            )
            action = "eta_updated" if moved else "unchanged"
            backorder: Backorder | None = existing
        elif new_eta > order.promised_date:
            if notify is None:
                notify = _created_rules(session)
            backorder = _new_backorder(
                session,
                order_line_id=line.id,
                po_line_id=po_line_id,
                quantity=open_qty,
                unit_price=line.unit_price,
                root_cause=root_cause,
                expected=new_eta,
                actor=actor,
                reason=f"PO line {po_line_id} delayed to {new_eta}: {reason}",
                at=at,
                notify=notify,
            )
            action = "created"
        else:
            backorder, action = None, "not_late"
        impact.lines.append(
            AffectedLine(
                order_line_id=line.id,
                order_number=order.number,
                customer_code=customer.code,
                customer_name=customer.name,
                tier=customer.tier,
                is_emergency=order.is_emergency,
                promised_date=order.promised_date,
                open_quantity=open_qty,
                value_at_risk=value,
                backorder_id=backorder.id if backorder else None,
                backorder_number=backorder.number if backorder else None,
                action=action,
            )
        )
    session.flush()
    return impact

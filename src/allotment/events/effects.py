"""What each event type does, through the domain services (one function per type).

Each effect runs inside its own savepoint (see :mod:`allotment.events.service`) and returns what
it touched; every timestamp it writes is the event's ``occurred_at``, so the same events applied
in the same order write the same rows whenever they are applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from allotment.audit.changes import Change, collecting
from allotment.domain import backorders as backorder_service
from allotment.domain import contracts, orders, supply
from allotment.domain import repository as domain_repo
from allotment.domain.models import Backorder, PurchaseOrderLine
from allotment.events import repository as repo
from allotment.events.schemas import (
    ContractChanged,
    EtaUpdated,
    GoodsReceived,
    InventoryAdjusted,
    OrderCancelled,
    OrderCreated,
    PoDelayed,
)
from allotment.notify import outbox


@dataclass
class Effect:
    """The outcome of one event: applied or stale, what it touched, what needs re-scoring."""

    status: str = "applied"
    touched: dict[str, Any] = field(default_factory=dict)
    rescore: list[int] = field(default_factory=list)
    subject: str | None = None
    #: The audited state changes it made, in order (see :mod:`allotment.audit.changes`).
    changes: list[Change] = field(default_factory=list)


def po_line_subject(line: PurchaseOrderLine) -> str:
    return f"po_line:{line.id}"


def _stale(session: Session, line: PurchaseOrderLine, event: PoDelayed | EtaUpdated) -> bool:
    """An ETA learned before the one in force is stale (ties: the larger event id wins)."""
    latest = repo.eta_learned_at(session=session, po_line_id=line.id)
    if latest is None or event.occurred_at > latest:
        return False
    if event.occurred_at < latest:
        return True
    return repo.later_eta_event_at(
        session=session,
        subject=po_line_subject(line),
        occurred_at=event.occurred_at,
        event_id=event.event_id,
    )


def _eta_line(
    session: Session, event: PoDelayed | EtaUpdated
) -> tuple[PurchaseOrderLine, str, Effect | None]:
    """The PO line an ETA event is about, its subject, and the ``stale`` outcome if it is."""
    line = repo.po_line_by_ref(session=session, po_number=event.po_number, line_no=event.line_no)
    subject = po_line_subject(line)
    if _stale(session, line, event):
        return line, subject, Effect(status="stale", subject=subject, touched={"po_line": line.id})
    return line, subject, None


def po_delayed(session: Session, event: PoDelayed, actor: str) -> Effect:
    line, subject, stale = _eta_line(session, event)
    if stale is not None:
        return stale
    previous = line.current_eta or line.promised_date
    impact = backorder_service.apply_po_delay(
        session,
        po_line_id=line.id,
        new_eta=event.new_eta,
        actor=actor,
        reason=event.reason,
        root_cause=event.root_cause,
        at=event.occurred_at,
    )
    repo.eta_learned(session=session, po_line_id=line.id, at=event.occurred_at)
    created = [a.backorder_id for a in impact.lines if a.action == "created"]
    updated = [a.backorder_id for a in impact.lines if a.action in ("eta_updated", "unchanged")]
    touched = {
        "po_line": line.id,
        "backorders_created": created,
        "backorders_updated": updated,
        "customers_affected": impact.customers_affected,
        "value_at_risk": str(impact.value_at_risk),
    }
    ids = [i for i in created + updated if i is not None]
    _tell_customers(session, ids, previous, event.new_eta, event)
    return Effect(touched=touched, rescore=ids, subject=subject)


def _tell_customers(
    session: Session,
    backorder_ids: list[int],
    old: date | None,
    new: date,
    event: PoDelayed | EtaUpdated,
) -> None:
    """Enqueue the customer ETA-change message of each backorder whose date moved (once per
    event: re-sending it applies nothing, and the outbox dedupes on the event id)."""
    for backorder_id in backorder_ids:
        backorder = session.get(Backorder, backorder_id)
        if backorder is not None:
            outbox.notify_eta_change(
                session, backorder, old, new, event_id=event.event_id, now=event.occurred_at
            )


def eta_updated(session: Session, event: EtaUpdated, actor: str) -> Effect:
    line, subject, stale = _eta_line(session, event)
    if stale is not None:
        return stale
    previous = line.current_eta or line.promised_date
    ids = supply.update_eta(
        session,
        po_line_id=line.id,
        eta=event.eta,
        actor=actor,
        reason=event.reason,
        at=event.occurred_at,
    )
    repo.eta_learned(session=session, po_line_id=line.id, at=event.occurred_at)
    _tell_customers(session, ids, previous, event.eta, event)
    return Effect(
        touched={"po_line": line.id, "backorders_updated": ids}, rescore=ids, subject=subject
    )


def goods_received(session: Session, event: GoodsReceived, actor: str) -> Effect:
    line = repo.po_line_by_ref(session=session, po_number=event.po_number, line_no=event.line_no)
    served = supply.receive_goods(
        session,
        po_line_id=line.id,
        quantity=event.quantity,
        received_on=event.received_on or event.occurred_at.date(),
        actor=actor,
        at=event.occurred_at,
    )
    return Effect(
        touched={
            "po_line": line.id,
            "backorders": [
                {"id": f.backorder_id, "units": f.units, "status": f.status.value} for f in served
            ],
        },
        rescore=[f.backorder_id for f in served],
    )


def order_created(session: Session, event: OrderCreated, actor: str) -> Effect:
    customer = repo.customer_by_code(session=session, code=event.customer_code)
    location = repo.location_by_code(session=session, code=event.location_code)
    products = repo.products_by_sku(session=session, skus=[ln.sku for ln in event.lines])
    order = orders.create_order(
        session,
        number=event.order_number,
        customer_id=customer.id,
        location_id=location.id,
        ordered_on=event.ordered_on,
        requested_date=event.requested_date,
        promised_date=event.promised_date,
        is_emergency=event.is_emergency,
        lines=[
            orders.NewLine(
                line_no=ln.line_no,
                product_id=products[ln.sku].id,
                quantity=ln.quantity,
                unit_price=ln.unit_price
                if ln.unit_price is not None
                else products[ln.sku].unit_price,
            )
            for ln in event.lines
        ],
    )
    # No backorder yet: nothing to score (a delay on its supply creates them).
    return Effect(touched={"order": order.id, "lines": len(order.lines)})


def order_cancelled(session: Session, event: OrderCancelled, actor: str) -> Effect:
    order = repo.order_by_number(session=session, number=event.order_number)
    cancelled = orders.cancel_order(
        session,
        order=order,
        line_nos=event.line_nos,
        actor=actor,
        reason=event.reason,
        at=event.occurred_at,
    )
    # The customer's open backorder value fell: their other backorders' churn share changes.
    others = _active_of_customer(session, order.customer_id) if cancelled else []
    return Effect(touched={"order": order.id, "backorders_cancelled": cancelled}, rescore=others)


def contract_changed(session: Session, event: ContractChanged, actor: str) -> Effect:
    customer = repo.customer_by_code(session=session, code=event.customer_code)
    terms = {t: getattr(event, t) for t in contracts.TERMS if getattr(event, t) is not None}
    contract = contracts.change_contract(
        session,
        customer=customer,
        effective_from=event.effective_from,
        terms=terms,
        tier=event.tier,
    )
    ids = _active_of_customer(session, customer.id)
    return Effect(
        touched={
            "customer": customer.id,
            "contract_version": contract.version,
            "tier": customer.tier.value,
            "backorders_reprioritized": ids,
        },
        rescore=ids,
    )


def inventory_adjusted(session: Session, event: InventoryAdjusted, actor: str) -> Effect:
    product = repo.products_by_sku(session=session, skus=[event.sku])[event.sku]
    location = repo.location_by_code(session=session, code=event.location_code)
    position = supply.adjust_inventory(
        session,
        product_id=product.id,
        location_id=location.id,
        delta=event.delta,
        on_hand=event.on_hand,
        at=event.occurred_at,
    )
    return Effect(
        touched={
            "inventory": {
                "sku": product.sku,
                "location": location.code,
                "on_hand": position.on_hand,
            }
        }
    )


def _active_of_customer(session: Session, customer_id: int) -> list[int]:
    return [
        b.id
        for b in domain_repo.active_backorders_of_customer(session=session, customer_id=customer_id)
    ]


def run(session: Session, type_: str, event: Any, actor: str) -> Effect:
    """The effect of ``event`` (of type ``type_``) with the state changes it made."""
    with collecting(session) as made:
        effect = EFFECTS[type_](session, event, actor)
    effect.changes = list(made)
    return effect


EFFECTS: dict[str, Callable[[Session, Any, str], Effect]] = {
    "po_delayed": po_delayed,
    "eta_updated": eta_updated,
    "goods_received": goods_received,
    "order_created": order_created,
    "order_cancelled": order_cancelled,
    "contract_changed": contract_changed,
    "inventory_adjusted": inventory_adjusted,
}

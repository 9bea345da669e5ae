"""SQL for allocation: the demand and supply it reads, the plans it writes.

Keyword-only, typed; never commits (the caller does). Money is read as Decimal and handed to
the optimizer as float USD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from allotment.domain.models import (
    ACTIVE_BACKORDER_STATUSES,
    Allocation,
    AllocationRun,
    Backorder,
    Contract,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    InventoryPosition,
    Location,
    Product,
    ProductSubstitute,
    PurchaseOrder,
    PurchaseOrderLine,
    ScoreRun,
    ScoreSnapshot,
)
from allotment.scoring.repository import latest_snapshot_ids

#: PO line statuses whose open quantity is still to come.
_OPEN_SUPPLY = ("open", "partially_received")


@dataclass(frozen=True)
class DemandRow:
    """One active backorder with what the optimizer needs to know about it."""

    backorder_id: int
    number: str
    order_line_id: int
    order_id: int
    customer_id: int
    tier: str
    is_emergency: bool
    product_id: int
    sku: str
    location_id: int
    location: str
    open_quantity: int
    unit_price: Decimal
    value_at_risk: Decimal
    promised_date: date
    ordered_on: date
    allows_partial_ship: bool
    allows_substitution: bool
    fill_rate_commitment: float
    priority: float | None  # the latest score snapshot's priority (USD-equivalent), if any
    p_supplier_delay: float | None
    po_line_id: int | None


def open_demand(*, session: Session) -> list[DemandRow]:
    """Active backorders with their order, customer, latest contract and latest snapshot."""
    latest_snap = latest_snapshot_ids()
    latest_contract = (
        select(Contract.customer_id, func.max(Contract.version).label("version"))
        .group_by(Contract.customer_id)
        .subquery()
    )
    stmt = (
        select(
            Backorder.id,
            Backorder.number,
            Backorder.order_line_id,
            CustomerOrder.id,
            Customer.id,
            Customer.tier,
            CustomerOrder.is_emergency,
            Product.id,
            Product.sku,
            Location.id,
            Location.code,
            Backorder.open_quantity,
            CustomerOrderLine.unit_price,
            Backorder.value_at_risk,
            CustomerOrder.promised_date,
            CustomerOrder.ordered_on,
            Contract.allows_partial_ship,
            Contract.allows_substitution,
            Contract.fill_rate_commitment,
            ScoreSnapshot.priority,
            ScoreSnapshot.p_supplier_delay,
            Backorder.po_line_id,
        )
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(Customer, Customer.id == CustomerOrder.customer_id)
        .join(Product, Product.id == CustomerOrderLine.product_id)
        .join(Location, Location.id == CustomerOrder.location_id)
        .outerjoin(latest_contract, latest_contract.c.customer_id == Customer.id)
        .outerjoin(
            Contract,
            (Contract.customer_id == Customer.id) & (Contract.version == latest_contract.c.version),
        )
        .outerjoin(latest_snap, latest_snap.c.backorder_id == Backorder.id)
        .outerjoin(ScoreSnapshot, ScoreSnapshot.id == latest_snap.c.id)
        .where(Backorder.status.in_(ACTIVE_BACKORDER_STATUSES), Backorder.open_quantity > 0)
        .order_by(Backorder.id)
    )
    out: list[DemandRow] = []
    for r in session.execute(stmt).all():
        out.append(
            DemandRow(
                backorder_id=r[0],
                number=r[1],
                order_line_id=r[2],
                order_id=r[3],
                customer_id=r[4],
                tier=r[5].value,
                is_emergency=bool(r[6]),
                product_id=r[7],
                sku=r[8],
                location_id=r[9],
                location=r[10],
                open_quantity=r[11],
                unit_price=r[12],
                value_at_risk=r[13],
                promised_date=r[14],
                ordered_on=r[15],
                allows_partial_ship=True if r[16] is None else bool(r[16]),
                allows_substitution=bool(r[17]),
                fill_rate_commitment=float(r[18] or 0.0),
                priority=None if r[19] is None else float(r[19]),
                p_supplier_delay=None if r[20] is None else float(r[20]),
                po_line_id=r[21],
            )
        )
    return out


def free_stock(*, session: Session) -> list[tuple[int, str, int, str, int]]:
    """(product id, SKU, location id, location code, on hand − committed) where positive."""
    free = InventoryPosition.on_hand - InventoryPosition.committed
    stmt = (
        select(Product.id, Product.sku, Location.id, Location.code, free)
        .join(Product, Product.id == InventoryPosition.product_id)
        .join(Location, Location.id == InventoryPosition.location_id)
        .where(free > 0)
    )
    return [(a, b, c, d, int(e)) for a, b, c, d, e in session.execute(stmt).all()]


@dataclass(frozen=True)
class SupplyLine:
    """An open PO line's quantity still to come."""

    po_line_id: int
    supplier_id: int
    product_id: int
    sku: str
    location_id: int
    location: str
    quantity: int
    eta: date


def open_po_lines(*, session: Session) -> list[SupplyLine]:
    """Open PO lines with their open quantity and current ETA (promised date when unknown)."""
    stmt = (
        select(
            PurchaseOrderLine.id,
            PurchaseOrder.supplier_id,
            Product.id,
            Product.sku,
            Location.id,
            Location.code,
            PurchaseOrderLine.quantity - PurchaseOrderLine.received_quantity,
            func.coalesce(PurchaseOrderLine.current_eta, PurchaseOrderLine.promised_date),
        )
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .join(Product, Product.id == PurchaseOrderLine.product_id)
        .join(Location, Location.id == PurchaseOrder.location_id)
        .where(
            PurchaseOrderLine.status.in_(_OPEN_SUPPLY),
            PurchaseOrderLine.quantity > PurchaseOrderLine.received_quantity,
        )
    )
    return [SupplyLine(*r) for r in session.execute(stmt).all()]


def late_receipts(*, session: Session, supplier_ids: Sequence[int]) -> list[tuple[int, date, date]]:
    """(supplier id, promised date, received on) of received PO lines that came late."""
    if not supplier_ids:
        return []
    stmt = (
        select(
            PurchaseOrder.supplier_id,
            PurchaseOrderLine.promised_date,
            PurchaseOrderLine.received_on,
        )
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(
            PurchaseOrder.supplier_id.in_(sorted(set(supplier_ids))),
            PurchaseOrderLine.received_on.is_not(None),
            PurchaseOrderLine.received_on > PurchaseOrderLine.promised_date,
        )
    )
    return [(int(s), p, r) for s, p, r in session.execute(stmt).all() if r is not None]


def substitutes(*, session: Session) -> list[tuple[str, str, float]]:
    """(SKU, substitute SKU, price premium rate) for every approved substitute."""
    sub = Product.__table__.alias("sub")
    stmt = (
        select(Product.sku, sub.c.sku, ProductSubstitute.price_premium_rate)
        .join(Product, Product.id == ProductSubstitute.product_id)
        .join(sub, sub.c.id == ProductSubstitute.substitute_id)
    )
    return [(a, b, float(c)) for a, b, c in session.execute(stmt).all()]


def locations(*, session: Session) -> list[tuple[int, str, str]]:
    """(id, code, region) of every location."""
    return [tuple(r) for r in session.execute(select(Location.id, Location.code, Location.region))]  # type: ignore[misc]


def latest_score_day(*, session: Session) -> date | None:
    """The day the latest scoring run computed features as of."""
    return session.scalars(
        select(ScoreRun.as_of)
        .where(ScoreRun.as_of.is_not(None))
        .order_by(ScoreRun.id.desc())
        .limit(1)
    ).one_or_none()


def latest_order_day(*, session: Session) -> date | None:
    """The most recent order date in the database."""
    return session.scalar(select(func.max(CustomerOrder.ordered_on)))


def latest_run(*, session: Session) -> AllocationRun | None:
    """The latest committed allocation run."""
    return session.scalars(
        select(AllocationRun).order_by(AllocationRun.id.desc()).limit(1)
    ).one_or_none()


def units_by_backorder(*, session: Session, run_id: int) -> dict[int, int]:
    """Units each backorder got in a run."""
    stmt = (
        select(Allocation.backorder_id, func.sum(Allocation.quantity))
        .where(Allocation.run_id == run_id)
        .group_by(Allocation.backorder_id)
    )
    return {int(b): int(q) for b, q in session.execute(stmt).all()}


def locked_units(*, session: Session, run_id: int) -> dict[int, int]:
    """Units each backorder keeps from a committed run: its reservations on PO lines still open.

    Units a commit shipped from stock on hand have left the backlog already (the backorder's
    open quantity went down); a reservation on a PO line that was received or cancelled since
    is not held any more.
    """
    stmt = (
        select(Allocation.backorder_id, func.sum(Allocation.quantity))
        .join(PurchaseOrderLine, PurchaseOrderLine.id == Allocation.po_line_id)
        .where(Allocation.run_id == run_id, PurchaseOrderLine.status.in_(_OPEN_SUPPLY))
        .group_by(Allocation.backorder_id)
    )
    return {int(b): int(q) for b, q in session.execute(stmt).all()}


def add_run(*, session: Session, run: AllocationRun) -> AllocationRun:
    session.add(run)
    session.flush()
    return run


def add_allocations(*, session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk insert allocation rows (executemany)."""
    if rows:
        session.execute(insert(Allocation), rows)
        session.flush()


def backorders_by_id(*, session: Session, ids: Sequence[int]) -> dict[int, Backorder]:
    out: dict[int, Backorder] = {}
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), 5000):
        chunk = wanted[i : i + 5000]
        for bo in session.scalars(select(Backorder).where(Backorder.id.in_(chunk))):
            out[bo.id] = bo
    return out


def commit_stock(*, session: Session, product_id: int, location_id: int, units: int) -> None:
    """Mark ``units`` of free stock as committed (promised to order lines)."""
    pos = session.scalars(
        select(InventoryPosition)
        .where(
            InventoryPosition.product_id == product_id,
            InventoryPosition.location_id == location_id,
        )
        .with_for_update()
    ).one()
    pos.committed += units
    session.flush()

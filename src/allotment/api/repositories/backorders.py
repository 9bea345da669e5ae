"""The backorder queue: filtered, sorted, keyset-paginated reads, and the detail view's rows.

Keyset (not offset) pagination: a page starts strictly after the last row of the previous one
in ``(sort key, id)`` order, so rows inserted meanwhile never shift or repeat a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    exists,
    func,
    inspect,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from allotment.domain.enums import BackorderStatus, Tier
from allotment.domain.lifecycle import ACTIVE_STATUSES
from allotment.domain.models import (
    Backorder,
    BackorderStatusChange,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    InventoryPosition,
    PolicyVersion,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    ScoreSnapshot,
)
from allotment.scoring.repository import latest_snapshot_ids

# Stands in for a missing priority (never scored) so such rows sort last when descending.
UNSCORED_PRIORITY = -1.0e300


class SortKey(StrEnum):
    PRIORITY = "priority"
    VALUE = "value"
    AGE = "age"
    CREATED = "created"


class SortOrder(StrEnum):
    ASC = "asc"
    DESC = "desc"


class AgeBucket(StrEnum):
    """Whole days since creation: 0-7, 8-14, 15 and more."""

    D0_7 = "0-7"
    D8_14 = "8-14"
    D15_PLUS = "15+"


@dataclass(frozen=True)
class BackorderFilters:
    """What the queue is narrowed to; None means "any". Money in USD, risks in 0..1."""

    statuses: Sequence[BackorderStatus] | None = None
    tiers: Sequence[Tier] | None = None
    priority_min: float | None = None
    priority_max: float | None = None
    age_bucket: AgeBucket | None = None
    supplier_id: int | None = None
    product_id: int | None = None
    category: str | None = None
    location_id: int | None = None
    value_min: Decimal | None = None
    value_max: Decimal | None = None
    churn_risk_min: float | None = None
    sla_breach_risk_min: float | None = None
    fillable_elsewhere: bool | None = None


@dataclass(frozen=True)
class QueueRow:
    backorder: Backorder
    line: CustomerOrderLine
    order: CustomerOrder
    customer: Customer
    product: Product
    supplier_id: int | None


def _latest(column: Any) -> Any:
    """The backorder's value of ``column`` in its latest score snapshot (correlated)."""
    return (
        select(column)
        .where(ScoreSnapshot.backorder_id == Backorder.id)
        .order_by(ScoreSnapshot.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _supplier() -> Any:
    # The PO the backorder waits on names the supplier; otherwise the product's usual one.
    return func.coalesce(PurchaseOrder.supplier_id, Product.supplier_id)


def _base() -> Select[Any]:
    return (
        select(
            Backorder, CustomerOrderLine, CustomerOrder, Customer, Product, _supplier().label("sup")
        )
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(Customer, Customer.id == CustomerOrder.customer_id)
        .join(Product, Product.id == CustomerOrderLine.product_id)
        .outerjoin(PurchaseOrderLine, PurchaseOrderLine.id == Backorder.po_line_id)
        .outerjoin(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
    )


def _conditions(f: BackorderFilters, *, now: datetime) -> list[ColumnElement[bool]]:
    c: list[ColumnElement[bool]] = []
    if f.statuses:
        c.append(Backorder.status.in_(list(f.statuses)))
    if f.tiers:
        c.append(Customer.tier.in_(list(f.tiers)))
    if f.priority_min is not None:
        c.append(Backorder.priority >= f.priority_min)
    if f.priority_max is not None:
        c.append(Backorder.priority <= f.priority_max)
    if f.age_bucket is AgeBucket.D0_7:
        c.append(Backorder.created_at > now - timedelta(days=8))
    elif f.age_bucket is AgeBucket.D8_14:
        c.append(Backorder.created_at <= now - timedelta(days=8))
        c.append(Backorder.created_at > now - timedelta(days=15))
    elif f.age_bucket is AgeBucket.D15_PLUS:
        c.append(Backorder.created_at <= now - timedelta(days=15))
    if f.supplier_id is not None:
        c.append(_supplier() == f.supplier_id)
    if f.product_id is not None:
        c.append(CustomerOrderLine.product_id == f.product_id)
    if f.category is not None:
        c.append(Product.category == f.category)
    if f.location_id is not None:
        c.append(CustomerOrder.location_id == f.location_id)
    if f.value_min is not None:
        c.append(Backorder.value_at_risk >= f.value_min)
    if f.value_max is not None:
        c.append(Backorder.value_at_risk <= f.value_max)
    if f.churn_risk_min is not None:
        c.append(_latest(ScoreSnapshot.p_churn) >= f.churn_risk_min)
    if f.sla_breach_risk_min is not None:
        c.append(_latest(ScoreSnapshot.p_sla_breach) >= f.sla_breach_risk_min)
    if f.fillable_elsewhere is not None:
        ip = aliased(InventoryPosition)
        elsewhere = exists(
            select(ip.id).where(
                ip.product_id == CustomerOrderLine.product_id,
                ip.location_id != CustomerOrder.location_id,
                ip.on_hand - ip.committed >= Backorder.open_quantity,
            )
        )
        c.append(elsewhere if f.fillable_elsewhere else ~elsewhere)
    return c


def sort_column(sort: SortKey) -> Any:
    if sort is SortKey.PRIORITY:
        return func.coalesce(Backorder.priority, UNSCORED_PRIORITY)
    if sort is SortKey.VALUE:
        return Backorder.value_at_risk
    return Backorder.created_at


def ascending(sort: SortKey, order: SortOrder) -> bool:
    """Age descending (oldest first) is creation time ascending."""
    asc = order is SortOrder.ASC
    return not asc if sort is SortKey.AGE else asc


class _Sorted(Protocol):
    @property
    def priority(self) -> float | None: ...
    @property
    def value_at_risk(self) -> Decimal: ...
    @property
    def created_at(self) -> datetime: ...


def sort_value(sort: SortKey, backorder: _Sorted) -> Any:
    """The row's sort key, as the cursor stores it."""
    if sort is SortKey.PRIORITY:
        return backorder.priority if backorder.priority is not None else UNSCORED_PRIORITY
    if sort is SortKey.VALUE:
        return backorder.value_at_risk
    return backorder.created_at


def _id_query(f: BackorderFilters) -> Select[Any]:
    """Backorder ids joined only to the tables the filters read (a join per row is the cost)."""
    needs_line = any(
        v is not None
        for v in (f.product_id, f.category, f.location_id, f.supplier_id, f.fillable_elsewhere)
    ) or bool(f.tiers)
    needs_order = f.location_id is not None or f.fillable_elsewhere is not None or bool(f.tiers)
    needs_product = f.category is not None or f.supplier_id is not None
    stmt = select(Backorder.id)
    if needs_line:
        stmt = stmt.join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
    if needs_order:
        stmt = stmt.join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
    if f.tiers:
        stmt = stmt.join(Customer, Customer.id == CustomerOrder.customer_id)
    if needs_product:
        stmt = stmt.join(Product, Product.id == CustomerOrderLine.product_id)
    if f.supplier_id is not None:
        stmt = stmt.outerjoin(PurchaseOrderLine, PurchaseOrderLine.id == Backorder.po_line_id)
        stmt = stmt.outerjoin(
            PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id
        )
    return stmt


def list_ids(
    *,
    session: Session,
    filters: BackorderFilters,
    sort: SortKey,
    order: SortOrder,
    limit: int,
    after: tuple[Any, int] | None,
    now: datetime,
) -> list[int]:
    """Up to ``limit`` ids in ``(sort key, id)`` order, strictly after ``after`` if given."""
    key = sort_column(sort)
    asc = ascending(sort, order)
    stmt = _id_query(filters).where(*_conditions(filters, now=now))
    if after is not None:
        value, last_id = after
        if asc:
            stmt = stmt.where(or_(key > value, and_(key == value, Backorder.id > last_id)))
        else:
            stmt = stmt.where(or_(key < value, and_(key == value, Backorder.id < last_id)))
    stmt = stmt.order_by(key.asc() if asc else key.desc()).order_by(
        Backorder.id.asc() if asc else Backorder.id.desc()
    )
    return list(session.scalars(stmt.limit(limit)))


def list_queue(
    *,
    session: Session,
    filters: BackorderFilters,
    sort: SortKey,
    order: SortOrder,
    limit: int,
    after: tuple[Any, int] | None,
    now: datetime,
) -> list[QueueRow]:
    """Up to ``limit`` rows in ``(sort key, id)`` order, strictly after ``after`` if given."""
    ids = list_ids(
        session=session,
        filters=filters,
        sort=sort,
        order=order,
        limit=limit,
        after=after,
        now=now,
    )
    if not ids:
        return []
    # Second step: the page's rows with everything the list shows, put back in page order.
    found = {r[0].id: r for r in session.execute(_base().where(Backorder.id.in_(ids))).all()}
    return [QueueRow(*found[i]) for i in ids]


def _list_items() -> Select[*tuple[Any, ...]]:
    latest = latest_snapshot_ids(bindparam("ids", expanding=True))
    return (
        select(
            Backorder.id,
            Backorder.number,
            Backorder.status,
            Customer.id.label("customer_id"),
            Customer.code.label("customer_code"),
            Customer.name.label("customer_name"),
            Customer.tier,
            Customer.account_manager,
            Product.id.label("product_id"),
            Product.sku,
            Product.name.label("product_name"),
            Product.category,
            CustomerOrder.location_id,
            Backorder.order_line_id,
            Backorder.po_line_id,
            _supplier().label("supplier_id"),
            Backorder.quantity,
            Backorder.open_quantity,
            Backorder.value_at_risk,
            Backorder.priority,
            ScoreSnapshot.p_churn,
            ScoreSnapshot.p_sla_breach,
            Backorder.root_cause,
            Backorder.expected_fulfillment_date,
            Backorder.created_at,
        )
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(Customer, Customer.id == CustomerOrder.customer_id)
        .join(Product, Product.id == CustomerOrderLine.product_id)
        .outerjoin(PurchaseOrderLine, PurchaseOrderLine.id == Backorder.po_line_id)
        .outerjoin(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .outerjoin(latest, latest.c.backorder_id == Backorder.id)
        .outerjoin(ScoreSnapshot, ScoreSnapshot.id == latest.c.id)
        .where(Backorder.id.in_(bindparam("ids", expanding=True)))
    )


# Built once: a statement object costs more to build than its cached SQL costs to run.
_LIST_ITEMS = _list_items()


def list_items(*, session: Session, ids: Sequence[int]) -> list[Row[*tuple[Any, ...]]]:
    """The API list's columns of the backorders ``ids`` (in that order), with latest risks.

    Plain columns, not entities: a page is 50 rows of six tables, and its snapshots' JSON
    columns are not shown, so neither is loaded.
    """
    if not ids:
        return []
    rows = session.execute(_LIST_ITEMS, {"ids": list(ids)})
    found: dict[int, Row[*tuple[Any, ...]]] = {r.id: r for r in rows}
    return [found[i] for i in ids]


def latest_snapshots(*, session: Session, backorder_ids: Sequence[int]) -> dict[int, ScoreSnapshot]:
    """Each backorder's latest score snapshot (absent when never scored)."""
    if not backorder_ids:
        return {}
    latest_ids = select(latest_snapshot_ids(backorder_ids).c.id)
    snaps = session.scalars(select(ScoreSnapshot).where(ScoreSnapshot.id.in_(latest_ids))).all()
    return {s.backorder_id: s for s in snaps}


class PolicyName(NamedTuple):
    id: int
    name: str
    version: int


@dataclass(frozen=True)
class DetailRows:
    row: QueueRow
    po_line: PurchaseOrderLine | None
    po_number: str | None
    snapshot: ScoreSnapshot | None
    policy: PolicyName | None


def _detail() -> Select[Any]:
    latest = aliased(ScoreSnapshot)
    latest_id = (
        select(func.max(latest.id))
        .where(latest.backorder_id == bindparam("backorder_id"))
        .scalar_subquery()
    )
    return (
        _base()
        .add_columns(
            PurchaseOrderLine,
            PurchaseOrder.number,
            ScoreSnapshot,
            PolicyVersion.id,
            PolicyVersion.name,
            PolicyVersion.version,
        )
        .outerjoin(ScoreSnapshot, ScoreSnapshot.id == latest_id)
        .outerjoin(PolicyVersion, PolicyVersion.id == ScoreSnapshot.policy_version_id)
        .where(Backorder.id == bindparam("backorder_id"))
    )


_DETAIL = _detail()
_HISTORY = (
    select(BackorderStatusChange)
    .where(BackorderStatusChange.backorder_id == bindparam("backorder_id"))
    .order_by(BackorderStatusChange.id)
)


def detail(*, session: Session, backorder_id: int) -> DetailRows | None:
    """Everything the detail view shows: one query, and one for the status history."""
    found = session.execute(_DETAIL, {"backorder_id": backorder_id}).one_or_none()
    if found is None:
        return None
    row = QueueRow(found[0], found[1], found[2], found[3], found[4], found[5])
    if "history" in inspect(row.backorder).unloaded:
        # ``backorder.history`` from a statement built once (its lazy load builds one per call).
        history = session.scalars(_HISTORY, {"backorder_id": backorder_id}).all()
        set_committed_value(row.backorder, "history", list(history))
    policy = None if found[9] is None else PolicyName(found[9], found[10], found[11])
    return DetailRows(
        row=row, po_line=found[6], po_number=found[7], snapshot=found[8], policy=policy
    )


def id_by_number(*, session: Session, number: str) -> int | None:
    """The id of the backorder numbered ``number`` (e.g. ``BO-2025-0000042``), if any."""
    found: int | None = session.scalar(select(Backorder.id).where(Backorder.number == number))
    return found


def neighbours(
    *, session: Session, backorder: Backorder
) -> tuple[Backorder | None, Backorder | None]:
    """The active backorders ranked just above and just below ``backorder`` (by priority, id)."""
    if backorder.priority is None:
        return None, None
    active = Backorder.status.in_(list(ACTIVE_STATUSES))
    p, i = backorder.priority, backorder.id
    above = session.scalars(
        select(Backorder)
        .where(active, or_(Backorder.priority > p, and_(Backorder.priority == p, Backorder.id < i)))
        .order_by(Backorder.priority.asc(), Backorder.id.desc())
        .limit(1)
    ).first()
    below = session.scalars(
        select(Backorder)
        .where(active, or_(Backorder.priority < p, and_(Backorder.priority == p, Backorder.id > i)))
        .order_by(Backorder.priority.desc(), Backorder.id.asc())
        .limit(1)
    ).first()
    return above, below

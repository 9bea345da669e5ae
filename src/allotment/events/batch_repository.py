"""SQL of the set-wise batch path (:mod:`allotment.events.batch`): one SELECT per kind of row a
batch needs, one executemany per kind of row it writes. Core statements on the tables, no ORM
objects. Keyword-only, typed; never commits (the caller does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from allotment.domain.enums import Tier
from allotment.domain.lifecycle import ACTIVE_STATUSES
from allotment.domain.models import (
    Backorder,
    Contract,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    EtaChange,
    InventoryPosition,
    Location,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
)

_CHUNK = 500  # values per IN (...) list
_KEYS: BindParameter[Any] = bindparam("keys", expanding=True)


def _each(session: Session, stmt: Any, values: Iterable[Any]) -> list[Any]:
    """Rows of ``stmt`` for the distinct ``values`` (bound as ``keys``), a chunk at a time.

    The statements are built once, at import: building a select per call cost more than
    running it for a batch of one.
    """
    items = sorted(set(values))
    conn = session.connection()
    out: list[Any] = []
    for i in range(0, len(items), _CHUNK):
        out.extend(conn.execute(stmt, {"keys": items[i : i + _CHUNK]}).all())
    return out


_PO_LINES = (
    select(
        PurchaseOrderLine.id,
        PurchaseOrder.number,
        PurchaseOrderLine.line_no,
        PurchaseOrderLine.product_id,
        PurchaseOrderLine.quantity,
        PurchaseOrderLine.received_quantity,
        PurchaseOrderLine.received_on,
        PurchaseOrderLine.status,
        PurchaseOrderLine.current_eta,
        PurchaseOrderLine.promised_date,
        PurchaseOrder.location_id,
    )
    .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
    .where(tuple_(PurchaseOrder.number, PurchaseOrderLine.line_no).in_(_KEYS))
    .order_by(PurchaseOrderLine.id)
    .with_for_update(of=PurchaseOrderLine)
)


def po_lines(*, session: Session, refs: Iterable[tuple[str, int]]) -> list[Any]:
    """The PO lines ``(po number, line no)`` refers to, locked for the transaction in id order,
    with their PO's number and warehouse."""
    return _each(session, _PO_LINES, refs)


_ETA_LEARNED = (
    select(EtaChange.po_line_id, func.max(EtaChange.recorded_at))
    .where(EtaChange.po_line_id.in_(_KEYS))
    .group_by(EtaChange.po_line_id)
)


def eta_learned(*, session: Session, po_line_ids: Iterable[int]) -> dict[int, datetime]:
    """When the ETA in force on each PO line was learned (lines whose ETA never changed are
    missing)."""
    return {int(r[0]): r[1] for r in _each(session, _ETA_LEARNED, po_line_ids)}


# Backorder columns, with what the batch needs to know of their order line, order, customer
# and product.
_BACKORDERS = (
    select(
        Backorder.id,
        Backorder.number,
        Backorder.order_line_id,
        Backorder.po_line_id,
        Backorder.quantity,
        Backorder.open_quantity,
        Backorder.root_cause,
        Backorder.status,
        Backorder.value_at_risk,
        Backorder.expected_fulfillment_date,
        Backorder.reason,
        Backorder.created_at,
        Backorder.created_by,
        Backorder.updated_at,
        Backorder.closed_at,
        CustomerOrderLine.po_line_id.label("line_po_line_id"),
        CustomerOrderLine.line_no,
        CustomerOrder.number.label("order_number"),
        CustomerOrder.customer_id,
        CustomerOrder.promised_date,
        CustomerOrder.is_emergency,
        Customer.code.label("customer_code"),
        Customer.name.label("customer_name"),
        Product.name.label("product_name"),
        Product.sku,
    )
    .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
    .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
    .join(Customer, Customer.id == CustomerOrder.customer_id)
    .join(Product, Product.id == CustomerOrderLine.product_id)
    .where(Backorder.status.in_(ACTIVE_STATUSES))
    .order_by(Backorder.id)
)
# Two indexed look-ups, not one OR across the join (a scan of every backorder).
_WAITING = _BACKORDERS.where(
    Backorder.id.in_(
        union_all(
            select(Backorder.id).where(Backorder.po_line_id.in_(_KEYS)),
            select(Backorder.id)
            .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
            .where(CustomerOrderLine.po_line_id.in_(_KEYS), Backorder.po_line_id.is_(None)),
        )
    )
)
_OF_LINES = _BACKORDERS.where(Backorder.order_line_id.in_(_KEYS))
_OF_CUSTOMERS = _BACKORDERS.where(CustomerOrder.customer_id.in_(_KEYS))


def backorders_waiting_on(*, session: Session, po_line_ids: Iterable[int]) -> list[Any]:
    """Active backorders whose supply is one of the PO lines (theirs, or their order line's
    when they name none)."""
    return _each(session, _WAITING, po_line_ids)


def active_backorders_of_lines(*, session: Session, order_line_ids: Iterable[int]) -> list[Any]:
    return _each(session, _OF_LINES, order_line_ids)


def active_backorders_of_customers(*, session: Session, customer_ids: Iterable[int]) -> list[Any]:
    return _each(session, _OF_CUSTOMERS, customer_ids)


# Order line columns with their product's.
_LINES = (
    select(
        CustomerOrderLine.id,
        CustomerOrderLine.order_id,
        CustomerOrderLine.line_no,
        CustomerOrderLine.product_id,
        CustomerOrderLine.quantity,
        CustomerOrderLine.unit_price,
        CustomerOrderLine.shipped_quantity,
        CustomerOrderLine.po_line_id,
        CustomerOrderLine.status,
        Product.name.label("product_name"),
        Product.sku,
    )
    .join(Product, Product.id == CustomerOrderLine.product_id)
    .order_by(CustomerOrderLine.id)
)
_LINES_WAITING = _LINES.where(
    CustomerOrderLine.po_line_id.in_(_KEYS),
    CustomerOrderLine.shipped_quantity < CustomerOrderLine.quantity,
    CustomerOrderLine.status.in_(("open", "partially_shipped")),
)
_LINES_OF_ORDERS = _LINES.where(CustomerOrderLine.order_id.in_(_KEYS))
# Order columns with their customer's.
_ORDERS = select(
    CustomerOrder.id,
    CustomerOrder.number,
    CustomerOrder.customer_id,
    CustomerOrder.location_id,
    CustomerOrder.ordered_on,
    CustomerOrder.requested_date,
    CustomerOrder.promised_date,
    CustomerOrder.is_emergency,
    CustomerOrder.status,
    Customer.code.label("customer_code"),
    Customer.name.label("customer_name"),
    Customer.tier,
).join(Customer, Customer.id == CustomerOrder.customer_id)
_ORDERS_BY_ID = _ORDERS.where(CustomerOrder.id.in_(_KEYS))
_ORDERS_BY_NUMBER = (
    _ORDERS.where(CustomerOrder.number.in_(_KEYS))
    .order_by(CustomerOrder.id)
    .with_for_update(of=CustomerOrder)
)


def lines_waiting_on(
    *, session: Session, po_line_ids: Iterable[int]
) -> tuple[list[Any], list[Any]]:
    """Open order lines allocated to the PO lines, and their orders (with the customer)."""
    lines = _each(session, _LINES_WAITING, po_line_ids)
    return lines, _each(session, _ORDERS_BY_ID, (r.order_id for r in lines))


def orders_by_number(*, session: Session, numbers: Iterable[str]) -> tuple[list[Any], list[Any]]:
    """The orders of these numbers, locked in id order, and all their lines."""
    orders = _each(session, _ORDERS_BY_NUMBER, numbers)
    return orders, _each(session, _LINES_OF_ORDERS, (r.id for r in orders))


_ORDER_NUMBERS = select(CustomerOrder.number).where(CustomerOrder.number.in_(_KEYS))


def existing_order_numbers(*, session: Session, numbers: Iterable[str]) -> set[str]:
    return {r[0] for r in _each(session, _ORDER_NUMBERS, numbers)}


_BY_CODE = {
    "customer": select(Customer.id, Customer.code, Customer.name, Customer.tier).where(
        Customer.code.in_(_KEYS)
    ),
    "location": select(Location.id, Location.code).where(Location.code.in_(_KEYS)),
    "product": select(Product.id, Product.sku, Product.name, Product.unit_price).where(
        Product.sku.in_(_KEYS)
    ),
}


def by_code(*, session: Session, kind: str, codes: Iterable[str]) -> list[Any]:
    """Customers, locations or products (``kind``) by code (SKU for products)."""
    return _each(session, _BY_CODE[kind], codes)


_CONTACTS = select(Customer.id, Customer.tier, Customer.account_manager).where(
    Customer.id.in_(_KEYS)
)


def customer_contacts(
    *, session: Session, ids: Iterable[int]
) -> dict[int, tuple[Tier, str | None]]:
    """Tier and account manager of each customer in ``ids``."""
    return {r.id: (r.tier, r.account_manager) for r in _each(session, _CONTACTS, ids)}


CONTRACT_COLUMNS = (
    "id",
    "customer_id",
    "version",
    "sla_days",
    "fill_rate_commitment",
    "penalty_rate_per_day",
    "penalty_cap_rate",
    "allows_partial_ship",
    "allows_substitution",
    "effective_from",
    "effective_to",
    "renewal_date",
)


_CONTRACTS_TABLE = cast(Table, Contract.__table__)
_CURRENT_CONTRACTS = select(*(_CONTRACTS_TABLE.c[c] for c in CONTRACT_COLUMNS)).where(
    tuple_(Contract.customer_id, Contract.version).in_(
        select(Contract.customer_id, func.max(Contract.version))
        .where(Contract.customer_id.in_(_KEYS))
        .group_by(Contract.customer_id)
    )
)


def current_contracts(*, session: Session, customer_ids: Iterable[int]) -> list[Any]:
    """Each customer's latest contract version."""
    return _each(session, _CURRENT_CONTRACTS, customer_ids)


_POSITIONS = (
    select(
        InventoryPosition.id,
        InventoryPosition.product_id,
        InventoryPosition.location_id,
        InventoryPosition.on_hand,
        InventoryPosition.committed,
        InventoryPosition.updated_at,
    )
    .where(tuple_(InventoryPosition.product_id, InventoryPosition.location_id).in_(_KEYS))
    .order_by(InventoryPosition.id)
    .with_for_update()
)


def inventory_positions(*, session: Session, pairs: Iterable[tuple[int, int]]) -> list[Any]:
    """Stock positions of ``(product id, location id)`` pairs, locked in id order."""
    return _each(session, _POSITIONS, pairs)


def allocate_ids(*, session: Session, table: Table, n: int) -> list[int]:
    """``n`` ids for new rows of ``table``, the ones its inserts would take, in order.

    PostgreSQL: the values of the id column's sequence; SQLite (the transaction holds the
    database's write lock): the rowids after the largest.
    """
    if n <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        values = session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
            ),
            {"table": table.name, "n": n},
        ).all()
        return sorted(int(v) for v in values)
    top = session.scalar(select(func.max(table.c.id))) or 0
    return list(range(int(top) + 1, int(top) + 1 + n))


def insert_rows(*, session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` in order (one executemany)."""
    if rows:
        session.connection().execute(insert(table), list(rows))


def update_rows(
    *, session: Session, table: Table, columns: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """Set ``columns`` of each row by id (``rows``: ``{"_id": id, column: value, ...}``; one
    executemany)."""
    if rows:
        stmt = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({c: bindparam(c) for c in columns})
        )
        session.connection().execute(stmt, list(rows))

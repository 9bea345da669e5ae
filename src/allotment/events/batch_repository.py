"""SQL of the set-wise batch path (:mod:`allotment.events.batch`): one SELECT per kind of row a
batch needs, one executemany per kind of row it writes. Core statements on the tables, no ORM
objects. Keyword-only, typed; never commits (the caller does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Row,
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


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = sorted(set(values))
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _rows(session: Session, stmt: Any) -> Sequence[Any]:
    return session.execute(stmt).all()


def po_lines(*, session: Session, refs: Iterable[tuple[str, int]]) -> list[Row[Any]]:
    """The PO lines ``(po number, line no)`` refers to, locked for the transaction in id order,
    with their PO's number and warehouse."""
    out: list[Row[Any]] = []
    for chunk in _chunks(refs):
        out.extend(
            _rows(
                session,
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
                .where(tuple_(PurchaseOrder.number, PurchaseOrderLine.line_no).in_(chunk))
                .order_by(PurchaseOrderLine.id)
                .with_for_update(of=PurchaseOrderLine),
            )
        )
    return out


def eta_learned(*, session: Session, po_line_ids: Iterable[int]) -> dict[int, datetime]:
    """When the ETA in force on each PO line was learned (lines whose ETA never changed are
    missing)."""
    out: dict[int, datetime] = {}
    for chunk in _chunks(po_line_ids):
        for r in _rows(
            session,
            select(EtaChange.po_line_id, func.max(EtaChange.recorded_at))
            .where(EtaChange.po_line_id.in_(chunk))
            .group_by(EtaChange.po_line_id),
        ):
            out[int(r[0])] = r[1]
    return out


def _backorders() -> Any:
    """Backorder columns, with what the batch needs to know of their order line, order,
    customer and product."""
    return (
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


def backorders_waiting_on(*, session: Session, po_line_ids: Iterable[int]) -> list[Row[Any]]:
    """Active backorders whose supply is one of the PO lines (theirs, or their order line's
    when they name none)."""
    out: list[Row[Any]] = []
    for chunk in _chunks(po_line_ids):
        # Two indexed look-ups, not one OR across the join (a scan of every backorder).
        ids = union_all(
            select(Backorder.id).where(Backorder.po_line_id.in_(chunk)),
            select(Backorder.id)
            .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
            .where(CustomerOrderLine.po_line_id.in_(chunk), Backorder.po_line_id.is_(None)),
        )
        out.extend(_rows(session, _backorders().where(Backorder.id.in_(ids))))
    return out


def active_backorders_of_lines(
    *, session: Session, order_line_ids: Iterable[int]
) -> list[Row[Any]]:
    out: list[Row[Any]] = []
    for chunk in _chunks(order_line_ids):
        out.extend(_rows(session, _backorders().where(Backorder.order_line_id.in_(chunk))))
    return out


def active_backorders_of_customers(
    *, session: Session, customer_ids: Iterable[int]
) -> list[Row[Any]]:
    out: list[Row[Any]] = []
    for chunk in _chunks(customer_ids):
        out.extend(_rows(session, _backorders().where(CustomerOrder.customer_id.in_(chunk))))
    return out


def _lines() -> Any:
    """Order line columns with their order's and the product's."""
    return (
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


def _orders() -> Any:
    return select(
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


def lines_waiting_on(
    *, session: Session, po_line_ids: Iterable[int]
) -> tuple[list[Row[Any]], list[Row[Any]]]:
    """Open order lines allocated to the PO lines, and their orders (with the customer)."""
    lines: list[Row[Any]] = []
    for chunk in _chunks(po_line_ids):
        lines.extend(
            _rows(
                session,
                _lines().where(
                    CustomerOrderLine.po_line_id.in_(chunk),
                    CustomerOrderLine.shipped_quantity < CustomerOrderLine.quantity,
                    CustomerOrderLine.status.in_(("open", "partially_shipped")),
                ),
            )
        )
    orders: list[Row[Any]] = []
    for chunk in _chunks(r.order_id for r in lines):
        orders.extend(_rows(session, _orders().where(CustomerOrder.id.in_(chunk))))
    return lines, orders


def orders_by_number(
    *, session: Session, numbers: Iterable[str]
) -> tuple[list[Row[Any]], list[Row[Any]]]:
    """The orders of these numbers, locked in id order, and all their lines."""
    orders: list[Row[Any]] = []
    for chunk in _chunks(numbers):
        orders.extend(
            _rows(
                session,
                _orders()
                .where(CustomerOrder.number.in_(chunk))
                .order_by(CustomerOrder.id)
                .with_for_update(of=CustomerOrder),
            )
        )
    lines: list[Row[Any]] = []
    for chunk in _chunks(r.id for r in orders):
        lines.extend(_rows(session, _lines().where(CustomerOrderLine.order_id.in_(chunk))))
    return orders, lines


def existing_order_numbers(*, session: Session, numbers: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for chunk in _chunks(numbers):
        out.update(
            session.scalars(select(CustomerOrder.number).where(CustomerOrder.number.in_(chunk)))
        )
    return out


def by_code(*, session: Session, kind: str, codes: Iterable[str]) -> list[Row[Any]]:
    """Customers, locations or products (``kind``) by code (SKU for products)."""
    stmt: Any
    if kind == "customer":
        stmt = select(Customer.id, Customer.code, Customer.name, Customer.tier)
        column: Any = Customer.code
    elif kind == "location":
        stmt, column = select(Location.id, Location.code), Location.code
    else:
        stmt = select(Product.id, Product.sku, Product.name, Product.unit_price)
        column = Product.sku
    out: list[Row[Any]] = []
    for chunk in _chunks(codes):
        out.extend(_rows(session, stmt.where(column.in_(chunk))))
    return out


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


def current_contracts(*, session: Session, customer_ids: Iterable[int]) -> list[Row[Any]]:
    """Each customer's latest contract version."""
    table = cast(Table, Contract.__table__)
    out: list[Row[Any]] = []
    for chunk in _chunks(customer_ids):
        latest = (
            select(Contract.customer_id, func.max(Contract.version))
            .where(Contract.customer_id.in_(chunk))
            .group_by(Contract.customer_id)
        )
        out.extend(
            _rows(
                session,
                select(*(table.c[c] for c in CONTRACT_COLUMNS)).where(
                    tuple_(Contract.customer_id, Contract.version).in_(latest)
                ),
            )
        )
    return out


def inventory_positions(*, session: Session, pairs: Iterable[tuple[int, int]]) -> list[Row[Any]]:
    """Stock positions of ``(product id, location id)`` pairs, locked in id order."""
    out: list[Row[Any]] = []
    for chunk in _chunks(pairs):
        out.extend(
            _rows(
                session,
                select(
                    InventoryPosition.id,
                    InventoryPosition.product_id,
                    InventoryPosition.location_id,
                    InventoryPosition.on_hand,
                    InventoryPosition.committed,
                    InventoryPosition.updated_at,
                )
                .where(
                    tuple_(InventoryPosition.product_id, InventoryPosition.location_id).in_(chunk)
                )
                .order_by(InventoryPosition.id)
                .with_for_update(),
            )
        )
    return out


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

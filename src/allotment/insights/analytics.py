"""Backorder patterns: how many backorders, of what value, by supplier, product, category,
month or root cause — the questions "who causes our shortages, in what, and when".

Over every backorder (any status) **created** in ``[since, until)`` (days, UTC; either bound may
be open). Per group:

- ``backorders`` and ``share`` — how many, and their share of all in the period;
- ``units`` and ``value`` — quantity backordered and revenue at risk when opened
  (``backorders.value_at_risk``, USD);
- ``active`` / ``resolved`` / ``cancelled`` — where they stand now;
- ``average_resolution_days`` — mean days from creation to closing of the resolved ones.

A backorder's supplier is its PO line's, else its product's usual supplier (none: not listed by
supplier); its month is the month it was created (``YYYY-MM``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import String as SqlString
from sqlalchemy import case, cast, func, select
from sqlalchemy.orm import Session

from allotment.domain.enums import BackorderStatus
from allotment.domain.models import (
    Backorder,
    CustomerOrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
)
from allotment.insights.sql import (
    backorder_supplier,
    days_between,
    is_active,
    share,
    start_of,
    usd_sum,
    year_month,
)


class Dimension(StrEnum):
    """What backorders are grouped by."""

    SUPPLIER = "supplier"
    PRODUCT = "product"
    CATEGORY = "category"
    MONTH = "month"
    ROOT_CAUSE = "root_cause"


@dataclass(frozen=True)
class Pattern:
    """One group of backorders created in the period (money in USD)."""

    key: str
    label: str
    backorders: int
    share: float
    units: int
    value: Decimal
    active: int
    resolved: int
    cancelled: int
    average_resolution_days: float | None


@dataclass(frozen=True)
class Patterns:
    """Backorders created in ``[since, until)`` grouped by ``by``."""

    by: Dimension
    since: date | None
    until: date | None
    total_backorders: int
    groups: list[Pattern]


def _key_and_label(by: Dimension) -> tuple[Any, Any]:
    if by is Dimension.SUPPLIER:
        sup = backorder_supplier()
        return cast(sup, SqlString), func.coalesce(Supplier.name, cast(sup, SqlString))
    if by is Dimension.PRODUCT:
        return cast(Product.id, SqlString), Product.sku
    if by is Dimension.CATEGORY:
        return Product.category, Product.category
    if by is Dimension.MONTH:
        month = year_month(Backorder.created_at)
        return month, month
    return Backorder.root_cause, Backorder.root_cause


def patterns(
    session: Session,
    *,
    by: Dimension,
    since: date | None = None,
    until: date | None = None,
    limit: int = 50,
) -> Patterns:
    """Backorders created in ``[since, until)`` grouped by ``by``.

    Months are listed in calendar order; every other dimension the largest group first (then
    the highest value). At most ``limit`` groups; ``total_backorders`` and shares count all.
    """
    key, label = _key_and_label(by)
    # Only the joins the dimension reads: month and root cause are the backorder's own.
    stmt = select().select_from(Backorder)
    if by in (Dimension.SUPPLIER, Dimension.PRODUCT, Dimension.CATEGORY):
        stmt = stmt.join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id).join(
            Product, Product.id == CustomerOrderLine.product_id
        )
    if by is Dimension.SUPPLIER:
        stmt = (
            stmt.outerjoin(PurchaseOrderLine, PurchaseOrderLine.id == Backorder.po_line_id)
            .outerjoin(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
            .outerjoin(Supplier, Supplier.id == backorder_supplier())
            .where(backorder_supplier().is_not(None))
        )
    if since is not None:
        stmt = stmt.where(Backorder.created_at >= start_of(since))
    if until is not None:
        stmt = stmt.where(Backorder.created_at < start_of(until))
    resolved = Backorder.status == BackorderStatus.RESOLVED
    sub = stmt.add_columns(
        key.label("k"),
        label.label("l"),
        Backorder.quantity.label("q"),
        Backorder.value_at_risk.label("v"),
        case((is_active(), 1), else_=0).label("a"),
        case((resolved, 1), else_=0).label("r"),
        case((Backorder.status == BackorderStatus.CANCELLED, 1), else_=0).label("c"),
        case(
            (
                resolved & Backorder.closed_at.is_not(None),
                days_between(Backorder.closed_at, Backorder.created_at),
            ),
        ).label("d"),
    ).subquery()
    count = func.count()
    value = usd_sum(sub.c.v)
    grouped = select(
        sub.c.k,
        func.min(sub.c.l),
        count,
        func.coalesce(func.sum(sub.c.q), 0),
        value,
        func.coalesce(func.sum(sub.c.a), 0),
        func.coalesce(func.sum(sub.c.r), 0),
        func.coalesce(func.sum(sub.c.c), 0),
        func.avg(sub.c.d),
        # Every group's count, summed before LIMIT keeps the first ones: the period's total.
        func.sum(count).over(),
    ).group_by(sub.c.k)
    if by is Dimension.MONTH:
        grouped = grouped.order_by(sub.c.k)
    else:
        grouped = grouped.order_by(count.desc(), value.desc(), sub.c.k)
    rows = session.execute(grouped.limit(limit)).all()
    total = int(rows[0][-1]) if rows else 0
    return Patterns(
        by=by,
        since=since,
        until=until,
        total_backorders=total,
        groups=[
            Pattern(
                key=str(k),
                label=str(lab),
                backorders=int(n),
                share=share(int(n), total),
                units=int(q),
                value=v,
                active=int(a),
                resolved=int(r),
                cancelled=int(c),
                average_resolution_days=round(float(d), 2) if d is not None else None,
            )
            for k, lab, n, q, v, a, r, c, d, _ in rows
        ],
    )

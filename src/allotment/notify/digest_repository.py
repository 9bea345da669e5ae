"""SQL of the digests: what happened to backorders in a period, and the backlog now.

Keyword-only, typed; reads only. A :class:`Scope` restricts every query to some tiers and/or one
account manager's customers. Money is USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import Session

from allotment.domain.enums import BackorderStatus, RootCause, Tier
from allotment.domain.models import (
    Backorder,
    BackorderStatusChange,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    Notification,
    Product,
)
from allotment.insights.sql import is_active, open_value, usd_sum

#: Rule events a digest can report, and the status a backorder enters on each (``None``: its
#: creation).
DIGEST_EVENTS: dict[str, BackorderStatus | None] = {
    "backorder_created": None,
    "eta_updated": BackorderStatus.ETA_UPDATED,
    "escalated": BackorderStatus.ESCALATED,
    "resolved": BackorderStatus.RESOLVED,
}


@dataclass(frozen=True)
class Scope:
    """Whose backorders a digest covers: some tiers (empty: all), one account manager's."""

    tiers: tuple[Tier, ...] = ()
    account_manager: str | None = None


@dataclass(frozen=True)
class HappenedLine:
    """One backorder a digest lists."""

    number: str
    customer_name: str
    tier: Tier
    order_number: str
    line_no: int
    sku: str
    quantity: int
    root_cause: RootCause
    expected: date | None
    value_at_risk: Decimal
    status: BackorderStatus


@dataclass(frozen=True)
class TierFigures:
    """Backorders of one tier: how many, units, USD."""

    count: int
    units: int
    value: Decimal


@dataclass(frozen=True)
class BacklogTier:
    """The active backlog of one tier (now): open, overdue, escalated, open value (USD)."""

    open: int
    overdue: int
    escalated: int
    open_value: Decimal


def _joined(stmt: Select[*tuple[Any, ...]], scope: Scope) -> Select[*tuple[Any, ...]]:
    stmt = (
        stmt.select_from(Backorder)
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(Customer, Customer.id == CustomerOrder.customer_id)
    )
    if scope.tiers:
        stmt = stmt.where(Customer.tier.in_(scope.tiers))
    if scope.account_manager is not None:
        stmt = stmt.where(Customer.account_manager == scope.account_manager)
    return stmt


def _happened(event: str, start: datetime, end: datetime) -> ColumnElement[bool]:
    """Backorders that had ``event`` in ``[start, end)``."""
    status = DIGEST_EVENTS[event]
    if status is None:
        return (Backorder.created_at >= start) & (Backorder.created_at < end)
    entered = select(BackorderStatusChange.backorder_id).where(
        BackorderStatusChange.to_status == status,
        BackorderStatusChange.changed_at >= start,
        BackorderStatusChange.changed_at < end,
    )
    return Backorder.id.in_(entered)


def happened_by_tier(
    *, session: Session, event: str, start: datetime, end: datetime, scope: Scope
) -> dict[Tier, TierFigures]:
    """Backorders that had ``event`` in ``[start, end)``, per tier (tiers with none left out)."""
    stmt = _joined(
        select(
            Customer.tier,
            func.count(Backorder.id),
            func.coalesce(func.sum(Backorder.quantity), 0),
            usd_sum(Backorder.value_at_risk.expression),
        ),
        scope,
    ).where(_happened(event, start, end))
    rows = session.execute(stmt.group_by(Customer.tier)).all()
    return {Tier(t): TierFigures(int(n), int(u), Decimal(v)) for t, n, u, v in rows}


def happened_by_root_cause(
    *, session: Session, event: str, start: datetime, end: datetime, scope: Scope
) -> dict[RootCause, int]:
    """How many backorders had ``event`` in ``[start, end)``, per root cause."""
    stmt = _joined(select(Backorder.root_cause, func.count(Backorder.id)), scope).where(
        _happened(event, start, end)
    )
    rows = session.execute(stmt.group_by(Backorder.root_cause)).all()
    return {RootCause(c): int(n) for c, n in rows}


def happened_lines(
    *, session: Session, event: str, start: datetime, end: datetime, scope: Scope, limit: int
) -> list[HappenedLine]:
    """The ``limit`` backorders of largest value at risk that had ``event`` in the period."""
    stmt = (
        _joined(
            select(
                Backorder.number,
                Customer.name,
                Customer.tier,
                CustomerOrder.number,
                CustomerOrderLine.line_no,
                Product.sku,
                Backorder.quantity,
                Backorder.root_cause,
                Backorder.expected_fulfillment_date,
                Backorder.value_at_risk,
                Backorder.status,
            ),
            scope,
        )
        .join(Product, Product.id == CustomerOrderLine.product_id)
        .where(_happened(event, start, end))
        .order_by(Backorder.value_at_risk.desc(), Backorder.id)
        .limit(limit)
    )
    return [HappenedLine(*row) for row in session.execute(stmt).all()]


def backlog_by_tier(*, session: Session, today: date, scope: Scope) -> dict[Tier, BacklogTier]:
    """The active backorders now, per tier: overdue means promised before ``today``."""
    overdue = case((CustomerOrder.promised_date < today, 1), else_=0)
    escalated = case((Backorder.status == BackorderStatus.ESCALATED, 1), else_=0)
    stmt = _joined(
        select(
            Customer.tier,
            func.count(Backorder.id),
            func.coalesce(func.sum(overdue), 0),
            func.coalesce(func.sum(escalated), 0),
            usd_sum(open_value()),
        ),
        scope,
    ).where(is_active())
    rows = session.execute(stmt.group_by(Customer.tier)).all()
    return {Tier(t): BacklogTier(int(n), int(o), int(e), Decimal(v)) for t, n, o, e, v in rows}


def account_managers(
    *, session: Session, event: str, start: datetime, end: datetime, scope: Scope
) -> list[str]:
    """Account managers of the customers in ``scope`` with active backorders or with
    ``event`` in the period, sorted."""
    stmt = _joined(select(Customer.account_manager).distinct(), scope).where(
        Customer.account_manager.is_not(None), is_active() | _happened(event, start, end)
    )
    return sorted(str(name) for name in session.scalars(stmt))


def channels_holding(*, session: Session, dedupe_key: str) -> set[str]:
    """The channels that already hold a notification with ``dedupe_key``."""
    stmt = select(Notification.channel).where(Notification.dedupe_key == dedupe_key)
    return {str(c) for c in session.scalars(stmt)}

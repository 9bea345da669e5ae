"""Backorder KPIs over a period ``[since, until)`` (days, UTC), each with what it is made of.

Definitions (money in USD; a rate is ``None`` when its denominator is 0):

- **Backorder rate** — customer orders placed in the period (``ordered_on``) with at least one
  line that was ever backordered (any backorder status), ÷ customer orders placed in the period.
- **Fill rate** (units) — 1 − units backordered ÷ units ordered, over the lines of those orders;
  a line's backordered units are the sum of its backorders' quantities, capped at the line's
  quantity. It is the share of ordered units served without waiting.
- **Average resolution time** — mean days from creation to closing of the backorders
  **resolved** (not cancelled) with ``closed_at`` in the period.
- **Revenue at risk** — now, not over the period: Σ open quantity × unit price of the active
  backorders (what is still waiting).
- **Prevention rate** — of the order lines (of orders placed in the period) whose supply came
  late for them — the PO line they were allocated to was received, or is now expected, after
  the order's promised date — the share that never got a backorder (served from elsewhere, in
  time). Late supply that did not become a backorder is a prevented one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import ColumnElement, case, exists, func, select
from sqlalchemy.orm import Session

from allotment.domain.enums import BackorderStatus
from allotment.domain.models import Backorder, CustomerOrder, CustomerOrderLine, PurchaseOrderLine
from allotment.insights.sql import (
    days_between,
    is_active,
    open_value,
    start_of,
    usd_sum,
)


@dataclass(frozen=True)
class Kpis:
    """The KPIs of ``[since, until)`` and the counts each is computed from."""

    since: date
    until: date
    orders: int
    backordered_orders: int
    backorder_rate: float | None
    units_ordered: int
    units_backordered: int
    fill_rate: float | None
    resolved_backorders: int
    average_resolution_days: float | None
    active_backorders: int
    revenue_at_risk: Decimal
    late_supply_lines: int
    prevented_lines: int
    prevention_rate: float | None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _has_backorder() -> ColumnElement[bool]:
    """The order line got at least one backorder (any status)."""
    return exists().where(Backorder.order_line_id == CustomerOrderLine.id)


def _orders(session: Session, since: date, until: date) -> tuple[int, int]:
    in_period = CustomerOrder.ordered_on >= since, CustomerOrder.ordered_on < until
    orders = session.scalar(select(func.count(CustomerOrder.id)).where(*in_period)) or 0
    backordered = (
        session.scalar(
            select(func.count(func.distinct(CustomerOrder.id)))
            .join(CustomerOrderLine, CustomerOrderLine.order_id == CustomerOrder.id)
            .where(*in_period, _has_backorder())
        )
        or 0
    )
    return int(orders), int(backordered)


def _units(session: Session, since: date, until: date) -> tuple[int, int]:
    per_line = (
        select(Backorder.order_line_id, func.sum(Backorder.quantity).label("units"))
        .group_by(Backorder.order_line_id)
        .subquery()
    )
    units = func.coalesce(per_line.c.units, 0)
    capped = case((units > CustomerOrderLine.quantity, CustomerOrderLine.quantity), else_=units)
    ordered, backordered = session.execute(
        select(
            func.coalesce(func.sum(CustomerOrderLine.quantity), 0),
            func.coalesce(func.sum(capped), 0),
        )
        .select_from(CustomerOrderLine)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .outerjoin(per_line, per_line.c.order_line_id == CustomerOrderLine.id)
        .where(CustomerOrder.ordered_on >= since, CustomerOrder.ordered_on < until)
    ).one()
    return int(ordered), int(backordered)


def _resolution(session: Session, since: date, until: date) -> tuple[int, float | None]:
    n, days = session.execute(
        select(
            func.count(Backorder.id),
            func.avg(days_between(Backorder.closed_at, Backorder.created_at)),
        ).where(
            Backorder.status == BackorderStatus.RESOLVED,
            Backorder.closed_at >= start_of(since),
            Backorder.closed_at < start_of(until),
        )
    ).one()
    return int(n), (round(float(days), 2) if days is not None else None)


def _at_risk(session: Session) -> tuple[int, Decimal]:
    n, value = session.execute(
        select(func.count(Backorder.id), usd_sum(open_value()))
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .where(is_active())
    ).one()
    return int(n), value


def _prevention(session: Session, since: date, until: date) -> tuple[int, int]:
    arrival = func.coalesce(PurchaseOrderLine.received_on, PurchaseOrderLine.current_eta)
    late, prevented = session.execute(
        select(
            func.count(CustomerOrderLine.id),
            func.coalesce(
                func.sum(case((_has_backorder(), 0), else_=1)),
                0,
            ),
        )
        .select_from(CustomerOrderLine)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(PurchaseOrderLine, PurchaseOrderLine.id == CustomerOrderLine.po_line_id)
        .where(
            CustomerOrder.ordered_on >= since,
            CustomerOrder.ordered_on < until,
            arrival > CustomerOrder.promised_date,
        )
    ).one()
    return int(late), int(prevented)


def kpis(session: Session, *, since: date, until: date) -> Kpis:
    """Backorder rate, fill rate, average resolution time, revenue at risk, prevention rate.

    Parameters
    ----------
    session
        A read-only unit of work.
    since, until
        The period ``[since, until)``: orders by the day they were placed, resolutions by the
        day they closed (UTC). Revenue at risk is the backlog's now, whatever the period.
    """
    orders, backordered_orders = _orders(session, since, until)
    units_ordered, units_backordered = _units(session, since, until)
    resolved, resolution_days = _resolution(session, since, until)
    active, at_risk = _at_risk(session)
    late, prevented = _prevention(session, since, until)
    return Kpis(
        since=since,
        until=until,
        orders=orders,
        backordered_orders=backordered_orders,
        backorder_rate=_rate(backordered_orders, orders),
        units_ordered=units_ordered,
        units_backordered=units_backordered,
        fill_rate=(round(1 - units_backordered / units_ordered, 4) if units_ordered else None),
        resolved_backorders=resolved,
        average_resolution_days=resolution_days,
        active_backorders=active,
        revenue_at_risk=at_risk,
        late_supply_lines=late,
        prevented_lines=prevented,
        prevention_rate=_rate(prevented, late),
    )

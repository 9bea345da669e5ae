"""The command center: where the backlog stands today, in one read.

Every figure is over the **active** backorders (``open``, ``eta_updated``,
``partially_resolved``, ``escalated``) unless said otherwise, and money is the revenue still at
risk, open quantity × the order line's unit price (USD), so it falls as units ship.

- **summary** — active backorders, their value, distinct customers affected, and the
  *high-priority* ones: a VIP customer's, an emergency order's, or escalated.
- **aging** — whole days from the day a backorder was created to ``as_of``: 0–7, 8–14, 15+.
- **critical** — the active backorders with the highest priority (never-scored ones last, then
  by value), each with its recommended next action: the best-ranked live recommendation
  (proposed, pending approval or approved) of its latest generation, if any.
- **pipeline** — when the active backorders are expected to resolve: the backorder's expected
  fulfilment date, else its PO line's current ETA; windows relative to ``as_of``: overdue
  (before ``as_of``), next 24 hours (``as_of`` or the day after), next 3 days (up to
  ``as_of`` + 3), next 7 days (up to ``as_of`` + 7), later, unknown ETA.
- **root causes** — active backorders by root cause.
- **suppliers** — per supplier: PO lines received in the window before ``as_of`` and the share
  received on or before the promised date (on-time rate), the average days late of the lines
  received late, and the supplier's share of the active backorders (a backorder's supplier is
  its PO line's, else its product's usual supplier).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from allotment.domain.enums import BackorderStatus, RootCause, Tier
from allotment.domain.models import (
    Backorder,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Recommendation,
    Supplier,
)
from allotment.insights.sql import (
    backorder_supplier,
    days_between,
    is_active,
    open_value,
    share,
    shift,
    start_of,
    usd_sum,
)

#: Aging buckets: (label, minimum whole days of age), oldest last.
AGING_BUCKETS: tuple[tuple[str, int], ...] = (("0-7", 0), ("8-14", 8), ("15+", 15))
#: Resolution-pipeline windows: (label, last day of the window counted from ``as_of``).
PIPELINE_WINDOWS: tuple[tuple[str, int], ...] = (
    ("next_24_hours", 1),
    ("next_3_days", 3),
    ("next_7_days", 7),
)
#: Recommendation statuses that still propose an action.
LIVE_RECOMMENDATIONS = ("proposed", "pending_approval", "approved")
#: Unscored backorders sort after every scored one.
_UNSCORED = -1.0e300


@dataclass(frozen=True)
class Summary:
    """Headline figures of the active backlog (money in USD)."""

    open_backorders: int
    value_at_risk: Decimal
    customers_affected: int
    high_priority: int
    high_priority_value: Decimal


@dataclass(frozen=True)
class Group:
    """A group of active backorders: how many, their share of all active ones, their value."""

    key: str
    backorders: int
    share: float
    value_at_risk: Decimal


@dataclass(frozen=True)
class NextAction:
    """The recommendation a planner would act on next (money in USD)."""

    recommendation_id: int
    kind: str
    status: str
    net_value: Decimal
    explanation: str


@dataclass(frozen=True)
class CriticalBackorder:
    """One of the highest-priority active backorders, with its next action."""

    backorder_id: int
    number: str
    customer_id: int
    customer: str
    tier: Tier
    status: BackorderStatus
    priority: float | None
    value_at_risk: Decimal
    age_days: int
    expected_fulfillment_date: date | None
    next_action: NextAction | None


@dataclass(frozen=True)
class SupplierPerformance:
    """A supplier's delivery record in the window and its part of the active backlog."""

    supplier_id: int
    supplier: str
    received_lines: int
    on_time_lines: int
    on_time_rate: float | None
    average_delay_days: float | None
    open_backorders: int
    backorder_share: float
    value_at_risk: Decimal


@dataclass(frozen=True)
class CommandCenter:
    """Everything the command center shows, as of one day."""

    as_of: date
    summary: Summary
    aging: list[Group]
    critical: list[CriticalBackorder]
    pipeline: list[Group]
    root_causes: list[Group]
    suppliers: list[SupplierPerformance]


def _active() -> Select[Any]:
    """Active backorders joined to their order line (for the open value)."""
    return (
        select()
        .select_from(Backorder)
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .where(is_active())
    )


def count_by(session: Session, stmt: Select[Any], key: Any) -> list[Any]:
    """``(key, backorders, value at risk)`` rows of ``stmt``'s backorders grouped by ``key``.

    Grouped in an outer query over a subquery: PostgreSQL does not match a ``CASE`` with bound
    parameters in ``GROUP BY`` against the same ``CASE`` in the select list.
    """
    sub = stmt.add_columns(
        key.label("k"), open_value().label("v"), Backorder.id.label("i")
    ).subquery()
    return list(
        session.execute(
            select(sub.c.k, func.count(sub.c.i), usd_sum(sub.c.v)).group_by(sub.c.k)
        ).all()
    )


def summary(session: Session) -> Summary:
    """Active backorders, value at risk, customers affected, high-priority count and value."""
    high = or_(
        Customer.tier == Tier.VIP,
        CustomerOrder.is_emergency.is_(True),
        Backorder.status == BackorderStatus.ESCALATED,
    )
    row = session.execute(
        _active()
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(Customer, Customer.id == CustomerOrder.customer_id)
        .add_columns(
            func.count(Backorder.id),
            usd_sum(open_value()),
            func.count(func.distinct(CustomerOrder.customer_id)),
            func.coalesce(func.sum(case((high, 1), else_=0)), 0),
            usd_sum(case((high, open_value()), else_=0)),
        )
    ).one()
    return Summary(
        open_backorders=int(row[0]),
        value_at_risk=row[1],
        customers_affected=int(row[2]),
        high_priority=int(row[3]),
        high_priority_value=row[4],
    )


def _groups(
    rows: list[Any], keys: list[str], total: int | None = None, *, ordered: bool
) -> list[Group]:
    """Zero-filled groups for ``keys`` from ``(key, count, value)`` rows."""
    found = {str(k): (int(n), v) for k, n, v in rows}
    total = sum(n for n, _ in found.values()) if total is None else total
    out = [
        Group(
            key=k,
            backorders=found.get(k, (0, Decimal("0.00")))[0],
            share=share(found.get(k, (0, 0))[0], total),
            value_at_risk=found.get(k, (0, Decimal("0.00")))[1],
        )
        for k in keys
    ]
    if not ordered:
        out.sort(key=lambda g: (-g.backorders, -g.value_at_risk, g.key))
    return out


def aging(session: Session, *, as_of: date) -> list[Group]:
    """Active backorders by whole days of age on ``as_of``: 0-7, 8-14, 15+."""
    # A backorder is at most ``nxt - 1`` whole days old when created on or after that day.
    whens = [
        (Backorder.created_at >= start_of(shift(as_of, 1 - nxt)), label)
        for (label, _), (_, nxt) in itertools.pairwise(AGING_BUCKETS)
    ]
    bucket = case(*whens, else_=AGING_BUCKETS[-1][0])
    rows = count_by(session, _active(), bucket)
    return _groups(rows, [label for label, _ in AGING_BUCKETS], ordered=True)


def pipeline(session: Session, *, as_of: date) -> list[Group]:
    """Active backorders by expected resolution window (see the module docstring)."""
    eta = func.coalesce(Backorder.expected_fulfillment_date, PurchaseOrderLine.current_eta)
    whens: list[tuple[Any, str]] = [(eta.is_(None), "unknown"), (eta < as_of, "overdue")]
    whens += [(eta <= shift(as_of, d), label) for label, d in PIPELINE_WINDOWS]
    window = case(*whens, else_="later")
    stmt = _active().outerjoin(PurchaseOrderLine, PurchaseOrderLine.id == Backorder.po_line_id)
    rows = count_by(session, stmt, window)
    keys = ["overdue", *(label for label, _ in PIPELINE_WINDOWS), "later", "unknown"]
    return _groups(rows, keys, ordered=True)


def root_causes(session: Session) -> list[Group]:
    """Active backorders by root cause, the most frequent first (every cause listed)."""
    rows = count_by(session, _active(), Backorder.root_cause)
    keys = [c.value for c in RootCause]
    return _groups([(RootCause(k).value, n, v) for k, n, v in rows], keys, ordered=False)


def _next_actions(session: Session, backorder_ids: list[int]) -> dict[int, NextAction]:
    if not backorder_ids:
        return {}
    recs = session.scalars(
        select(Recommendation)
        .where(
            Recommendation.backorder_id.in_(backorder_ids),
            Recommendation.status.in_(LIVE_RECOMMENDATIONS),
        )
        .order_by(
            Recommendation.backorder_id,
            Recommendation.created_at.desc(),
            Recommendation.rank,
            Recommendation.id.desc(),
        )
    ).all()
    out: dict[int, NextAction] = {}
    for r in recs:
        out.setdefault(
            r.backorder_id,
            NextAction(
                recommendation_id=r.id,
                kind=r.kind,
                status=r.status,
                net_value=r.net_value,
                explanation=r.explanation,
            ),
        )
    return out


def critical(session: Session, *, as_of: date, limit: int = 10) -> list[CriticalBackorder]:
    """The ``limit`` highest-priority active backorders, with their next action."""
    value = open_value()
    rows = session.execute(
        _active()
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(Customer, Customer.id == CustomerOrder.customer_id)
        .add_columns(Backorder, Customer.id, Customer.name, Customer.tier, value)
        .order_by(func.coalesce(Backorder.priority, _UNSCORED).desc(), value.desc(), Backorder.id)
        .limit(limit)
    ).all()
    actions = _next_actions(session, [r[0].id for r in rows])
    return [
        CriticalBackorder(
            backorder_id=b.id,
            number=b.number,
            customer_id=cid,
            customer=name,
            tier=tier,
            status=b.status,
            priority=b.priority,
            value_at_risk=v,
            age_days=max((as_of - b.created_at.date()).days, 0),
            expected_fulfillment_date=b.expected_fulfillment_date,
            next_action=actions.get(b.id),
        )
        for b, cid, name, tier, v in rows
    ]


def suppliers(
    session: Session, *, as_of: date, window_days: int = 90, limit: int = 20
) -> list[SupplierPerformance]:
    """Suppliers by their share of the active backlog, with their on-time record.

    The on-time record counts PO lines received in the ``window_days`` up to and including
    ``as_of``; the ``limit`` suppliers with the most active backorders (then the most received
    lines) are listed.
    """
    late = PurchaseOrderLine.received_on > PurchaseOrderLine.promised_date
    days_late = days_between(PurchaseOrderLine.received_on, PurchaseOrderLine.promised_date)
    receipts = session.execute(
        select(
            PurchaseOrder.supplier_id,
            func.count(PurchaseOrderLine.id),
            func.coalesce(func.sum(case((late, 0), else_=1)), 0),
            func.avg(case((late, days_late))),
        )
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(
            PurchaseOrderLine.received_on.is_not(None),
            PurchaseOrderLine.received_on > shift(as_of, -window_days),
            PurchaseOrderLine.received_on <= as_of,
        )
        .group_by(PurchaseOrder.supplier_id)
    ).all()
    sup = backorder_supplier()
    backlog = count_by(
        session,
        _active()
        .join(Product, Product.id == CustomerOrderLine.product_id)
        .outerjoin(PurchaseOrderLine, PurchaseOrderLine.id == Backorder.po_line_id)
        .outerjoin(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.purchase_order_id)
        .where(sup.is_not(None)),
        sup,
    )
    total = session.scalar(_active().add_columns(func.count(Backorder.id))) or 0
    received = {int(s): (int(n), int(ok), avg) for s, n, ok, avg in receipts}
    open_ = {int(s): (int(n), v) for s, n, v in backlog}
    ranked = sorted(
        set(received) | set(open_),
        key=lambda s: (-open_.get(s, (0, 0))[0], -received.get(s, (0, 0, None))[0], s),
    )[:limit]
    names = {
        sid: name
        for sid, name in session.execute(
            select(Supplier.id, Supplier.name).where(Supplier.id.in_(ranked))
        )
    }
    out = []
    for s in ranked:
        n, ok, avg = received.get(s, (0, 0, None))
        count, value = open_.get(s, (0, Decimal("0.00")))
        out.append(
            SupplierPerformance(
                supplier_id=s,
                supplier=names.get(s, f"supplier {s}"),
                received_lines=n,
                on_time_lines=ok,
                on_time_rate=share(ok, n) if n else None,
                average_delay_days=round(float(avg), 2) if avg is not None else None,
                open_backorders=count,
                backorder_share=share(count, total),
                value_at_risk=value,
            )
        )
    return out


def command_center(
    session: Session,
    *,
    as_of: date,
    critical_limit: int = 10,
    supplier_window_days: int = 90,
    supplier_limit: int = 20,
) -> CommandCenter:
    """The whole command center as of ``as_of`` (see the module docstring for definitions)."""
    return CommandCenter(
        as_of=as_of,
        summary=summary(session),
        aging=aging(session, as_of=as_of),
        critical=critical(session, as_of=as_of, limit=critical_limit),
        pipeline=pipeline(session, as_of=as_of),
        root_causes=root_causes(session),
        suppliers=suppliers(
            session, as_of=as_of, window_days=supplier_window_days, limit=supplier_limit
        ),
    )

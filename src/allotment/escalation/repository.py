"""SQL for escalations and approval reminders. Keyword-only, typed; never commits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain.lifecycle import ACTIVE_STATUSES
from allotment.domain.models import (
    Backorder,
    BackorderEscalation,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    Recommendation,
)


@dataclass(frozen=True)
class OverdueRow:
    """An active, overdue backorder with its promised date and customer."""

    backorder: Backorder
    promised_date: date
    customer: Customer


def overdue_backorders(*, session: Session, as_of: date) -> list[OverdueRow]:
    """Active backorders whose order was promised before ``as_of``, locked for update.

    Oldest promise first. On PostgreSQL the backorder rows are locked (``FOR UPDATE OF``), so a
    concurrent run waits and then sees the levels this one applied.
    """
    stmt = (
        select(Backorder, CustomerOrder.promised_date, Customer)
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(Customer, Customer.id == CustomerOrder.customer_id)
        .where(Backorder.status.in_(ACTIVE_STATUSES), CustomerOrder.promised_date < as_of)
        .order_by(CustomerOrder.promised_date, Backorder.id)
        .with_for_update(of=Backorder)
    )
    return [OverdueRow(b, promised, customer) for b, promised, customer in session.execute(stmt)]


def applied_levels(*, session: Session, backorder_ids: Sequence[int]) -> dict[int, set[int]]:
    """``days_overdue`` of the levels already applied, per backorder."""
    out: dict[int, set[int]] = defaultdict(set)
    chunk = 1000
    for start in range(0, len(backorder_ids), chunk):
        ids = list(backorder_ids[start : start + chunk])
        rows = session.execute(
            select(BackorderEscalation.backorder_id, BackorderEscalation.days_overdue).where(
                BackorderEscalation.backorder_id.in_(ids)
            )
        )
        for backorder_id, level in rows:
            out[int(backorder_id)].add(int(level))
    return dict(out)


def add_level(*, session: Session, level: BackorderEscalation) -> BackorderEscalation:
    """Stage a level (written by the next flush, with the status change and audit record)."""
    session.add(level)
    return level


def levels_of(*, session: Session, backorder_id: int) -> Sequence[BackorderEscalation]:
    """The levels a backorder reached, lowest first."""
    return session.scalars(
        select(BackorderEscalation)
        .where(BackorderEscalation.backorder_id == backorder_id)
        .order_by(BackorderEscalation.days_overdue)
    ).all()


def waiting_recommendations(*, session: Session, created_by: datetime) -> Sequence[Recommendation]:
    """Recommendations in ``pending_approval`` created at or before ``created_by``, oldest first."""
    return session.scalars(
        select(Recommendation)
        .where(
            Recommendation.status == "pending_approval",
            Recommendation.created_at <= created_by,
        )
        .order_by(Recommendation.created_at, Recommendation.id)
    ).all()

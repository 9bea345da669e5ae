"""SQL of the approval workflow: recommendations, their decisions, the inbox. Never commits."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from allotment.domain.enums import Tier
from allotment.domain.models import Approval, Customer, Recommendation
from allotment.workflow.errors import RecommendationNotFoundError


def get(*, session: Session, recommendation_id: int, for_update: bool = False) -> Recommendation:
    """The recommendation (locked for the transaction with ``for_update``), else 404."""
    stmt = select(Recommendation).where(Recommendation.id == recommendation_id)
    if for_update:
        stmt = stmt.with_for_update()
    found = session.scalars(stmt).one_or_none()
    if found is None:
        raise RecommendationNotFoundError(
            f"recommendation {recommendation_id} does not exist", field="recommendation_id"
        )
    return found


def decisions(
    *, session: Session, recommendation_id: int, live_only: bool = False
) -> list[Approval]:
    """A recommendation's decisions, oldest first (only the live ones with ``live_only``)."""
    stmt = select(Approval).where(Approval.recommendation_id == recommendation_id)
    if live_only:
        stmt = stmt.where(Approval.voided.is_(False))
    return list(session.scalars(stmt.order_by(Approval.id)))


def add_decision(*, session: Session, row: Approval) -> Approval:
    """Insert one decision (flushed: the database refuses a second live one per step/person)."""
    session.add(row)
    session.flush()
    return row


def void_live(*, session: Session, recommendation_id: int, at: datetime) -> int:
    """Void the live decisions of a recommendation; returns how many."""
    result = session.execute(
        update(Approval)
        .where(Approval.recommendation_id == recommendation_id, Approval.voided.is_(False))
        .values(voided=True, voided_at=at)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def customer_tier(*, session: Session, customer_id: int, for_update: bool = False) -> Tier:
    """The customer's tier (the customer's row locked for the transaction with ``for_update``)."""
    stmt = select(Customer.tier).where(Customer.id == customer_id)
    if for_update:
        stmt = stmt.with_for_update()
    tier = session.scalar(stmt)
    if tier is None:
        raise RecommendationNotFoundError(f"customer {customer_id} does not exist")
    return tier


#: Statuses of recommendations that have been submitted and still commit money.
SUBMITTED_STATUSES: tuple[str, ...] = ("pending_approval", "approved", "executed")


def submitted_amounts(
    *,
    session: Session,
    customer_id: int,
    product_id: int,
    since: datetime,
    until: datetime,
    exclude_id: int,
) -> list[tuple[int, datetime, Decimal]]:
    """(id, submitted at, own amount USD) of the customer and product's submitted
    recommendations that commit money, submitted in ``[since, until]`` (not ``exclude_id``)."""
    when = func.coalesce(Recommendation.submitted_at, Recommendation.created_at)
    rows = session.execute(
        select(Recommendation.id, when, Recommendation.amount)
        .where(
            Recommendation.customer_id == customer_id,
            Recommendation.product_id == product_id,
            Recommendation.status.in_(SUBMITTED_STATUSES),
            Recommendation.committed > 0,
            Recommendation.id != exclude_id,
            when >= since,
            when <= until,
        )
        .order_by(Recommendation.id)
    )
    return [(int(i), at, amount) for i, at, amount in rows]


def inbox(*, session: Session, actor: str, role: str, limit: int) -> list[Recommendation]:
    """Pending recommendations whose waiting step is ``role``'s, that ``actor`` may decide.

    Not the ones ``actor`` created or submitted, nor chains where ``actor`` already holds a live
    decision. Oldest submission first, then the largest routed amount.
    """
    mine = exists().where(
        Approval.recommendation_id == Recommendation.id,
        Approval.decided_by == actor,
        Approval.voided.is_(False),
    )
    stmt = (
        select(Recommendation)
        .where(
            Recommendation.status == "pending_approval",
            Recommendation.awaiting_role == role,
            Recommendation.created_by != actor,
            or_(Recommendation.requested_by.is_(None), Recommendation.requested_by != actor),
            ~mine,
        )
        .order_by(
            Recommendation.submitted_at.asc(),
            Recommendation.routed_amount.desc(),
            Recommendation.id.asc(),
        )
        .limit(limit)
    )
    return list(session.scalars(stmt))

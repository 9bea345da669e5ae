"""Outreach contacts: record one, a customer's history (newest first), the latest per customer."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allotment.db.types import utcnow
from allotment.domain.enums import ContactOutcome
from allotment.domain.models import Customer, OutreachContact


def customer_exists(*, session: Session, customer_id: int) -> bool:
    return session.scalar(select(Customer.id).where(Customer.id == customer_id)) is not None


def add_contact(
    *,
    session: Session,
    customer_id: int,
    contacted_by: str,
    outcome: ContactOutcome,
    note: str | None,
) -> OutreachContact:
    row = OutreachContact(
        customer_id=customer_id,
        contacted_at=utcnow(),
        contacted_by=contacted_by,
        outcome=outcome,
        note=note,
    )
    session.add(row)
    session.flush()
    return row


def list_contacts(
    *, session: Session, customer_id: int, limit: int, before_id: int | None
) -> Sequence[OutreachContact]:
    """Up to ``limit`` of the customer's contacts with an id below ``before_id``, newest first."""
    stmt = (
        select(OutreachContact)
        .where(OutreachContact.customer_id == customer_id)
        .order_by(OutreachContact.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(OutreachContact.id < before_id)
    return session.scalars(stmt).all()


def latest_contacts(*, session: Session, customer_ids: Sequence[int]) -> dict[int, OutreachContact]:
    """Each customer's most recent contact (absent when never contacted)."""
    if not customer_ids:
        return {}
    latest = (
        select(func.max(OutreachContact.id))
        .where(OutreachContact.customer_id.in_(list(customer_ids)))
        .group_by(OutreachContact.customer_id)
    )
    rows = session.scalars(select(OutreachContact).where(OutreachContact.id.in_(latest))).all()
    return {r.customer_id: r for r in rows}

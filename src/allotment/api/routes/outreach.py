"""Outreach: who customer service should call first, and recording that a customer was called."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from sqlalchemy.orm import Session

from allotment.api.deps import Principal, SessionDep, SettingsDep, require
from allotment.api.errors import responses
from allotment.api.pagination import check_limit, decode_id_cursor, encode_id_cursor
from allotment.api.repositories import outreach as repo
from allotment.api.routes.paging import page_of
from allotment.api.schemas.common import MAX_INT, Limit, Page
from allotment.api.schemas.outreach import (
    ContactCreate,
    ContactRead,
    OutreachItem,
    OutreachListRead,
)
from allotment.audit import service as audit
from allotment.domain.enums import ContactOutcome
from allotment.domain.models import OutreachContact
from allotment.errors import NotFoundError
from allotment.outreach.service import outreach_list
from allotment.policy import service as policy_service

router = APIRouter(prefix="/outreach", tags=["outreach"])

Reader = Annotated[Principal, Depends(require("outreach:read"))]
Caller = Annotated[Principal, Depends(require("outreach:contact"))]
CustomerId = Annotated[int, Path(ge=1, le=MAX_INT)]


def _known(session: SessionDep, customer_id: int) -> None:
    if not repo.customer_exists(session=session, customer_id=customer_id):
        raise NotFoundError(f"customer {customer_id} does not exist", field="customer_id")


def _contact(row: OutreachContact | None) -> ContactRead | None:
    return None if row is None else ContactRead.model_validate(row)


@router.get(
    "",
    response_model=OutreachListRead,
    responses=responses(401, 403, 422),
    summary="Customers to call first, why, and when they were last contacted",
)
def list_outreach(
    session: SessionDep, settings: SettingsDep, _user: Reader, limit: Limit = 50
) -> OutreachListRead:
    """Ranked by expected relationship value at risk (USD) under the active policy."""
    from allotment.insights.sql import reference_day

    check_limit(limit, max_page_size=settings.max_page_size)
    version, policy = policy_service.active_policy(session)
    found = outreach_list(
        session,
        policy=policy,
        policy_label=f"{version.name} v{version.version}",
        today=reference_day(session),
    )
    entries = found.entries[:limit]
    last = repo.latest_contacts(session=session, customer_ids=[e.customer_id for e in entries])
    return OutreachListRead(
        policy=found.policy,
        customers_considered=found.customers_considered,
        unscored_backorders=found.unscored_backorders,
        items=[
            OutreachItem(
                customer=e,
                last_contact=_contact(last.get(e.customer_id)),
            )
            for e in entries
        ],
    )


@router.post(
    "/{customer_id}/contacts",
    response_model=ContactRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 403, 404, 413, 422),
    summary="Record that a customer was contacted, with the outcome",
)
def record_contact(
    customer_id: CustomerId, body: ContactCreate, session: SessionDep, user: Caller
) -> ContactRead:
    """Store the contact (who and when are the caller and now) and audit it."""
    row = record(
        session,
        customer_id=customer_id,
        actor=user.name,
        role=user.role.value,
        outcome=body.outcome,
        note=body.note,
    )
    return ContactRead.model_validate(row)


def record(
    session: Session,
    *,
    customer_id: int,
    actor: str,
    role: str,
    outcome: ContactOutcome,
    note: str | None,
) -> OutreachContact:
    """Store a contact and audit it (the API's route and the dashboard's form share this)."""
    _known(session, customer_id)
    row = repo.add_contact(
        session=session, customer_id=customer_id, contacted_by=actor, outcome=outcome, note=note
    )
    after: dict[str, Any] = {"contact_id": row.id, "outcome": row.outcome.value}
    audit.append(
        session,
        actor=actor,
        role=role,
        action="outreach.contacted",
        entity_type="customer",
        entity_id=customer_id,
        before=None,
        after=after,
        reason=note,
    )
    return row


@router.get(
    "/{customer_id}/contacts",
    response_model=Page[ContactRead],
    responses=responses(401, 403, 404, 422),
    summary="A customer's contact history, newest first",
)
def list_contacts(
    customer_id: CustomerId,
    session: SessionDep,
    settings: SettingsDep,
    _user: Reader,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[ContactRead]:
    """Every recorded contact of the customer, newest first."""
    check_limit(limit, max_page_size=settings.max_page_size)
    _known(session, customer_id)
    rows = repo.list_contacts(
        session=session,
        customer_id=customer_id,
        limit=limit + 1,
        before_id=decode_id_cursor(cursor),
    )
    return page_of(
        Page[ContactRead],
        rows,
        limit=limit,
        item=ContactRead.model_validate,
        cursor=lambda r: encode_id_cursor(r.id),
    )

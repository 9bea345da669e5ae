"""The audit trail: query records, verify the hash chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from allotment import audit
from allotment.api.deps import Principal, SessionDep, SettingsDep, require
from allotment.api.errors import responses
from allotment.api.pagination import check_limit
from allotment.api.routes.paging import before_cursor, id_cursor, page_of
from allotment.api.schemas.audit import AuditRecordRead, AuditVerifyRead
from allotment.api.schemas.common import NO_NUL, Page
from allotment.audit import repository as repo
from allotment.errors import AppError

router = APIRouter(prefix="/audit", tags=["audit"])

Auditor = Annotated[Principal, Depends(require("audit:read"))]


class AuditQueryInvalidError(AppError):
    """A time range that ends before it starts."""

    status_code = 422
    code = "audit_query_invalid"


def _utc(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past year 9999 in UTC
        raise AuditQueryInvalidError(f"{field} is out of range in UTC", field=field) from None


@router.get(
    "",
    response_model=Page[AuditRecordRead],
    responses=responses(401, 403, 422),
    summary="Query the audit trail",
)
def list_audit(
    session: SessionDep,
    settings: SettingsDep,
    _user: Auditor,
    entity_type: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="e.g. backorder")
    ] = None,
    entity_id: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    actor: Annotated[str | None, Query(max_length=120, pattern=NO_NUL)] = None,
    action: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="e.g. backorder.escalated")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Records at or after (ISO; naive means UTC).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Records before (ISO; naive means UTC).")
    ] = None,
    limit: int = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[AuditRecordRead]:
    """Records newest first, filtered; pass ``next_cursor`` back as ``cursor`` for more."""
    check_limit(limit, max_page_size=settings.max_page_size)
    start, end = _utc(since, "since"), _utc(until, "until")
    if start is not None and end is not None and end < start:
        raise AuditQueryInvalidError("until is before since", field="until")
    rows = repo.query_records(
        session=session,
        entity_type=entity_type,
        entity_id=entity_id,
        actor=actor,
        action=action,
        since=start,
        until=end,
        before_id=id_cursor(cursor),
        limit=limit + 1,
    )
    return page_of(
        Page[AuditRecordRead],
        rows,
        limit=limit,
        item=lambda r: AuditRecordRead.model_validate(r, from_attributes=True),
        cursor=before_cursor,
    )


@router.get(
    "/verify",
    response_model=AuditVerifyRead,
    responses=responses(401, 403),
    summary="Verify the hash chain",
)
def verify_audit(session: SessionDep, _user: Auditor) -> AuditVerifyRead:
    """Recompute every hash and link, oldest first: ``ok``, or the first broken record."""
    return AuditVerifyRead.model_validate(audit.verify(session).to_dict())

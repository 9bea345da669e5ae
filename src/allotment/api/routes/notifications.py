"""The notification outbox, as the service sees it (read-only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from allotment.api.deps import Principal, SessionDep, SettingsDep, require
from allotment.api.errors import responses
from allotment.api.pagination import check_limit
from allotment.api.routes.paging import before_cursor, id_cursor, page_of
from allotment.api.schemas.audit import NotificationRead
from allotment.api.schemas.common import NO_NUL, Page
from allotment.notify import repository as repo

router = APIRouter(prefix="/notifications", tags=["notifications"])

Reader = Annotated[Principal, Depends(require("notifications:read"))]


@router.get(
    "",
    response_model=Page[NotificationRead],
    responses=responses(401, 403, 422),
    summary="The notification outbox",
)
def list_notifications(
    session: SessionDep,
    settings: SettingsDep,
    _user: Reader,
    status: Literal["pending", "retrying", "sent", "dead"] | None = None,
    kind: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None,
    channel: Literal["log", "webhook", "smtp"] | None = None,
    limit: int = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[NotificationRead]:
    """Notifications newest first, by status, kind and channel; cursor pages."""
    check_limit(limit, max_page_size=settings.max_page_size)
    rows = repo.list_notifications(
        session=session,
        status=status,
        kind=kind,
        channel=channel,
        before_id=id_cursor(cursor),
        limit=limit + 1,
    )
    return page_of(
        Page[NotificationRead],
        rows,
        limit=limit,
        item=lambda r: NotificationRead.model_validate(r, from_attributes=True),
        cursor=before_cursor,
    )

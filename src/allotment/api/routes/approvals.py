"""The approvals inbox: what waits for my role that I may decide."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from allotment.api.deps import Principal, SessionDep, SettingsDep, require
from allotment.api.errors import responses
from allotment.api.pagination import check_limit
from allotment.api.routes.recommendations import read
from allotment.api.schemas.recommendations import InboxItem
from allotment.workflow import approvals as wf

router = APIRouter(prefix="/approvals", tags=["approvals"])

Decider = Annotated[Principal, Depends(require("approvals:decide"))]


@router.get(
    "/inbox",
    response_model=list[InboxItem],
    responses=responses(401, 403, 422),
    summary="Recommendations waiting for my role that I may decide",
)
def inbox(
    session: SessionDep, settings: SettingsDep, user: Decider, limit: int = 50
) -> list[InboxItem]:
    """Oldest submission first, then the largest amount; not my own requests, not chains where
    I already decided a step."""
    check_limit(limit, max_page_size=settings.max_page_size)
    rows = wf.inbox(session, actor=user.name, role=user.role.value, limit=limit)
    return [
        InboxItem(
            recommendation=read(r),
            step_index=r.current_step or 0,
            role=r.awaiting_role or user.role.value,
            waiting_since=r.submitted_at,
        )
        for r in rows
    ]

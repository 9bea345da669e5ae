"""The command center: where the backlog stands and what needs a decision first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from allotment.api.deps import SessionDep, SettingsDep
from allotment.recommend import repository as recs_repo
from allotment.web.deps import WebUser, page
from allotment.web.render import render
from allotment.web.routes.queue import parse_form, queue_page

router = APIRouter(prefix="/dashboard", include_in_schema=False)
Reader = Annotated[WebUser, Depends(page("backorders:read"))]

#: How many of the highest-priority backorders the command center lists.
CRITICAL = 8


def next_action(session: Any, backorder_id: int) -> Any:
    """The backorder's best live recommendation (rank 1 of its latest generation), if any."""
    live = [
        r
        for r in recs_repo.for_backorder(session=session, backorder_id=backorder_id)
        if r.status not in ("superseded", "rejected", "executed")
    ]
    return min(live, key=lambda r: (r.rank, -r.id)) if live else None


@router.get("")
def command_center(
    request: Request, session: SessionDep, settings: SettingsDep, user: Reader
) -> Response:
    """Summary, critical backorders with their next action, and where to go from here."""
    form = parse_form({"status": [], "tier": [], "limit": str(CRITICAL)})
    form.limit = CRITICAL
    rows, _ = queue_page(session, form, None, settings.max_page_size)
    for row in rows:
        row["action"] = next_action(session, row["id"])
    return render(request, "command_center.html", {"critical": rows}, user=user)

"""Outreach: which customers to call first, why, the facts to say and a drafted message."""

from __future__ import annotations

from typing import Annotated

import jinja2
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from allotment.api.deps import SessionDep
from allotment.insights.sql import reference_day
from allotment.outreach.service import OutreachEntry, outreach_list
from allotment.policy import service as policy_service
from allotment.web.deps import WebUser, page
from allotment.web.format import day, money
from allotment.web.render import TEMPLATES_DIR, render

# Plain text, not HTML: the page escapes the message when it shows it.
_TEXT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=False, keep_trailing_newline=True
)

router = APIRouter(prefix="/dashboard/outreach", include_in_schema=False)
Reader = Annotated[WebUser, Depends(page("outreach:read"))]


def draft_message(entry: OutreachEntry, *, sender: str) -> str:
    """The message to the customer, from the ``outreach_message.txt`` template."""
    template = _TEXT.get_template("outreach_message.txt")
    return template.render(e=entry, sender=sender, money=money, day=day).strip()


@router.get("")
def outreach(request: Request, session: SessionDep, user: Reader) -> Response:
    """The ranked list with reasons, facts and a drafted message per customer."""
    row, policy = policy_service.active_policy(session)
    result = outreach_list(
        session,
        policy=policy,
        policy_label=f"{row.name} v{row.version}",
        today=reference_day(session),
    )
    messages = {e.customer_id: draft_message(e, sender=user.name) for e in result.entries}
    return render(request, "outreach.html", {"o": result, "messages": messages}, user=user)

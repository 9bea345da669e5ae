"""Outreach: which customers to call first, why, the facts to say and a drafted message."""

from __future__ import annotations

from typing import Annotated

import jinja2
from fastapi import APIRouter, Depends, Form, Path, Request
from starlette.responses import RedirectResponse, Response

from allotment.api.deps import SessionDep
from allotment.api.repositories import outreach as contacts_repo
from allotment.api.routes.outreach import record
from allotment.api.schemas.common import MAX_INT
from allotment.domain.enums import ContactOutcome
from allotment.insights.sql import reference_day
from allotment.outreach.service import OutreachEntry, outreach_list
from allotment.policy import service as policy_service
from allotment.web.deps import WebUser, action, page
from allotment.web.format import day, money
from allotment.web.render import TEMPLATES_DIR, render

# Plain text, not HTML: the page escapes the message when it shows it.
_TEXT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=False, keep_trailing_newline=True
)

router = APIRouter(prefix="/dashboard/outreach", include_in_schema=False)
Reader = Annotated[WebUser, Depends(page("outreach:read"))]
Caller = Annotated[WebUser, Depends(action("outreach:contact"))]


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
    last = contacts_repo.latest_contacts(
        session=session, customer_ids=[e.customer_id for e in result.entries]
    )
    context = {
        "o": result,
        "messages": messages,
        "last": last,
        "outcomes": [o.value for o in ContactOutcome],
    }
    return render(request, "outreach.html", context, user=user)


@router.post("/{customer_id}/contacts")
def contacted(
    customer_id: Annotated[int, Path(ge=1, le=MAX_INT)],
    session: SessionDep,
    user: Caller,
    outcome: Annotated[ContactOutcome, Form()],
    note: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Record that the customer was contacted, with the outcome (audited), and go back."""
    record(
        session,
        customer_id=customer_id,
        actor=user.name,
        role=user.role,
        outcome=outcome,
        note=(note or "").strip() or None,
    )
    return RedirectResponse(f"/dashboard/outreach#customer-{customer_id}", status_code=303)

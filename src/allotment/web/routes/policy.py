"""Policy: the active policy, a draft to edit, its what-if preview, activation with a reason."""

from __future__ import annotations

from typing import Annotated, Any

import yaml  # type: ignore[import-untyped]
from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from allotment.api.deps import SessionDep
from allotment.api.schemas.common import MAX_INT
from allotment.policy import service as policy_service
from allotment.policy.documents import parse_policy_text, to_document
from allotment.policy.schema import Policy
from allotment.web.deps import WebUser, action, page
from allotment.web.render import is_htmx, render

router = APIRouter(prefix="/dashboard/policy", include_in_schema=False)
Reader = Annotated[WebUser, Depends(page("policies:read"))]
Previewer = Annotated[WebUser, Depends(action("policies:whatif"))]
Drafter = Annotated[WebUser, Depends(action("policies:draft"))]
Activator = Annotated[WebUser, Depends(action("policies:activate"))]
DraftText = Annotated[str, Form(min_length=1, max_length=100_000)]
Reason = Annotated[str, Form(min_length=1, max_length=2000)]

#: How many movers and queue rows a preview lists.
MOVERS, HEAD = 15, 100


def policy_yaml(policy: Policy) -> str:
    """The complete document as YAML (what the draft editor starts from)."""
    text: str = yaml.safe_dump(to_document(policy), sort_keys=False, allow_unicode=True)
    return text


def _page(
    request: Request,
    session: Session,
    user: WebUser,
    *,
    draft_text: str | None = None,
    message: str | None = None,
    error: str | None = None,
    whatif: Any = None,
    status: int = 200,
) -> Response:
    row, active = policy_service.active_policy(session)
    versions = policy_service.list_policies(session)
    context = {
        "row": row,
        "policy": active,
        "versions": versions,
        "draft_text": draft_text if draft_text is not None else policy_yaml(active),
        "message": message,
        "error": error,
        "w": whatif,
    }
    return render(request, "policy.html", context, user=user, status_code=status)


@router.get("")
def policy(
    request: Request,
    session: SessionDep,
    user: Reader,
    draft: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    saved: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
) -> Response:
    """The active policy, its versions and (for drafting roles) the draft editor."""
    text = None
    if draft is not None:
        _row, doc = policy_service.get_policy(session, policy_version_id=draft)
        text = policy_yaml(doc)
    message = f"Saved as draft version id {saved}." if saved else None
    return _page(request, session, user, draft_text=text, message=message)


@router.post("/whatif")
def whatif(request: Request, session: SessionDep, user: Previewer, document: DraftText) -> Response:
    """Preview the draft on today's backlog: the re-ranked queue and who moved, and why."""
    from allotment.scoring.service import exposures_of
    from allotment.scoring.whatif import scoring_day, what_if

    draft = parse_policy_text(document)
    result = what_if(
        session,
        draft=draft,
        active=policy_service.active_policy(session),
        exposures_of=exposures_of,
        as_of=scoring_day(session),
        head=HEAD,
        top_movers=MOVERS,
    )
    session.rollback()  # a preview: nothing is kept
    if is_htmx(request):
        return render(request, "_whatif.html", {"w": result}, user=user)
    return _page(request, session, user, draft_text=document, whatif=result)


@router.post("/drafts")
def save_draft(
    request: Request, session: SessionDep, user: Drafter, document: DraftText, reason: Reason
) -> Response:
    """Store the edited document as the next draft version of its name (audited)."""
    draft = parse_policy_text(document)
    row = policy_service.create_draft(
        session, document=draft, author=user.name, role=user.role, reason=reason
    )
    session.flush()
    return RedirectResponse(f"/dashboard/policy?saved={row.id}&draft={row.id}", status_code=303)


@router.post("/activate")
def activate(
    request: Request,
    session: SessionDep,
    user: Activator,
    policy_version_id: Annotated[int, Form(ge=1, le=MAX_INT)],
    reason: Reason,
) -> Response:
    """Make a stored version the active policy (the previous one retires; both audited)."""
    row = policy_service.activate(
        session, policy_version_id=policy_version_id, actor=user.name, role=user.role, reason=reason
    )
    session.flush()
    return _page(request, session, user, message=f"Policy {row.name} v{row.version} is now active.")

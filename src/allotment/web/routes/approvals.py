"""Approvals: the inbox (oldest and largest first), submitting, deciding and executing in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from allotment.api.deps import SessionDep
from allotment.api.schemas.common import MAX_INT
from allotment.domain.models import Backorder, Recommendation
from allotment.web.deps import WebUser, action, page
from allotment.web.render import render
from allotment.web.session import safe_next
from allotment.workflow import approvals as flow

router = APIRouter(prefix="/dashboard", include_in_schema=False)
Reader = Annotated[WebUser, Depends(page("approvals:decide"))]
Submitter = Annotated[WebUser, Depends(action("recommendations:submit"))]
Decider = Annotated[WebUser, Depends(action("approvals:decide"))]
Executor = Annotated[WebUser, Depends(action("recommendations:execute"))]
RecId = Annotated[int, Path(ge=1, le=MAX_INT)]
Text = Annotated[str | None, Form(max_length=flow.MAX_TEXT)]
Back = Annotated[str | None, Form(max_length=2000)]

DECISIONS = (
    (flow.Decision.APPROVE.value, "Approve"),
    (flow.Decision.APPROVE_WITH_CONDITIONS.value, "Approve with conditions"),
    (flow.Decision.REJECT.value, "Reject"),
    (flow.Decision.REQUEST_ALTERNATIVE.value, "Request an alternative"),
)


@dataclass(frozen=True)
class RecView:
    """A recommendation with its chain and what this user may do with it now."""

    rec: Recommendation
    chain: flow.Chain
    can_submit: bool
    can_decide: bool
    can_execute: bool
    why_not: str | None


def rec_view(session: Session, rec: Recommendation, user: WebUser) -> RecView:
    """The chain and the buttons this user's role and history allow (the service re-checks)."""
    chain = flow.chain(session, recommendation_id=rec.id)
    requesters = {p for p in (rec.created_by, rec.requested_by) if p}
    decided = any(d.decided_by == user.name and not d.voided for d in chain.decisions)
    pending = rec.status == "pending_approval"
    my_step = pending and rec.awaiting_role == user.role
    can_decide = (
        my_step and user.may("approvals:decide") and user.name not in requesters and not decided
    )
    why_not = None
    if pending and not can_decide:
        roles = flow.chain_roles(rec)
        waiting = str(rec.awaiting_role)
        why_not = f"waits for the {waiting.replace('_', ' ')}"
        if not my_step:
            if (
                user.role in roles
                and waiting in roles
                and roles.index(user.role) < roles.index(waiting)
            ):
                why_not += " (above your authority)"
            elif user.role in roles:
                why_not += " (not your step yet)"
            elif user.may("approvals:decide"):
                why_not += " (not a step for your role)"
        elif user.name in requesters:
            why_not += "; you requested it, so someone else decides"
        elif decided:
            why_not += "; you already decided a step of this chain"
    return RecView(
        rec=rec,
        chain=chain,
        can_submit=rec.status == "proposed" and user.may("recommendations:submit"),
        can_decide=can_decide,
        can_execute=rec.status == "approved" and user.may("recommendations:execute"),
        why_not=why_not,
    )


@router.get("/approvals")
def inbox(request: Request, session: SessionDep, user: Reader) -> Response:
    """What waits for my role and that I may decide: oldest submission, then largest first."""
    recs = flow.inbox(session, actor=user.name, role=user.role)
    items: list[dict[str, Any]] = []
    for rec in recs:
        backorder = session.get(Backorder, rec.backorder_id)
        items.append({"v": rec_view(session, rec, user), "backorder": backorder})
    return render(request, "approvals.html", {"items": items, "decisions": DECISIONS}, user=user)


def _back(back: str | None, rec: Recommendation) -> RedirectResponse:
    default = f"/dashboard/backorders/{rec.backorder_id}#rec-{rec.id}"
    target = safe_next(back) if back else default
    return RedirectResponse(target, status_code=303)


@router.post("/recommendations/{recommendation_id}/submit")
def submit(
    recommendation_id: RecId,
    session: SessionDep,
    user: Submitter,
    reason: Text = None,
    back: Back = None,
) -> Response:
    """Send a proposed recommendation into its approval chain (routed on its amount now)."""
    rec = flow.submit(
        session, recommendation_id=recommendation_id, actor=user.name, role=user.role, reason=reason
    )
    return _back(back, rec)


@router.post("/recommendations/{recommendation_id}/decide")
def decide(
    recommendation_id: RecId,
    session: SessionDep,
    user: Decider,
    decision: Annotated[str, Form(max_length=40)],
    reason: Text = None,
    conditions: Text = None,
    back: Back = None,
) -> Response:
    """Record my decision on the step that waits for my role (with a reason)."""
    rec = flow.decide(
        session,
        recommendation_id=recommendation_id,
        actor=user.name,
        role=user.role,
        decision=decision,
        reason=reason or "",
        conditions=conditions or None,
    )
    return _back(back, rec)


@router.post("/recommendations/{recommendation_id}/execute")
def execute(
    recommendation_id: RecId,
    session: SessionDep,
    user: Executor,
    reason: Text = None,
    back: Back = None,
) -> Response:
    """Carry out an approved recommendation through the backorder's state machine."""
    done = flow.execute(
        session,
        recommendation_id=recommendation_id,
        actor=user.name,
        role=user.role,
        reason=reason or "",
    )
    return _back(back, done.recommendation)

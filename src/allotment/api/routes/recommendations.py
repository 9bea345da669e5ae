"""Recommendations: list, detail with its approval chain, submit, decide, change, execute.

The flows live in :mod:`allotment.workflow.approvals`; these routes translate bodies and the
caller into its keyword arguments. Plain ``def``: submission and detail compute explanations.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from allotment.api.deps import Principal, SessionDep, SettingsDep, require
from allotment.api.errors import responses
from allotment.api.pagination import check_limit, decode_id_cursor, encode_id_cursor
from allotment.api.repositories import recommendations as repo
from allotment.api.routes.paging import page_of
from allotment.api.schemas.common import MAX_INT, Page
from allotment.api.schemas.recommendations import (
    DecisionRead,
    DecisionRequest,
    ExecuteRequest,
    ExecutionRead,
    RecommendationDetail,
    RecommendationRead,
    RecommendationStatus,
    RecommendationUpdate,
    RouteRead,
    StepRead,
    SubmitRequest,
)
from allotment.domain.models import Recommendation
from allotment.workflow import approvals as wf

router = APIRouter(prefix="/recommendations", tags=["recommendations"])

Reader = Annotated[Principal, Depends(require("recommendations:read"))]
Submitter = Annotated[Principal, Depends(require("recommendations:submit"))]
Decider = Annotated[Principal, Depends(require("approvals:decide"))]
Executor = Annotated[Principal, Depends(require("recommendations:execute"))]
IdParam = Annotated[int, Path(ge=1, le=MAX_INT)]


def read(rec: Recommendation) -> RecommendationRead:
    """The list/inbox view of a recommendation."""
    details = rec.details or {}
    arrival = details.get("eta_after") or details.get("arrival")
    return RecommendationRead(
        id=rec.id,
        backorder_id=rec.backorder_id,
        customer_id=rec.customer_id,
        product_id=rec.product_id,
        kind=rec.kind,
        status=RecommendationStatus(rec.status),
        rank=rec.rank,
        units=details.get("units"),
        arrival=arrival,
        cost=rec.cost,
        benefit=rec.benefit,
        net_value=rec.net_value,
        committed=rec.committed,
        amount=rec.amount,
        routed_amount=rec.routed_amount,
        needs_consent=rec.needs_consent,
        explanation=rec.explanation,
        created_at=rec.created_at,
        created_by=rec.created_by,
        requested_by=rec.requested_by,
        submitted_at=rec.submitted_at,
        awaiting_role=rec.awaiting_role,
        current_step=rec.current_step,
        decided_at=rec.decided_at,
        executed_at=rec.executed_at,
        executed_by=rec.executed_by,
    )


def _detail(session: SessionDep, recommendation_id: int, *, explain: bool) -> RecommendationDetail:
    view = wf.chain(session, recommendation_id=recommendation_id)
    rec = view.recommendation
    route = rec.route or {}
    explanation, problem = (
        wf.explain(session, backorder_id=rec.backorder_id) if explain else (None, "not asked")
    )
    return RecommendationDetail(
        **read(rec).model_dump(),
        route=RouteRead(
            chain=[str(r) for r in route.get("chain", [])],
            auto=bool(route.get("auto", False)),
            band_role=route.get("band_role"),
            notify=[str(r) for r in route.get("notify", [])],
            reasons=[str(r) for r in route.get("reasons", [])],
            policy_version_id=route.get("policy_version_id"),
            routed_at=route.get("routed_at"),
        ),
        steps=[
            StepRead(
                index=s.index,
                role=s.role,
                state=s.state,
                decided_by=s.decision.decided_by if s.decision else None,
                decision=s.decision.decision if s.decision else None,
            )
            for s in view.steps
        ],
        decisions=[
            DecisionRead(
                id=d.id,
                step_index=d.step_index,
                role=d.role,
                decided_by=d.decided_by,
                decision=d.decision,
                reason=d.reason,
                conditions=d.conditions,
                decided_at=d.decided_at,
                voided=d.voided,
                voided_at=d.voided_at,
            )
            for d in view.decisions
        ],
        conditions=view.conditions,
        details=dict(rec.details or {}),
        model_versions=dict(rec.model_versions or {}),
        policy_version_id=rec.policy_version_id,
        backorder_explanation=explanation,
        explanation_problem=problem,
    )


@router.get(
    "",
    response_model=Page[RecommendationRead],
    responses=responses(401, 403, 422),
    summary="Recommendations, newest first",
)
def list_recommendations(
    session: SessionDep,
    settings: SettingsDep,
    _user: Reader,
    backorder_id: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
    status_: Annotated[
        list[RecommendationStatus] | None,
        Query(alias="status", description="Repeatable; default: every status."),
    ] = None,
    limit: int = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[RecommendationRead]:
    """Filter by backorder and status; keyset cursor (pass ``next_cursor`` back)."""
    check_limit(limit, max_page_size=settings.max_page_size)
    rows = repo.list_recommendations(
        session=session,
        backorder_id=backorder_id,
        statuses=[s.value for s in status_] if status_ else None,
        limit=limit + 1,
        before_id=decode_id_cursor(cursor),
    )
    return page_of(
        Page[RecommendationRead],
        rows,
        limit=limit,
        item=read,
        cursor=lambda r: encode_id_cursor(r.id),
    )


@router.get(
    "/{recommendation_id}",
    response_model=RecommendationDetail,
    responses=responses(401, 403, 404, 422),
    summary="One recommendation with its approval chain and decisions",
)
def get_recommendation(
    recommendation_id: IdParam,
    session: SessionDep,
    _user: Reader,
    explain: Annotated[
        bool, Query(description="Include the backorder's explanation (cached once submitted).")
    ] = True,
) -> RecommendationDetail:
    """The recommendation, its route, each step's state, every decision (voided ones too)."""
    return _detail(session, recommendation_id, explain=explain)


@router.post(
    "/{recommendation_id}/submit",
    response_model=RecommendationDetail,
    responses=responses(401, 403, 404, 409, 413, 422),
    summary="Submit a proposed recommendation for approval",
)
def submit_recommendation(
    recommendation_id: IdParam, body: SubmitRequest, session: SessionDep, user: Submitter
) -> RecommendationDetail:
    """Route it and start its chain (approved at once under the automatic threshold)."""
    wf.submit(
        session,
        recommendation_id=recommendation_id,
        actor=user.name,
        role=user.role.value,
        reason=body.reason,
    )
    return _detail(session, recommendation_id, explain=True)


@router.post(
    "/{recommendation_id}/decisions",
    response_model=RecommendationDetail,
    responses=responses(401, 403, 404, 409, 413, 422),
    summary="Decide the step that waits for my role",
)
def decide_recommendation(
    recommendation_id: IdParam, body: DecisionRequest, session: SessionDep, user: Decider
) -> RecommendationDetail:
    """approve, approve_with_conditions, reject or request_alternative, with a reason.

    403 when the caller requested it, already decided a step of its chain or holds no role of
    it; 409 when it is not pending or the caller's step is not the one waiting.
    """
    wf.decide(
        session,
        recommendation_id=recommendation_id,
        actor=user.name,
        role=user.role.value,
        decision=body.decision,
        reason=body.reason,
        conditions=body.conditions,
    )
    return _detail(session, recommendation_id, explain=False)


@router.patch(
    "/{recommendation_id}",
    response_model=RecommendationDetail,
    responses=responses(401, 403, 404, 409, 413, 422),
    summary="Change the units a recommendation covers (voids its approvals)",
)
def update_recommendation(
    recommendation_id: IdParam, body: RecommendationUpdate, session: SessionDep, user: Submitter
) -> RecommendationDetail:
    """The server rescales its money; a submitted one loses its approvals and is re-routed."""
    wf.update(
        session,
        recommendation_id=recommendation_id,
        actor=user.name,
        role=user.role.value,
        reason=body.reason,
        units=body.units,
    )
    return _detail(session, recommendation_id, explain=False)


@router.post(
    "/{recommendation_id}/execute",
    response_model=ExecutionRead,
    responses=responses(401, 403, 404, 409, 413, 422),
    summary="Carry out an approved recommendation",
)
def execute_recommendation(
    recommendation_id: IdParam, body: ExecuteRequest, session: SessionDep, user: Executor
) -> ExecutionRead:
    """Acts on the backorder through its state machine (409 when not approved)."""
    done = wf.execute(
        session,
        recommendation_id=recommendation_id,
        actor=user.name,
        role=user.role.value,
        reason=body.reason,
    )
    return ExecutionRead(
        recommendation=read(done.recommendation),
        backorder_id=done.backorder_id,
        backorder_status_before=done.status_before,
        backorder_status_after=done.status_after,
        effect=done.effect,
        conditions=done.conditions,
    )

"""Allocations: simulate (nothing written), compare with the previous committed plan, commit.

The solver is CPU-bound: the routes are plain ``def`` (run in the thread pool, off the event
loop) and the time limit is the client's to set, up to a minute.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from allotment.allocation import service
from allotment.allocation.service import Comparison
from allotment.api.deps import Principal, SessionDep, SettingsDep, require
from allotment.api.errors import responses
from allotment.api.pagination import check_limit, decode_id_cursor, encode_id_cursor
from allotment.api.repositories import allocations as repo
from allotment.api.routes.paging import page_of
from allotment.api.schemas.allocations import (
    AllocationCommit,
    AllocationPlanRead,
    AllocationRunRead,
    AllocationSimulate,
    comparison,
)
from allotment.api.schemas.common import Limit, Page

router = APIRouter(prefix="/allocations", tags=["allocations"])

Reader = Annotated[Principal, Depends(require("allocations:read"))]
Committer = Annotated[Principal, Depends(require("allocations:commit"))]


@router.get(
    "",
    response_model=Page[AllocationRunRead],
    responses=responses(401, 403, 422),
    summary="Committed allocation plans, newest first",
)
def list_runs(
    session: SessionDep,
    settings: SettingsDep,
    _user: Reader,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Page[AllocationRunRead]:
    """Committed runs, newest first (pass ``next_cursor`` back for the next page)."""
    check_limit(limit, max_page_size=settings.max_page_size)
    rows = repo.list_runs(session=session, limit=limit + 1, before_id=decode_id_cursor(cursor))
    return page_of(
        Page[AllocationRunRead],
        rows,
        limit=limit,
        item=AllocationRunRead.model_validate,
        cursor=lambda r: encode_id_cursor(r.id),
    )


@router.post(
    "/simulate",
    response_model=AllocationPlanRead,
    responses=responses(401, 403, 413, 422),
    summary="Run the optimizer on the current backlog (nothing is written)",
)
def simulate(body: AllocationSimulate, session: SessionDep, _user: Reader) -> AllocationPlanRead:
    """Plan summary, lines short and why, shadow prices, greedy baseline, comparison."""
    outcome = service.run(session, time_limit=body.time_limit)
    session.rollback()  # a simulation: whatever the reads touched is not kept
    return AllocationPlanRead.of(outcome, top=body.top)


@router.post(
    "/compare",
    response_model=Comparison,
    responses=responses(401, 403, 413, 422),
    summary="A fresh plan against the previous committed one",
)
def compare(body: AllocationSimulate, session: SessionDep, _user: Reader) -> Comparison:
    """Backorders improved / deteriorated / unchanged and the value moved (USD)."""
    outcome = service.run(session, time_limit=body.time_limit)
    session.rollback()
    return comparison(outcome.comparison, top=body.top)


@router.post(
    "/commit",
    response_model=AllocationPlanRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(401, 403, 409, 413, 422),
    summary="Run and commit a plan: ship stock on hand, reserve supply, move backorders",
)
def commit(body: AllocationCommit, session: SessionDep, user: Committer) -> AllocationPlanRead:
    """Commit the plan as computed now (audited with the reason); 409 when infeasible."""
    outcome = service.run(session, time_limit=body.time_limit)
    run = service.commit(
        session, outcome=outcome, actor=user.name, reason=body.reason, role=user.role.value
    )
    return AllocationPlanRead.of(outcome, top=body.top, run_id=run.id)

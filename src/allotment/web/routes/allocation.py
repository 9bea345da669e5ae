"""Allocation: run a simulation, read the plan, the short lines and why, shadow prices, commit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from allotment.allocation import repository as alloc_repo
from allotment.api.deps import SessionDep
from allotment.web.deps import WebUser, action, page
from allotment.web.render import is_htmx, render

router = APIRouter(prefix="/dashboard/allocation", include_in_schema=False)
Simulator = Annotated[WebUser, Depends(page("allocations:read"))]
SimulateAction = Annotated[WebUser, Depends(action("allocations:read"))]
Committer = Annotated[WebUser, Depends(action("allocations:commit"))]

#: The dashboard waits at most this long for the solver (seconds; then greedy per component).
TIME_LIMIT = 30.0
TOP = 25


def _issues(issues: list[Any]) -> list[tuple[str, int]]:
    """The solver's notes in words, the same note once with how often it came up."""
    counts: dict[str, int] = {}
    for issue in issues:
        text = f"{issue.kind.replace('_', ' ')}: {issue.detail}"
        counts[text] = counts.get(text, 0) + 1
    return list(counts.items())[:10]


def _view(outcome: Any) -> dict[str, Any]:
    r = outcome.result
    short = sorted((o for o in r.lines if o.shortfall > 0), key=lambda o: (-o.shortfall, o.line))
    prices = [s for s in r.shadow_prices if s.usd_per_unit > 0][:TOP]
    return {
        "status": r.status,
        "objective": r.objective,
        "greedy": outcome.greedy.objective,
        "lines": len(r.lines),
        "units": sum(o.allocated for o in r.lines),
        "from_stock": sum(o.from_stock for o in r.lines),
        "short": short[:TOP],
        "short_count": len(short),
        "plan": sorted(r.plan, key=lambda p: (p.line, p.source))[:TOP],
        "plan_count": len(r.plan),
        "prices": prices,
        "issues": _issues(r.issues),
        "comparison": outcome.comparison,
        "as_of": outcome.built.problem.today,
        "seconds": outcome.seconds,
        "priority_source": outcome.built.priority_source,
    }


@router.get("")
def allocation(request: Request, session: SessionDep, user: Simulator) -> Response:
    """The latest committed plan and the form to run a simulation."""
    latest = alloc_repo.latest_run(session=session)
    return render(request, "allocation.html", {"latest": latest, "run": None}, user=user)


@router.post("/simulate")
def simulate(request: Request, session: SessionDep, user: SimulateAction) -> Response:
    """Solve on today's backlog and show the plan (nothing is written)."""
    from allotment.allocation import service  # the solver stack loads when it is used

    outcome = service.run(session, time_limit=TIME_LIMIT)
    session.rollback()  # a simulation: nothing it touched is kept
    context = {"run": _view(outcome), "latest": alloc_repo.latest_run(session=session)}
    template = "_allocation_result.html" if is_htmx(request) else "allocation.html"
    return render(request, template, context, user=user)


@router.post("/commit")
def commit(
    request: Request,
    session: SessionDep,
    user: Committer,
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:
    """Solve again and commit the plan (ships what is on hand, moves backorders, audited)."""
    from allotment.allocation import service

    outcome = service.run(session, time_limit=TIME_LIMIT)
    row = service.commit(session, outcome=outcome, actor=user.name, reason=reason)
    context = {"run": _view(outcome), "committed": row, "latest": row}
    template = "_allocation_result.html" if is_htmx(request) else "allocation.html"
    return render(request, template, context, user=user)

"""Allocation bodies: what a simulation or commit is asked, the plan summary it answers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt

from allotment.allocation.readback import LineOutcome, ShadowPrice
from allotment.allocation.service import AllocationRunResult, Comparison
from allotment.api.schemas.common import RequestBody


class AllocationSimulate(RequestBody):
    """Run the optimizer on the current backlog as of the latest scoring day; nothing is
    written (the CLI's ``--as-of`` plans from another day)."""

    time_limit: StrictFloat = Field(
        default=10.0, gt=0, le=60, description="Seconds for the solver; then greedy per part."
    )
    top: StrictInt = Field(
        default=20, ge=1, le=200, description="Short lines, shadow prices and moves listed."
    )


class AllocationCommit(AllocationSimulate):
    """Run and commit: ship what is on hand, reserve in-transit supply, move backorders."""

    reason: str = Field(min_length=1, max_length=2000)


class IssueRead(BaseModel):
    """A part of the problem the optimizer could not solve as asked (and what it did)."""

    kind: str
    lines: int
    detail: str
    conflicts: list[str]


class AllocationPlanRead(BaseModel):
    """A plan's summary (USD): objective against greedy on the same input, lines short and why,
    shadow prices (the value of one more unit of supply), the comparison with the previous
    committed plan. ``committed_run_id`` is set when the plan was committed."""

    status: str
    as_of: date
    objective_usd: float
    greedy_objective_usd: float
    gain_over_greedy_usd: float
    lines: int
    allocated_units: int
    from_stock_units: int
    short_lines: int
    priority_source: dict[str, int]
    issues: list[IssueRead]
    lines_short: list[LineOutcome]
    shadow_prices: list[ShadowPrice]
    binding: list[str]
    comparison: Comparison
    seconds: dict[str, float]
    committed_run_id: int | None = None

    @classmethod
    def of(
        cls, outcome: AllocationRunResult, *, top: int, run_id: int | None = None
    ) -> AllocationPlanRead:
        r = outcome.result
        short = sorted((o for o in r.lines if o.shortfall > 0), key=lambda o: -o.shortfall)
        return cls(
            status=r.status,
            as_of=outcome.built.problem.today,
            objective_usd=round(r.objective, 2),
            greedy_objective_usd=round(outcome.greedy.objective, 2),
            gain_over_greedy_usd=round(r.objective - outcome.greedy.objective, 2),
            lines=len(r.lines),
            allocated_units=sum(o.allocated for o in r.lines),
            from_stock_units=sum(o.from_stock for o in r.lines),
            short_lines=len(short),
            priority_source=dict(outcome.built.priority_source),
            issues=[IssueRead(**i.summary()) for i in r.issues[:top]],
            lines_short=short[:top],
            shadow_prices=sorted(r.shadow_prices, key=lambda s: -s.usd_per_unit)[:top],
            binding=r.binding(top),
            comparison=comparison(outcome.comparison, top=top),
            seconds=dict(outcome.seconds),
            committed_run_id=run_id,
        )


def comparison(c: Comparison, *, top: int) -> Comparison:
    """``c`` with its ``top`` largest moves."""
    return Comparison(**{**vars(c), "moves": c.moves[:top]})


class AllocationRunRead(BaseModel):
    """A committed plan; objectives in USD."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor: str
    reason: str
    policy_version_id: int | None
    as_of: date
    solver_status: str
    objective: float
    greedy_objective: float
    lines: int
    allocated_units: int
    stats: dict[str, Any]

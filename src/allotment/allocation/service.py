"""Allocation against the database: build the problem, solve it, compare, commit.

A run is a simulation until committed. ``commit`` writes the plan (``allocation_runs`` +
``allocations``), ships what is on hand now (stock is committed, backorders move to
``partially_resolved`` / ``resolved`` through the state machine; in-transit allocations stay
reservations), and appends one audit record. Services flush; the caller commits.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from allotment.allocation import repository as repo
from allotment.allocation.baselines import BaselineResult, greedy
from allotment.allocation.errors import AllocationInfeasibleError, AllocationInputInvalidError
from allotment.allocation.problem import (
    AllocationProblem,
    DemandLine,
    InTransit,
    OnHand,
    Substitute,
    TransferLane,
)
from allotment.allocation.readback import AllocationResult
from allotment.allocation.solve import solve
from allotment.db.types import to_money, utcnow
from allotment.domain.backorders import record_fulfilment
from allotment.domain.enums import AllocationStatus
from allotment.domain.models import AllocationRun, PolicyVersion
from allotment.policy.schema import Policy

#: Transfer lanes are not in the domain data yet: every pair of locations gets one, cheaper and
#: faster within a region (USD per unit, days).
LANE_SAME_REGION = (2.0, 2)
LANE_OTHER_REGION = (6.0, 5)
#: Days late of a delayed PO line when its supplier has no late receipt on record.
DEFAULT_DAYS_LATE = 10.0


@dataclass(frozen=True)
class BuiltProblem:
    """The problem and what is needed to write its plan back (ids by SKU / location code)."""

    problem: AllocationProblem
    demand: dict[int, repo.DemandRow]
    product_id: dict[str, int]
    location_id: dict[str, int]
    priority_source: dict[str, int]
    policy_version_id: int | None


@dataclass(frozen=True)
class Comparison:
    """This plan against the previous committed one, on backorders active in both."""

    previous_run_id: int | None
    improved: int = 0
    deteriorated: int = 0
    unchanged: int = 0
    value_gained: float = 0.0  # USD of units more than before
    value_lost: float = 0.0  # USD of units fewer than before
    moves: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class AllocationRunResult:
    """A simulated run: the optimizer's plan, greedy on the same input, the comparison."""

    built: BuiltProblem
    result: AllocationResult
    greedy: BaselineResult
    comparison: Comparison
    seconds: dict[str, float]

    def to_dict(self, *, top: int = 20) -> dict[str, Any]:
        out = self.result.to_dict(top=top)
        out["greedy_objective_usd"] = round(self.greedy.objective, 2)
        out["priority_source"] = self.built.priority_source
        out["as_of"] = self.built.problem.today.isoformat()
        out["comparison"] = {k: v for k, v in vars(self.comparison).items() if k != "moves"} | {
            "moves": self.comparison.moves[:top]
        }
        out["seconds"] = self.seconds
        return out


def _as_of(session: Session) -> date:
    return (
        repo.latest_score_day(session=session)
        or repo.latest_order_day(session=session)
        or utcnow().date()
    )


def build_problem(
    session: Session,
    *,
    as_of: date | None = None,
    policy: tuple[PolicyVersion, Policy] | None = None,
) -> BuiltProblem:
    """Read open backorders, free stock, open PO lines, substitutes and contracts.

    Units the latest committed run reserved on PO lines still open are locked: the plan keeps
    them (``locked[BO]``), so a later run cannot take back what was promised.

    Priority weight per unit = the latest score snapshot's priority / open quantity; a backorder
    never scored falls back to its value at risk per unit × the policy's tier and emergency
    multipliers (counted in ``priority_source``).
    """
    from allotment.policy import service as policy_service

    version, pol = policy or policy_service.active_policy(session)
    today = as_of or _as_of(session)
    alloc = pol.allocation
    rows = repo.open_demand(session=session)
    previous = repo.latest_run(session=session)
    locked = repo.locked_units(session=session, run_id=previous.id) if previous else {}
    sources = {"snapshot": 0, "value_at_risk": 0}
    lines: list[DemandLine] = []
    product_id: dict[str, int] = {}
    location_id: dict[str, int] = {}
    for r in rows:
        product_id[r.sku] = r.product_id
        location_id[r.location] = r.location_id
        if r.priority is not None:
            weight = r.priority / r.open_quantity
            sources["snapshot"] += 1
        else:
            per_unit = float(r.value_at_risk) / max(1, r.open_quantity)
            mult = pol.multipliers.tier.get(r.tier, 1.0)  # type: ignore[call-overload]
            weight = per_unit * mult * (pol.multipliers.emergency if r.is_emergency else 1.0)
            sources["value_at_risk"] += 1
        lines.append(
            DemandLine(
                line_id=r.backorder_id,
                order_line_id=r.order_line_id,
                order_id=r.order_id,
                customer_id=r.customer_id,
                tier=r.tier,
                sku=r.sku,
                location=r.location,
                quantity=r.open_quantity,
                unit_value=float(r.unit_price),
                priority_weight=max(0.0, weight),
                promised_date=r.promised_date,
                ordered_on=r.ordered_on,
                all_or_nothing=not r.allows_partial_ship,
                substitution_consent=r.allows_substitution,
                locked_quantity=min(locked.get(r.backorder_id, 0), r.open_quantity),
                label=r.number,
            )
        )
    stock = []
    for pid, sku, lid, code, free in repo.free_stock(session=session):
        product_id[sku] = pid
        location_id[code] = lid
        stock.append(OnHand(sku, code, free))
    # P(delay) of a PO line: the supplier-delay model's, as scored on a backorder waiting on it.
    p_delay: dict[int, float] = {}
    for r in rows:
        if r.po_line_id is not None and r.p_supplier_delay is not None:
            p_delay[r.po_line_id] = max(p_delay.get(r.po_line_id, 0.0), r.p_supplier_delay)
    supply = repo.open_po_lines(session=session)
    late: dict[int, list[float]] = defaultdict(list)
    for sup, promised, received in repo.late_receipts(
        session=session, supplier_ids=[s.supplier_id for s in supply]
    ):
        late[sup].append(float((received - promised).days))
    in_transit = []
    for s in supply:
        product_id[s.sku] = s.product_id
        location_id[s.location] = s.location_id
        days_late = (
            statistics.median(late[s.supplier_id]) if late[s.supplier_id] else DEFAULT_DAYS_LATE
        )
        in_transit.append(
            InTransit(
                po_line_id=s.po_line_id,
                sku=s.sku,
                location=s.location,
                quantity=s.quantity,
                expected_arrival=max(s.eta, today),
                p_delay=p_delay.get(s.po_line_id, 0.0),
                days_late_if_delayed=days_late,
            )
        )
    locs = repo.locations(session=session)
    for lid, code, _ in locs:
        location_id[code] = lid
    lanes = tuple(
        TransferLane(a, b, *(LANE_SAME_REGION if ra == rb else LANE_OTHER_REGION))
        for _, a, ra in locs
        for _, b, rb in locs
        if a != b
    )
    subs = tuple(Substitute(a, b, r) for a, b, r in repo.substitutes(session=session))
    problem = AllocationProblem(
        today=today,
        lines=tuple(lines),
        on_hand=tuple(stock),
        in_transit=tuple(in_transit),
        lanes=lanes,
        substitutes=subs,
        protected_share={t.value: s for t, s in alloc.protected_share.items()},
        lateness_cost_per_unit_day=float(alloc.lateness_cost_per_unit_day),
        # The contract's fill-rate commitment holds per customer, over all its open lines.
        customer_minimum_fill={
            r.customer_id: r.fill_rate_commitment
            for r in rows
            if alloc.enforce_contract_minimum_fill and r.fill_rate_commitment > 0
        },
    )
    return BuiltProblem(
        problem=problem,
        demand={r.backorder_id: r for r in rows},
        product_id=product_id,
        location_id=location_id,
        priority_source=sources,
        policy_version_id=version.id,
    )


def compare(session: Session, *, built: BuiltProblem, result: AllocationResult) -> Comparison:
    """Units per backorder in this plan against the latest committed plan."""
    previous = repo.latest_run(session=session)
    if previous is None:
        return Comparison(previous_run_id=None)
    before = repo.units_by_backorder(session=session, run_id=previous.id)
    improved = deteriorated = unchanged = 0
    gained = lost = 0.0
    moves: list[dict[str, Any]] = []
    for outcome in result.lines:
        if outcome.line_id not in before:
            continue
        # Units already shipped by the previous commit left the backlog: compare what is
        # still promised against what is still open.
        old = min(before[outcome.line_id], outcome.requested)
        delta = outcome.allocated - old
        price = float(built.demand[outcome.line_id].unit_price)
        if delta > 0:
            improved += 1
            gained += delta * price
        elif delta < 0:
            deteriorated += 1
            lost += -delta * price
        else:
            unchanged += 1
        if delta:
            moves.append({"backorder": outcome.line, "before": old, "after": outcome.allocated})
    moves.sort(key=lambda m: -abs(m["after"] - m["before"]))
    return Comparison(
        previous_run_id=previous.id,
        improved=improved,
        deteriorated=deteriorated,
        unchanged=unchanged,
        value_gained=round(gained, 2),
        value_lost=round(lost, 2),
        moves=moves,
    )


def run(
    session: Session,
    *,
    as_of: date | None = None,
    time_limit: float = 60.0,
    relax_minimum_fill: bool = True,
) -> AllocationRunResult:
    """Build, solve and compare (a simulation: nothing is written)."""
    t0 = time.perf_counter()
    built = build_problem(session, as_of=as_of)
    t1 = time.perf_counter()
    result = solve(built.problem, time_limit=time_limit, relax_minimum_fill=relax_minimum_fill)
    t2 = time.perf_counter()
    base = greedy(built.problem, network=result.network)
    comparison = compare(session, built=built, result=result)
    return AllocationRunResult(
        built=built,
        result=result,
        greedy=base,
        comparison=comparison,
        seconds={
            "load": round(t1 - t0, 3),
            "solve": round(t2 - t1, 3),
            "greedy": round(base.seconds, 3),
            "total": round(time.perf_counter() - t0, 3),
        },
    )


def commit(
    session: Session,
    *,
    outcome: AllocationRunResult,
    actor: str,
    reason: str,
    role: str | None = None,
) -> AllocationRun:
    """Write the plan, ship what is on hand now, move backorders, audit the run (as ``role``)."""
    from allotment.audit import service as audit

    result, built = outcome.result, outcome.built
    if not reason.strip():
        raise AllocationInputInvalidError("a committed allocation needs a reason", field="reason")
    if result.status == "infeasible":
        raise AllocationInfeasibleError(
            "the allocation is infeasible; nothing was committed", conflicts=result.conflicts
        )
    units = sum(o.allocated for o in result.lines)
    run_row = repo.add_run(
        session=session,
        run=AllocationRun(
            actor=actor,
            reason=reason,
            policy_version_id=built.policy_version_id,
            as_of=built.problem.today,
            solver_status=result.status,
            objective=result.objective,
            greedy_objective=outcome.greedy.objective,
            lines=len(result.lines),
            allocated_units=units,
            stats={
                **result.stats,
                "issues": [i.summary() for i in result.issues[:100]],
                "priority_source": built.priority_source,
            },
        ),
    )
    rows: list[dict[str, Any]] = []
    ship_now: dict[int, int] = defaultdict(int)
    for p in result.plan:
        demand = built.demand[p.line_id]
        rows.append(
            {
                "run_id": run_row.id,
                "backorder_id": p.line_id,
                "product_id": built.product_id[p.sku],
                "location_id": built.location_id[p.location],
                "po_line_id": p.po_line_id,
                "substitute": p.substitute,
                "quantity": p.quantity,
                "arrival": date.fromisoformat(p.arrival),
                "value": to_money(demand.unit_price * p.quantity),
                "unit_gain": p.unit_gain,
            }
        )
        if p.source_kind == "on_hand":
            ship_now[p.line_id] += p.quantity
            repo.commit_stock(
                session=session,
                product_id=built.product_id[p.sku],
                location_id=built.location_id[p.location],
                units=p.quantity,
            )
    repo.add_allocations(session=session, rows=rows)
    backorders = repo.backorders_by_id(session=session, ids=[o.line_id for o in result.lines])
    resolved = partial = 0
    arrivals: dict[int, date] = {}
    for p in result.plan:
        day = date.fromisoformat(p.arrival)
        arrivals[p.line_id] = max(arrivals.get(p.line_id, day), day)
    for o in result.lines:
        bo = backorders[o.line_id]
        if o.allocated == 0:
            bo.allocation_status = AllocationStatus.UNALLOCATED
            continue
        bo.allocation_status = (
            AllocationStatus.ALLOCATED if o.shortfall == 0 else AllocationStatus.PARTIALLY_ALLOCATED
        )
        bo.expected_fulfillment_date = arrivals.get(o.line_id)
        shipped = ship_now.get(o.line_id, 0)
        if shipped:
            record_fulfilment(
                session,
                backorder=bo,
                quantity=shipped,
                actor=actor,
                reason=(
                    f"allocation run {run_row.id}: {shipped} unit(s) from stock on hand; {reason}"
                ),
            )
            if bo.open_quantity == 0:
                resolved += 1
            else:
                partial += 1
    previous = outcome.comparison
    audit.append(
        session,
        actor=actor,
        role=role,
        action="allocation.committed",
        entity_type="allocation_run",
        entity_id=run_row.id,
        before={"previous_run_id": previous.previous_run_id},
        after={
            "status": result.status,
            "objective_usd": round(result.objective, 2),
            "greedy_objective_usd": round(outcome.greedy.objective, 2),
            "lines": len(result.lines),
            "allocated_units": units,
            "shipped_from_stock": sum(ship_now.values()),
            "resolved": resolved,
            "partially_resolved": partial,
            "improved": previous.improved,
            "deteriorated": previous.deteriorated,
            "value_gained_usd": previous.value_gained,
            "value_lost_usd": previous.value_lost,
        },
        reason=reason,
        policy_version_id=built.policy_version_id,
    )
    session.flush()
    return run_row

"""Recommendations against the database: simulate the plan, value the actions, route, save.

``generate`` is a simulation: it runs the allocation (nothing written), builds a
:class:`~allotment.recommend.actions.Case` for every backorder the plan leaves short or late,
ranks its actions and routes each on its approval amount summed over the same customer and SKU's
window (:mod:`allotment.recommend.approval`). ``save`` stores them, supersedes the backorders'
earlier ``proposed`` recommendations and audits. Services flush; the caller commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from allotment.allocation import service as allocation
from allotment.allocation.problem import AllocationProblem
from allotment.allocation.readback import AllocationResult, LineOutcome, PlanRow
from allotment.allocation.repository import DemandRow
from allotment.db.types import to_money, utcnow
from allotment.domain.enums import Tier
from allotment.domain.models import Recommendation
from allotment.policy.routing import Route
from allotment.policy.schema import Policy
from allotment.recommend import repository as repo
from allotment.recommend.actions import (
    Action,
    AlternateSupplier,
    Case,
    Options,
    StockElsewhere,
    SubstituteStock,
    expected_loss,
    money,
    recommend,
)
from allotment.recommend.approval import LIVE_STATUSES, Earlier, route_amount

#: Late share assumed for a supplier with fewer received lines than this (too little history):
#: the history is blended with it (a Beta prior worth ``PRIOR_LINES`` lines).
PRIOR_LINES = 5
PRIOR_LATE_SHARE = 0.3
#: Days late of a delayed delivery from a supplier with no late receipt on record.
DEFAULT_DAYS_LATE = allocation.DEFAULT_DAYS_LATE


@dataclass(frozen=True)
class Routed:
    """A ranked action with its own approval amount and route (USD)."""

    action: Action
    rank: int
    amount: Decimal
    route: Route

    def to_dict(self) -> dict[str, Any]:
        a = self.action
        return {
            "rank": self.rank,
            "kind": a.kind.value,
            "units": a.units,
            "cost_usd": float(money(a.cost)),
            "benefit_usd": float(money(a.benefit)),
            "net_value_usd": float(money(a.net)),
            "committed_usd": float(money(a.committed)),
            "amount_usd": float(self.amount),
            "routed_amount_usd": float(self.route.amount),
            "arrival": a.arrival.isoformat() if a.arrival else None,
            "p_breach_after": round(a.p_breach_after, 4),
            "needs_consent": a.needs_consent,
            "explanation": a.explanation,
            "route": self.route.to_dict(),
            "details": a.details,
        }


@dataclass(frozen=True)
class BackorderRecommendations:
    """The ranked actions of one backorder and why it needs them."""

    case: Case
    product_id: int
    why: str
    expected_loss: dict[str, float]
    actions: list[Routed]
    model_versions: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        c = self.case
        return {
            "backorder_id": c.backorder_id,
            "backorder": c.number,
            "customer_id": c.customer_id,
            "tier": c.tier,
            "sku": c.sku,
            "open_quantity": c.open_quantity,
            "late_units": c.late_units,
            "promised_date": c.promised_date.isoformat(),
            "why": self.why,
            "scored": c.scored,
            "p_sla_breach": round(c.p_sla_breach, 4),
            "p_churn": round(c.p_churn, 4),
            "expected_loss_usd": {k: round(v, 2) for k, v in self.expected_loss.items()},
            "actions": [r.to_dict() for r in self.actions],
        }


@dataclass(frozen=True)
class RecommendationSet:
    """One generation: the plan it was based on and the recommendations per backorder."""

    as_of: date
    created_at: datetime
    policy_version_id: int | None
    plan_status: str
    considered: int
    items: list[BackorderRecommendations]

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "created_at": self.created_at.isoformat(),
            "policy_version_id": self.policy_version_id,
            "plan_status": self.plan_status,
            "considered": self.considered,
            "needing_action": len(self.items),
            "backorders": [i.to_dict() for i in self.items],
        }


def _late_share(rec: repo.SupplierRecord) -> float:
    return (rec.late + PRIOR_LATE_SHARE * PRIOR_LINES) / (rec.received + PRIOR_LINES)


def _case(
    d: DemandRow,
    outcome: LineOutcome,
    rows: list[PlanRow],
    problem: AllocationProblem,
    snap: repo.Snapshot | None,
    terms: repo.CustomerTerms | None,
    open_value: float,
    policy: Policy,
    unit_cost: float,
    po_info: dict[int, tuple[int, float]],
    po_free: dict[int, int],
) -> Case | None:
    promised = d.promised_date
    on_time = sum(r.quantity for r in rows if date.fromisoformat(r.arrival) <= promised)
    if outcome.shortfall == 0 and on_time >= d.open_quantity:
        return None  # the plan resolves it in time
    here = sum(r.quantity for r in rows if r.source_kind == "on_hand" and r.location == d.location)
    late_rows = [r for r in rows if date.fromisoformat(r.arrival) > promised]
    late_arrival = (
        None
        if outcome.shortfall > 0
        else max((date.fromisoformat(r.arrival) for r in late_rows), default=None)
    )
    po_rows = sorted((r for r in late_rows if r.po_line_id is not None), key=lambda r: r.arrival)
    # Expediting helps the PO line the plan's late units come from; the backorder's own PO line
    # only when the plan left units of it free (else its units go to other backorders).
    po_line_id = po_rows[-1].po_line_id if po_rows else None
    if po_line_id is None and d.po_line_id is not None and po_free.get(d.po_line_id, 0) > 0:
        po_line_id = d.po_line_id
    transit = {t.po_line_id: t for t in problem.in_transit}
    supply = transit.get(po_line_id) if po_line_id is not None else None
    value = float(d.unit_price) * d.open_quantity
    if snap is not None and snap.p_sla_breach is not None:
        p_sla, scored = float(snap.p_sla_breach), True
    else:
        p_sla, scored = 1.0, False  # unscored: the plan says late, so the breach is certain
    p_churn = float(snap.p_churn) if snap is not None and snap.p_churn is not None else 0.0
    exposures = snap.exposures if snap is not None else {}
    relationship = exposures.get("churn")
    if relationship is None:
        ltv = terms.lifetime_value if terms else 0.0
        share = value / open_value if open_value > 0 else 1.0
        relationship = ltv * policy.blend.relationship_value_share * share
    return Case(
        backorder_id=d.backorder_id,
        number=d.number,
        customer_id=d.customer_id,
        tier=d.tier,
        sku=d.sku,
        location=d.location,
        today=problem.today,
        promised_date=promised,
        open_quantity=d.open_quantity,
        unit_price=float(d.unit_price),
        unit_cost=unit_cost,
        on_time_units=min(on_time, d.open_quantity),
        from_stock=here,
        late_arrival=late_arrival,
        p_sla_breach=p_sla,
        p_churn=p_churn,
        # The contract's own terms: the recommender prices the days an action saves by them.
        penalty_rate_per_day=terms.penalty_rate_per_day if terms else 0.0,
        penalty_cap_rate=terms.penalty_cap_rate if terms else 0.0,
        relationship_value=float(relationship),
        lateness_cost_per_unit_day=problem.lateness_cost_per_unit_day,
        po_line_id=supply.po_line_id if supply else None,
        po_eta=supply.expected_arrival if supply else None,
        po_unit_cost=po_info[supply.po_line_id][1]
        if supply and supply.po_line_id in po_info
        else 0.0,
        po_p_delay=supply.p_delay if supply else 0.0,
        po_days_late_if_delayed=supply.days_late_if_delayed if supply else 0.0,
        allows_partial_ship=d.allows_partial_ship,
        allows_substitution=d.allows_substitution,
        scored=scored,
    )


def _why(case: Case) -> str:
    if case.late_arrival is None:
        return (
            f"the plan covers {case.on_time_units} of {case.open_quantity} unit(s) by the promised"
            f" {case.promised_date}; {case.late_units} have no supply in sight"
        )
    return (
        f"the plan delivers {case.late_units} of {case.open_quantity} unit(s) on"
        f" {case.late_arrival}, after the promised {case.promised_date}"
    )


def _free_after_plan(problem: AllocationProblem, result: AllocationResult) -> dict[str, list[Any]]:
    """Free stock per SKU left after the plan: (location, units)."""
    used: dict[tuple[str, str], int] = defaultdict(int)
    for p in result.plan:
        if p.source_kind == "on_hand":
            used[(p.sku, p.location)] += p.quantity
    free: dict[str, list[Any]] = defaultdict(list)
    for s in problem.on_hand:
        left = s.quantity - used[(s.sku, s.location)]
        if left > 0:
            free[s.sku].append((s.location, left))
    return free


def generate(
    session: Session,
    *,
    ids: Sequence[int] | None = None,
    as_of: date | None = None,
    limit: int | None = None,
    requested_by: str | None = None,
    now: datetime | None = None,
    time_limit: float = 60.0,
) -> RecommendationSet:
    """Recommendations for the backorders the simulated plan cannot resolve in time."""
    from allotment.policy import service as policy_service

    version, policy = policy_service.active_policy(session)
    created = now or utcnow()
    outcome = allocation.run(session, as_of=as_of, time_limit=time_limit)
    built, result, problem = outcome.built, outcome.result, outcome.built.problem
    wanted = set(ids) if ids is not None else None
    rows_of: dict[int, list[PlanRow]] = defaultdict(list)
    for p in result.plan:
        rows_of[p.line_id].append(p)
    outcomes = {o.line_id: o for o in result.lines}
    demand = [
        d
        for d in built.demand.values()
        if (wanted is None or d.backorder_id in wanted) and d.backorder_id in outcomes
    ]
    demand.sort(key=lambda d: d.backorder_id)
    bo_ids = [d.backorder_id for d in demand]
    snaps = repo.latest_snapshots(session=session, backorder_ids=bo_ids)
    terms = repo.customer_terms(
        session=session, customer_ids=sorted({d.customer_id for d in demand})
    )
    info = repo.products(session=session, skus=sorted({d.sku for d in demand}))
    po_ids = sorted({t.po_line_id for t in problem.in_transit})
    po_info = repo.po_lines(session=session, ids=po_ids)
    open_value: dict[int, float] = defaultdict(float)
    for d in built.demand.values():
        open_value[d.customer_id] += float(d.unit_price) * d.open_quantity
    free = _free_after_plan(problem, result)
    po_used: dict[int, int] = defaultdict(int)
    for p in result.plan:
        if p.po_line_id is not None:
            po_used[p.po_line_id] += p.quantity
    po_free = {t.po_line_id: t.quantity - po_used[t.po_line_id] for t in problem.in_transit}
    lanes = {(ln.origin, ln.destination): ln for ln in problem.lanes}
    subs_of: dict[str, list[Any]] = defaultdict(list)
    for s in problem.substitutes:
        subs_of[s.sku].append(s)
    cats = sorted({i.category for i in info.values()})
    by_cat = repo.category_suppliers(session=session, categories=cats)
    records = repo.supplier_records(
        session=session, supplier_ids=sorted({s for ids_ in by_cat.values() for s in ids_})
    )

    cases: list[tuple[Case, DemandRow]] = []
    for d in demand:
        prod = info.get(d.sku)
        case = _case(
            d,
            outcomes[d.backorder_id],
            rows_of[d.backorder_id],
            problem,
            snaps.get(d.backorder_id),
            terms.get(d.customer_id),
            open_value[d.customer_id],
            policy,
            prod.unit_cost if prod else float(d.unit_price),
            po_info,
            po_free,
        )
        if case is not None:
            cases.append((case, d))

    window = timedelta(hours=policy.recommendations.split_window_hours)
    earlier = [
        Earlier(cid, sku, at, amount)
        for cid, sku, at, amount in repo.live_in_window(
            session=session,
            customer_ids=sorted({c.customer_id for c, _ in cases}),
            since=created - window,
            statuses=LIVE_STATUSES,
            exclude_proposed_of=[c.backorder_id for c, _ in cases],
        )
    ]
    items: list[BackorderRecommendations] = []
    for case, d in cases:
        prod = info.get(d.sku)
        current_supplier = None
        if case.po_line_id is not None and case.po_line_id in po_info:
            current_supplier = po_info[case.po_line_id][0]
        elif prod is not None:
            current_supplier = prod.supplier_id
        suppliers = []
        for sid in by_cat.get(prod.category, []) if prod else []:
            rec = records.get(sid)
            if sid == current_supplier or rec is None:
                continue
            suppliers.append(
                AlternateSupplier(
                    supplier_id=sid,
                    code=rec.code,
                    lead_time_days=rec.lead_time_days,
                    cost_ratio=rec.cost_ratio,
                    p_delay=_late_share(rec),
                    days_late_if_delayed=rec.median_days_late or DEFAULT_DAYS_LATE,
                )
            )
        current_ratio = records[current_supplier].cost_ratio if current_supplier in records else 1.0
        elsewhere = []
        for loc, units in free.get(case.sku, []):
            lane = lanes.get((loc, case.location))
            if loc == case.location or lane is None:
                continue
            elsewhere.append(StockElsewhere(loc, units, lane.cost_per_unit, lane.lead_time_days))
        substitutes = []
        for s in subs_of.get(case.sku, []):
            for loc, units in free.get(s.substitute_sku, []):
                lane = lanes.get((loc, case.location))
                if loc != case.location and lane is None:
                    continue
                substitutes.append(
                    SubstituteStock(
                        sku=s.substitute_sku,
                        location=loc,
                        available=units,
                        premium_rate=s.premium_rate,
                        cost_per_unit=lane.cost_per_unit if lane and loc != case.location else 0.0,
                        lead_time_days=lane.lead_time_days if lane and loc != case.location else 0,
                    )
                )
        options = Options(
            stock_elsewhere=tuple(elsewhere),
            suppliers=tuple(suppliers),
            substitutes=tuple(substitutes),
            current_cost_ratio=current_ratio,
        )
        ranked = recommend(case, options, policy, limit)
        routed: list[Routed] = []
        for i, action in enumerate(ranked, start=1):
            amount = action.approval_amount()
            r = route_amount(
                policy,
                amount,
                tier=Tier(case.tier),
                customer_id=case.customer_id,
                sku=case.sku,
                at=created,
                earlier=earlier if action.committed > 0 else (),
                requested_by=requested_by,
            )
            routed.append(Routed(action=action, rank=i, amount=amount, route=r))
        # Within one generation the first-ranked action of this backorder counts for the next
        # backorder of the same customer and SKU (it is the one expected to be submitted).
        if routed and routed[0].action.committed > 0:
            earlier.append(Earlier(case.customer_id, case.sku, created, routed[0].amount))
        snap = snaps.get(case.backorder_id)
        items.append(
            BackorderRecommendations(
                case=case,
                product_id=built.product_id.get(case.sku, d.product_id),
                why=_why(case),
                expected_loss=expected_loss(case),
                actions=routed,
                model_versions=snap.model_versions if snap else {},
            )
        )
    return RecommendationSet(
        as_of=problem.today,
        created_at=created,
        policy_version_id=version.id,
        plan_status=result.status,
        considered=len(demand),
        items=items,
    )


def save(
    session: Session, *, recs: RecommendationSet, actor: str, allocation_run_id: int | None = None
) -> list[Recommendation]:
    """Store a generation: supersede the backorders' ``proposed`` ones, insert, audit."""
    from allotment.audit import service as audit

    bo_ids = [i.case.backorder_id for i in recs.items]
    repo.supersede_proposed(session=session, backorder_ids=bo_ids)
    rows: list[Recommendation] = []
    per_backorder: list[tuple[BackorderRecommendations, list[Recommendation]]] = []
    for item in recs.items:
        mine = []
        for r in item.actions:
            a = r.action
            mine.append(
                Recommendation(
                    backorder_id=item.case.backorder_id,
                    customer_id=item.case.customer_id,
                    product_id=item.product_id,
                    kind=a.kind.value,
                    status="proposed",
                    rank=r.rank,
                    cost=money(a.cost),
                    benefit=money(a.benefit),
                    net_value=money(a.net),
                    committed=money(a.committed),
                    amount=r.amount,
                    routed_amount=to_money(r.route.amount),
                    route=r.route.to_dict(),
                    needs_consent=a.needs_consent,
                    explanation=a.explanation,
                    details={
                        **a.details,
                        "units": a.units,
                        "arrival": a.arrival.isoformat() if a.arrival else None,
                        "p_breach_before": item.case.p_sla_breach,
                        "p_breach_after": a.p_breach_after,
                        "why": item.why,
                        "plan": {"as_of": recs.as_of.isoformat(), "status": recs.plan_status},
                        "scored": item.case.scored,
                    },
                    created_at=recs.created_at,
                    created_by=actor,
                    policy_version_id=recs.policy_version_id,
                    model_versions=item.model_versions,
                    allocation_run_id=allocation_run_id,
                )
            )
        rows.extend(mine)
        per_backorder.append((item, mine))
    repo.add_all(session=session, rows=rows)
    for item, mine in per_backorder:
        audit.append(
            session,
            actor=actor,
            role=None,
            action="recommendations.generated",
            entity_type="backorder",
            entity_id=item.case.backorder_id,
            before=None,
            after={
                "recommendations": [
                    {
                        "id": m.id,
                        "kind": m.kind,
                        "net_value": str(m.net_value),
                        "routed_amount": str(m.routed_amount),
                        "chain": m.route["chain"],
                    }
                    for m in mine
                ],
            },
            reason=item.why,
            model_versions=item.model_versions or None,
            policy_version_id=recs.policy_version_id,
        )
    session.flush()
    return rows

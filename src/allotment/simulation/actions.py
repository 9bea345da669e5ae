"""Which backorders each policy buys from the spot market: the recommendation side of a policy.

The world's only supply action is the planners' spot buy (an alternate source at the spot
price, ``SPOT_COST_PREMIUM`` × the regular unit cost, arriving after a quoted lead time the world
honours). In the world's own dynamics a keyed random draw on tier, emergency and value decides
which backorders get one (:meth:`allotment.world.model.World._plan_rescue`), the same under every
allocation policy. Here each policy spends the **same action budget** on the backorders it
ranks first (:class:`RankedRescues`, the world's :class:`~allotment.world.policies.RescuePlanner`):

The budget
----------
The number of spot buys per simulated day is what the world's own planner places that day in a
*reference run* of the same seed (the handbook's static allocation with the world's planner:
the run every policy made before actions became a policy decision;
:func:`allotment.simulation.engine.reference_budget`). A count, not a spend: it is the
planners' daily capacity and the spot market's daily availability as the world has them (the
market dries up in a supply crunch, and the reference run's count follows it); what a policy
spends with its slots is counted as money lost, so a policy that buys dearer lines pays for it.
A slot not used on a day is lost (planner time does not keep).

The rankings
------------
Candidates are the world's :meth:`~allotment.world.model.World.rescue_candidates`: active
backorders created before today whose line still waits and was not bought before.

``fcfs``
    The oldest order first (order day, then the order line).
``static-tier``
    The handbook's static priority: the shipped ``static-tier`` policy through
    :func:`allotment.scoring.blend.blend` (tier × emergency × (value + $50 a day waited)).
``blend``
    What the product's recommender proposes: the net value (expected loss removed − the spot
    premium) of the alternate-source action (:func:`allotment.recommend.actions.alternate_supplier`)
    on a :class:`~allotment.recommend.actions.Case` built as the recommendation service builds one,
    with the champion models' risks (:class:`~allotment.simulation.risks.ModelRisks`, the last
    re-score). A backorder without an SLA-breach score is priced as the service prices an
    unscored one (P(breach) 1). Only actions of positive net value are taken: the recommender
    proposes "hold" otherwise, so the blend may leave slots unused.
``oracle-blend``
    The same with the world's true probabilities (diagnostic): P(breach) of a locked line is
    the exact probability its PO line's piece arrives after the promised day.

Every ranking breaks ties by the backorder's index (creation order), so runs are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from allotment.allocation.service import DEFAULT_DAYS_LATE
from allotment.policy.schema import Policy
from allotment.recommend.actions import AlternateSupplier, Case, alternate_supplier
from allotment.scoring.blend import Risks, blend, exposure_matrix
from allotment.simulation.policies import RankedPolicy, WorldPricing
from allotment.simulation.risks import ModelRisks, OracleRisks, RiskSource
from allotment.world.model import SPOT_COST_PREMIUM, World
from allotment.world.policies import TIER_CODES, DemandLines, FcfsPolicy

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: The spot market's premium over the regular unit cost (the world's ``SPOT_COST_PREMIUM``):
#: the quote the blend's recommender prices a spot buy with.
SPOT_PREMIUM_RATE = Decimal(str(round(SPOT_COST_PREMIUM - 1.0, 6)))

#: A ranking: (score per candidate, higher first; which candidates it would act on at all).
Ranking = Callable[[World, I64, int], tuple[F64, npt.NDArray[np.bool_]]]


@dataclass(frozen=True)
class Chosen:
    """One spot buy a policy decided: the day, the backorder and the score it ranked on."""

    day: int
    backorder: int
    score: float


@dataclass
class RankedRescues:
    """Spend ``budget[day]`` spot buys a day on the candidates ``ranking`` puts first.

    Attributes
    ----------
    chosen
        Every decision, in order (for the diagnosis).
    unused
        Budget slots left unused (no candidate, or none the ranking would act on).
    """

    name: str
    ranking: Ranking
    budget: Mapping[int, int]
    chosen: list[Chosen] = field(default_factory=list)
    unused: int = 0

    def choose(self, world: World, candidates: I64, day: int) -> I64:
        """The backorders to buy today (at most ``budget[day]``, best first)."""
        n = int(self.budget.get(day, 0))
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        if not len(candidates):
            self.unused += n
            return np.zeros(0, dtype=np.int64)
        score, act = self.ranking(world, candidates, day)
        pos = np.flatnonzero(act)
        order = pos[np.lexsort((candidates[pos], -score[pos]))][:n]
        self.unused += n - len(order)
        self.chosen.extend(Chosen(day, int(candidates[i]), float(score[i])) for i in order.tolist())
        return np.asarray(candidates[order], dtype=np.int64)


def backorder_lines(world: World, bo: I64, day: int) -> DemandLines:
    """The order lines of backorders ``bo`` as the policies see demand (open units, USD)."""
    lines = world.lines
    idx = world.backorders["line"][bo]
    return DemandLines(
        line_id=idx,
        group=lines["pair"][idx],
        quantity=lines["qty"][idx] - lines["shipped"][idx],
        allow_partial=lines["partial_ok"][idx],
        unit_price=lines["price"][idx] / 100.0,
        tier=lines["tier"][idx],
        emergency=lines["emergency"][idx],
        ordered_day=lines["day"][idx],
        day=day,
    )


def by_order_date(world: World, bo: I64, day: int) -> tuple[F64, npt.NDArray[np.bool_]]:
    """``fcfs``: the oldest order first (then the lower order line)."""
    line = world.backorders["line"][bo]
    score = -world.lines["day"][line].astype(np.float64) - line / (10.0 * world.lines.n + 1.0)
    return score, np.ones(len(bo), dtype=bool)


def by_priority(policy: Policy, pricing: WorldPricing) -> Ranking:
    """A rule-only policy's priority (``static-tier``: tier × emergency × (value + age))."""
    if policy.blend.use_models:
        raise ValueError(f"{policy.name} uses models: rank its actions by net value")

    def rank(world: World, bo: I64, day: int) -> tuple[F64, npt.NDArray[np.bool_]]:
        lines = backorder_lines(world, bo, day)
        nan = np.full(len(bo), np.nan)
        score = blend(pricing.exposures(lines), Risks(nan, nan, nan), policy).priority
        return score, np.ones(len(bo), dtype=bool)

    return rank


def spot_cases(
    world: World, bo: I64, day: int, *, pricing: WorldPricing, risks: RiskSource, policy: Policy
) -> list[tuple[Case, AlternateSupplier]]:
    """The recommender's case for each backorder and the spot market's quote for it.

    Built as :mod:`allotment.recommend.service` builds a case: nothing arrives by the promised
    day unless the PO line it waits on is due by then; the late units arrive at that PO line's
    ETA (no supply in sight when it waits on none); P(breach) and P(churn) from ``risks``
    (unscored breach: 1); the penalty rate and cap of the customer's contract in force, and the
    relationship value from the blend's exposures; the PO line's P(delay) from ``risks`` and the
    allocation service's default days late.
    """
    w = world
    lines = backorder_lines(w, bo, day)
    idx = lines.line_id
    r = risks.risks(lines)
    p_breach, scored = _breach(w, idx, lines, r, risks)
    p_churn = np.nan_to_num(r.churn, nan=0.0)
    p_delay = np.nan_to_num(r.supplier_delay, nan=0.0)
    x = pricing.exposures(lines)
    e = exposure_matrix(x, policy.blend)
    lead = w.rescue_lead(bo)
    peg = w.lines["peg"][idx]
    promised = w.lines["promised"][idx]
    product = w.pair_product[lines.group]
    cost = w.prod_cost_cents[product] / 100.0
    lateness = float(policy.allocation.lateness_cost_per_unit_day)
    today = w.date_of(day)
    out = []
    for i in range(len(bo)):
        po = int(peg[i])
        eta = int(w.pol["eta"][po]) if po >= 0 else -1
        qty = int(lines.quantity[i])
        case = Case(
            backorder_id=int(bo[i]),
            number=str(int(bo[i])),
            customer_id=int(w.lines["customer"][idx[i]]),
            tier=TIER_CODES[int(lines.tier[i])],
            sku=str(int(product[i])),
            location=str(int(w.pair_loc[lines.group[i]])),
            today=today,
            promised_date=w.date_of(int(promised[i])),
            open_quantity=qty,
            unit_price=float(lines.unit_price[i]),
            unit_cost=float(cost[i]),
            on_time_units=qty if po >= 0 and eta <= promised[i] else 0,
            from_stock=0,
            late_arrival=w.date_of(eta) if po >= 0 else None,
            p_sla_breach=float(p_breach[i]),
            p_churn=float(p_churn[i]),
            penalty_rate_per_day=float(x.penalty_rate_per_day[i]),
            penalty_cap_rate=float(x.penalty_cap_rate[i]),
            relationship_value=float(e[i, 1]),
            lateness_cost_per_unit_day=lateness,
            po_line_id=po if po >= 0 else None,
            po_eta=w.date_of(eta) if po >= 0 else None,
            po_unit_cost=float(w.pol["cost"][po]) / 100.0 if po >= 0 else 0.0,
            po_p_delay=float(p_delay[i]) if po >= 0 else 0.0,
            po_days_late_if_delayed=DEFAULT_DAYS_LATE if po >= 0 else 0.0,
            allows_partial_ship=bool(lines.allow_partial[i]),
            scored=bool(scored[i]),
        )
        # The spot market's quote: its lead time, honoured (the world's spot buys arrive on
        # the day quoted), at the regular cost times the spot premium.
        quote = AlternateSupplier(
            supplier_id=-1,
            code="spot market",
            lead_time_days=int(lead[i]),
            cost_ratio=1.0,
            p_delay=0.0,
            days_late_if_delayed=0.0,
        )
        out.append((case, quote))
    return out


def _breach(
    world: World, idx: I64, lines: DemandLines, r: Risks, risks: RiskSource
) -> tuple[F64, npt.NDArray[np.bool_]]:
    """P(SLA breach) of backorder lines ``idx`` and whether it was scored."""
    if isinstance(risks, OracleRisks):
        return oracle_breach(world, idx, lines.day), np.ones(len(idx), dtype=bool)
    if isinstance(risks, ModelRisks):
        sla = risks.sla
        scored = idx < len(sla)
        scored[scored] = ~np.isnan(sla[idx[scored]])
        p = np.ones(len(idx))  # unscored: the plan says late, the breach is certain
        p[scored] = sla[idx[scored]]
        return p, scored
    p = np.asarray(r.sla_breach, dtype=np.float64)
    return np.where(np.isnan(p), 1.0, p), ~np.isnan(p)


def oracle_breach(world: World, idx: I64, day: int) -> F64:
    """True P(SLA breach) of waiting lines ``idx`` as of ``day``, without a spot buy.

    1 once the promised day has passed or with no PO line to wait on; for a line locked to its
    PO line, the chance that the piece covering it arrives after the promised day
    (:meth:`World.p_supply_on_time`); for a line pegged but not locked, that PO line's whole
    quantity.
    """
    w = world
    lines = w.lines
    promised = lines["promised"][idx]
    peg = lines["peg"][idx]
    out = np.ones(len(idx))
    live = (peg >= 0) & (promised >= day)
    if live.any():
        po = peg[live]
        locked = lines["locked"][idx[live]]
        pos_end = np.where(locked, lines["pos_end"][idx[live]], w.pol["qty"][po])
        out[live] = 1.0 - w.p_supply_on_time(po, pos_end, promised[live], day)
    return out


def by_net_value(policy: Policy, pricing: WorldPricing, risks: RiskSource) -> Ranking:
    """The recommender's net value of a spot buy (USD), acting only where it is positive."""
    priced = recommender_policy(policy)

    def rank(world: World, bo: I64, day: int) -> tuple[F64, npt.NDArray[np.bool_]]:
        cases = spot_cases(world, bo, day, pricing=pricing, risks=risks, policy=priced)
        net = np.zeros(len(bo))
        for i, (case, quote) in enumerate(cases):
            action = alternate_supplier(case, quote, priced)
            net[i] = action.net if action is not None else 0.0
        return net, net > 0.0

    return rank


def recommender_policy(policy: Policy) -> Policy:
    """``policy`` with the spot market's premium as its spot-buy premium (the quote)."""
    rec = policy.recommendations.model_copy(update={"spot_buy_premium_rate": SPOT_PREMIUM_RATE})
    return policy.model_copy(update={"recommendations": rec})


def make_rescuer(
    name: str,
    allocation: FcfsPolicy | RankedPolicy,
    pricing: WorldPricing,
    budget: Mapping[int, int],
) -> RankedRescues:
    """The action side of policy ``name`` (see the module docstring), given its allocation."""
    if isinstance(allocation, FcfsPolicy):
        return RankedRescues(name, by_order_date, budget)
    policy = allocation.policy
    if not policy.blend.use_models:
        return RankedRescues(name, by_priority(policy, pricing), budget)
    if allocation.risk_source is None:
        raise ValueError(f"{name}: a policy that uses models needs a risk source")
    return RankedRescues(name, by_net_value(policy, pricing, allocation.risk_source), budget)

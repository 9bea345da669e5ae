"""The allocation policies the simulator compares, as the world's :class:`AllocationPolicy`.

The world asks a policy one question, many SKU-locations at once: given the lines competing for
the stock at their SKU-location, how many units does each get (stock on hand every morning, and
room on inbound PO lines when it pegs waiting lines). Each policy here answers it in two steps:

* a **priority** per line: the order date (``fcfs``), the handbook's static rule (the shipped
  ``static-tier`` policy through :func:`allotment.scoring.blend.blend`: tier × emergency ×
  (value + $50 a day waited)), or the ML blend of the shipped ``default`` policy (expected SLA
  penalty, churn and supplier-delay losses priced in USD, plus value and age);
* a **fill**: ``greedy`` (highest priority first, no skipping ahead: the world's
  :func:`~allotment.world.policies.greedy_fill`) or ``lp`` (the allocation optimizer of
  :mod:`allotment.allocation.solve` on the contested SKU-locations, each line worth its priority
  per unit, honouring all-or-nothing lines and the policy's protected shares).

``blend`` is ML priority + LP, as the service allocates. Two crossed variants, ``static-tier-lp``
and ``blend-greedy``, separate what the priority brings from what the LP brings.

Risks of the blend
------------------
The blend reads three probabilities per line. The simulator gives it the world's **true** ones
(what the generator draws outcomes from): P(SLA breach) — 1 once the promised day has passed,
else the chance that the supply it would wait for (the earliest open PO line of its SKU-location,
or a PO line ordered today) arrives by the promised day; P(churn) of the customer at today's
service record; P(supplier delay) of the PO line it is pegged to. A trained model approaches these
(its AUC is bounded by the oracle AUC), so the blend measured here is the best the models can do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from allotment.allocation.problem import AllocationProblem, DemandLine, OnHand
from allotment.allocation.solve import solve
from allotment.errors import AppError
from allotment.policy.documents import shipped_policy
from allotment.policy.schema import Policy
from allotment.scoring.blend import Exposures, Risks, blend
from allotment.world.model import World
from allotment.world.policies import TIER_CODES, DemandLines, FcfsPolicy, greedy_fill

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: Policy name → (priority, fill). ``fcfs`` fills by order date, greedily.
POLICIES: dict[str, tuple[str, str]] = {
    "fcfs": ("order_date", "greedy"),
    "static-tier": ("static-tier", "greedy"),
    "blend": ("default", "lp"),
    "static-tier-lp": ("static-tier", "lp"),
    "blend-greedy": ("default", "greedy"),
}
#: The comparison the business case asks for.
DEFAULT_POLICIES: tuple[str, ...] = ("fcfs", "static-tier", "blend")
#: Seconds the LP may take per call before the contested groups fall back to greedy.
LP_TIME_LIMIT = 10.0


class SimulationPolicyUnknownError(AppError):
    """A policy name the simulator does not know."""

    status_code = 422
    code = "simulation_policy_unknown"


def parse_policies(text: str) -> list[str]:
    """``"fcfs,static-tier,blend"`` → the names, in order, duplicates dropped.

    Raises
    ------
    SimulationPolicyUnknownError
        A name is not in :data:`POLICIES` (the message lists the known ones).
    """
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in POLICIES]
    if unknown or not names:
        what = ", ".join(repr(n) for n in unknown) if unknown else "none given"
        raise SimulationPolicyUnknownError(
            f"unknown simulation policy {what}; choose from {', '.join(POLICIES)}",
            field="policy",
        )
    return names


@dataclass
class WorldPricing:
    """What the blend reads from the world beyond the lines: the same for every policy.

    ``lifetime_value`` (USD per customer) is frozen at the start of the simulated window, so a
    policy that ships more does not make its customers worth more.
    """

    world: World
    lifetime_value: F64

    def exposures(self, lines: DemandLines) -> Exposures:
        """The blend's exposures of ``lines`` (USD; days waited since the order)."""
        w = self.world
        idx = lines.line_id
        cust = w.lines["customer"][idx]
        contract = w.cust_contract[cust]
        product = w.pair_product[lines.group]
        value = lines.quantity * lines.unit_price
        margin = lines.quantity * np.maximum(
            lines.unit_price - w.prod_cost_cents[product] / 100.0, 0.0
        )
        waiting = w.waiting
        open_value = (w.lines["qty"][waiting] - w.lines["shipped"][waiting]) * (
            w.lines["price"][waiting] / 100.0
        )
        by_customer = np.bincount(
            w.lines["customer"][waiting], weights=open_value, minlength=w.scale.n_customers
        )
        return Exposures(
            tier=[TIER_CODES[t] for t in lines.tier.tolist()],
            is_emergency=lines.emergency,
            value_at_risk=value,
            margin_at_risk=np.asarray(margin, dtype=np.float64),
            penalty_rate_per_day=w.contracts["penalty_rate"][contract],
            penalty_cap_rate=w.contracts["penalty_cap"][contract],
            lifetime_value=self.lifetime_value[cust],
            customer_open_value=np.maximum(by_customer[cust], value),
            has_supply=w.lines["peg"][idx] >= 0,
            days_waiting=(lines.day - lines.ordered_day).astype(np.float64),
        )

    def risks(self, lines: DemandLines) -> Risks:
        """The world's true P(SLA breach), P(churn) and P(supplier delay) of ``lines``."""
        w, d = self.world, lines.day
        idx = lines.line_id
        promised = w.lines["promised"][idx]
        p_ok = self._p_supply_in_time(lines.group, lines.quantity, promised, d)
        p_breach = np.where(promised < d, 1.0, 1.0 - p_ok)
        p_churn = w.churn_probability(d)[w.lines["customer"][idx]]
        peg = w.lines["peg"][idx]
        pegged = peg >= 0
        p_delay = np.zeros(len(idx))
        if pegged.any():
            po = peg[pegged]
            truth = np.clip(w.pol["p_late"][po], 0.0, 1.0)  # spot buys carry -1: never late
            p_delay[pegged] = np.where(w.pol["noticed"][po], 1.0, truth)
        return Risks(sla_breach=p_breach, churn=p_churn, supplier_delay=p_delay)

    def _p_supply_in_time(self, group: I64, qty: I64, promised: I64, d: int) -> F64:
        """P(the next supply of each line's SKU-location arrives by its promised day).

        The earliest open PO line of the SKU-location, the line queued behind what is already
        locked on it; with none open, a PO line ordered today (its nominal lead time and the
        supplier's lateness today).
        """
        w = self.world
        out = np.zeros(len(group))
        open_pol = w.open_pol
        first = np.full(w.n_pairs, -1, dtype=np.int64)
        if len(open_pol):
            pair = w.pol["pair"][open_pol]
            order = np.lexsort((open_pol, w.pol["eta"][open_pol], pair))
            pairs, head = np.unique(pair[order], return_index=True)
            first[pairs] = open_pol[order][head]  # earliest ETA per SKU-location
        po = first[group]
        has = po >= 0
        if has.any():
            pos_end = w.pol["locked_qty"][po[has]] + qty[has]
            out[has] = w.p_supply_on_time(po[has], pos_end, promised[has], d)
        new = ~has
        if new.any():
            supplier = w.prod_supplier[w.pair_product[group[new]]]
            mode = w.sup_mode[supplier]
            in_time = d + w.pair_lead[group[new]] <= promised[new]
            out[new] = np.where(in_time, 1.0 - w.p_late(supplier, mode, d), 0.0)
        return out


class RankedPolicy:
    """A priority (static rule or ML blend, from a shipped policy) and a fill (greedy or LP).

    Parameters
    ----------
    name
        The simulator's name for it (see :data:`POLICIES`).
    policy
        The shipped policy whose multipliers, blend weights and allocation settings apply.
    fill
        ``greedy`` or ``lp``.
    pricing
        The world and the frozen lifetime values the exposures and risks come from.
    """

    def __init__(self, name: str, policy: Policy, fill: str, pricing: WorldPricing) -> None:
        self.name = name
        self.policy = policy
        self.fill = fill
        self.pricing = pricing
        self.lp_calls = 0
        self.lp_fallbacks = 0

    def priority(self, lines: DemandLines) -> F64:
        """The blend's priority of each line (USD-equivalent), under :attr:`policy`."""
        x = self.pricing.exposures(lines)
        if self.policy.blend.use_models:
            r = self.pricing.risks(lines)
        else:
            nan = np.full(len(lines), np.nan)
            r = Risks(nan, nan, nan)
        return blend(x, r, self.policy).priority

    def allocate(self, lines: DemandLines, supply: I64) -> I64:
        if len(lines) == 0:
            return np.zeros(0, dtype=np.int64)
        priority = self.priority(lines)
        if self.fill == "greedy":
            return greedy_fill(lines, supply, priority)
        return self._lp(lines, supply, priority)

    def _lp(self, lines: DemandLines, supply: I64, priority: F64) -> I64:
        """Uncontested SKU-locations get everything; the contested ones go to the optimizer."""
        out = np.zeros(len(lines), dtype=np.int64)
        demand = np.bincount(lines.group, weights=lines.quantity, minlength=len(supply))
        contested = demand[lines.group] > supply[lines.group]
        out[~contested] = lines.quantity[~contested]
        pos = np.flatnonzero(contested)
        if not len(pos):
            return out
        problem = lp_problem(lines, supply, priority, pos, self.pricing.world, self.policy)
        self.lp_calls += 1
        result = solve(problem, time_limit=LP_TIME_LIMIT)
        if result.status in ("infeasible", "fallback"):
            # The optimizer's own fallback is greedy by priority; say so in the counters.
            self.lp_fallbacks += 1
        for outcome in result.lines:
            out[pos[outcome.line_id]] = outcome.allocated
        return out


def lp_problem(
    lines: DemandLines, supply: I64, priority: F64, pos: I64, world: World, policy: Policy
) -> AllocationProblem:
    """The allocation problem of lines ``pos``: one node per SKU-location, no lanes or PO lines.

    A line is worth its priority per unit (``priority / quantity``); its promised date prices
    lateness as in the service; all-or-nothing lines are the ones without partial consent.
    """
    today = world.date_of(lines.day)
    start = world.start
    promised = world.lines["promised"][lines.line_id]
    demand = tuple(
        DemandLine(
            line_id=int(k),
            order_line_id=int(lines.line_id[i]),
            order_id=int(lines.line_id[i]),
            customer_id=int(world.lines["customer"][lines.line_id[i]]),
            tier=TIER_CODES[int(lines.tier[i])],
            sku=str(int(lines.group[i])),
            location="dc",
            quantity=int(lines.quantity[i]),
            unit_value=float(lines.unit_price[i]),
            priority_weight=float(priority[i] / max(1, lines.quantity[i])),
            promised_date=_day(start, int(promised[i])),
            ordered_on=_day(start, int(lines.ordered_day[i])),
            all_or_nothing=not bool(lines.allow_partial[i]),
        )
        for k, i in enumerate(pos.tolist())
    )
    groups = np.unique(lines.group[pos])
    alloc = policy.allocation
    return AllocationProblem(
        today=today,
        lines=demand,
        on_hand=tuple(OnHand(str(int(g)), "dc", int(supply[g])) for g in groups.tolist()),
        protected_share={str(t.value): float(s) for t, s in alloc.protected_share.items()},
        lateness_cost_per_unit_day=float(alloc.lateness_cost_per_unit_day),
    )


def _day(start: date, day: int) -> date:
    return start + timedelta(days=day)


def make_policy(name: str, pricing: WorldPricing) -> FcfsPolicy | RankedPolicy:
    """The policy called ``name`` for the world behind ``pricing``."""
    if name not in POLICIES:
        parse_policies(name)  # raises with the list of known names
    source, fill = POLICIES[name]
    if source == "order_date":
        return FcfsPolicy()  # the world's own rule, oldest order first
    return RankedPolicy(name, shipped_policy(source), fill, pricing)

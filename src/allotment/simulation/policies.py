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

``blend`` is ML priority + LP, as the service allocates, with the risks the trained champion
models predict from our feature code (:class:`allotment.simulation.risks.ModelRisks`, re-scored
every few simulated days). ``oracle-blend`` is the same blend fed the world's true probabilities
(:class:`allotment.simulation.risks.OracleRisks`): a diagnostic, the blend if the models were
perfect; ``blend`` never reads them. Two crossed variants, ``static-tier-lp`` and
``blend-greedy`` (models, greedy fill), separate what the priority brings from what the LP brings.
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
from allotment.simulation.risks import (
    Champions,
    ModelRisks,
    OracleRisks,
    RiskSource,
    require_champions,
)
from allotment.world.model import World
from allotment.world.policies import TIER_CODES, DemandLines, FcfsPolicy, greedy_fill

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: Policy name → (priority, fill, risks). ``fcfs`` fills by order date, greedily; ``risks`` is
#: where a blend reads its probabilities: ``models`` (the champions), ``oracle`` (the world's
#: truth, a diagnostic) or ``none`` (a rule-only policy).
POLICIES: dict[str, tuple[str, str, str]] = {
    "fcfs": ("order_date", "greedy", "none"),
    "static-tier": ("static-tier", "greedy", "none"),
    "blend": ("default", "lp", "models"),
    "oracle-blend": ("default", "lp", "oracle"),
    "static-tier-lp": ("static-tier", "lp", "none"),
    "blend-greedy": ("default", "greedy", "models"),
}
#: The comparison the business case asks for, and the blend with perfect models beside it.
DEFAULT_POLICIES: tuple[str, ...] = ("fcfs", "static-tier", "blend", "oracle-blend")
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
    """What the blend reads from the world beyond the lines and their risks: the same for
    every policy.

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
        The world and the frozen lifetime values the exposures come from.
    risks
        Where the blend reads its probabilities (required when the policy uses models).

    Attributes
    ----------
    decided, degraded
        Line decisions priced, and those of them the blend scored on the policy's
        ``fallback_weights`` because a risk it needs was missing.
    """

    def __init__(
        self,
        name: str,
        policy: Policy,
        fill: str,
        pricing: WorldPricing,
        risks: RiskSource | None = None,
    ) -> None:
        if policy.blend.use_models and risks is None:
            raise ValueError(f"{name}: a policy that uses models needs a risk source")
        self.name = name
        self.policy = policy
        self.fill = fill
        self.pricing = pricing
        self.risk_source = risks
        self.lp_calls = 0
        self.lp_fallbacks = 0
        self.decided = 0
        self.degraded = 0

    def priority(self, lines: DemandLines) -> F64:
        """The blend's priority of each line (USD-equivalent), under :attr:`policy`."""
        x = self.pricing.exposures(lines)
        if self.policy.blend.use_models and self.risk_source is not None:
            r = self.risk_source.risks(lines)
        else:
            nan = np.full(len(lines), np.nan)
            r = Risks(nan, nan, nan)
        result = blend(x, r, self.policy)
        self.decided += len(lines)
        self.degraded += int(result.degraded.sum())
        return result.priority

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


def uses_models(name: str) -> bool:
    """Whether policy ``name`` reads the trained champion models."""
    return POLICIES[name][2] == "models"


def make_policy(
    name: str, pricing: WorldPricing, *, champions: Champions | None = None
) -> FcfsPolicy | RankedPolicy:
    """The policy called ``name`` for the world behind ``pricing``.

    A policy that uses the models needs ``champions`` (see
    :func:`allotment.simulation.risks.find_champions`); its risks start unscored: the caller
    re-scores them (:meth:`ModelRisks.rescore`) before the first decision.

    Raises
    ------
    SimulationPolicyUnknownError
        ``name`` is not in :data:`POLICIES`.
    SimulationModelsMissingError
        The policy uses the models and ``champions`` holds none.
    """
    if name not in POLICIES:
        parse_policies(name)  # raises with the list of known names
    source, fill, risks = POLICIES[name]
    if source == "order_date":
        return FcfsPolicy()  # the world's own rule, oldest order first
    risk_source: RiskSource | None = None
    if risks == "oracle":
        risk_source = OracleRisks(pricing.world)
    elif risks == "models":
        found = require_champions(champions or Champions({}))
        risk_source = ModelRisks(pricing.world, found)
    return RankedPolicy(name, shipped_policy(source), fill, pricing, risk_source)

"""Replay the synthetic world under several policies on the same random draws.

For each seed the world is built and run under the handbook's static rule up to the scale's
"today" (the same history ``allotment generate`` writes), then copied once per policy and stepped
``days`` more days with the world's own dynamics: demand, supplier delays and receipts, spot
buys arriving, customers cancelling late lines and churning on their service record. Every
random draw is keyed by what it is about (:mod:`allotment.world.rng`), so each policy sees the
same orders and the same supplier outcomes (common random numbers); what differs is only what
follows from its decisions: its allocations and, by default, which backorders it buys from the
spot market within a daily budget the same for every policy
(:mod:`allotment.simulation.actions`). Results per policy: mean and a 95 % interval over seeds
(Student t), and the paired comparison of totals between policies, seed by seed.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from allotment.policy.documents import shipped_policy
from allotment.simulation.actions import RankedRescues, make_rescuer
from allotment.simulation.ledger import Ledger, Outcome
from allotment.simulation.policies import (
    RankedPolicy,
    WorldPricing,
    make_policy,
    parse_policies,
    uses_models,
)
from allotment.simulation.risks import (
    RESCORE_DAYS,
    Champions,
    ModelRisks,
    find_champions,
    require_champions,
)
from allotment.world.model import World
from allotment.world.policies import StaticTierPolicy
from allotment.world.scales import get_scale

#: Metrics summarised per policy, in report order (money USD, waits days).
METRICS: tuple[str, ...] = (
    "penalties",
    "cancellations",
    "churn",
    "action_cost",
    "total",
    "churn_expected",
    "contested_penalties",
    "withheld_units",
    "fill_rate",
    "days_waiting",
    "vip_days_waiting",
    "spot_buys",
    "spot_in_time",
    "spot_overdue",
    "actions_unused",
)
#: Who chooses the spot buys: each policy, within the reference run's daily budget
#: (:mod:`allotment.simulation.actions`), or the world's own planner (identical for all).
ACTIONS = ("policy", "world")
#: Student t 97.5 % quantiles for 1..30 degrees of freedom (beyond: the normal 1.96).
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975(df: int) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (0: nan)."""
    if df < 1:
        return math.nan
    return _T975[df - 1] if df <= len(_T975) else 1.96


@dataclass(frozen=True)
class Interval:
    """Mean over seeds and its 95 % interval (nan bounds with one seed)."""

    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Interval:
        vals = [v for v in values if not math.isnan(v)]
        if not vals:
            return cls(math.nan, math.nan, math.nan)
        mean = statistics.fmean(vals)
        if len(vals) < 2:
            return cls(mean, math.nan, math.nan)
        half = t975(len(vals) - 1) * statistics.stdev(vals) / math.sqrt(len(vals))
        return cls(mean, mean - half, mean + half)

    def to_dict(self, digits: int = 4) -> dict[str, float | None]:
        def r(v: float) -> float | None:
            return None if math.isnan(v) else round(v, digits)

        return {"mean": r(self.mean), "low": r(self.low), "high": r(self.high)}


@dataclass(frozen=True)
class Comparison:
    """``policy`` against ``baseline`` on total money lost, paired by seed.

    ``reduction`` is 1 − mean(policy total) / mean(baseline total) and ``saving`` the interval of
    the per-seed saving (baseline − policy, USD); ``*_expected`` the same with the expected churn
    loss in place of the realized one (see :mod:`allotment.simulation.ledger`).
    """

    policy: str
    baseline: str
    reduction: float
    saving: Interval
    reduction_expected: float
    saving_expected: Interval

    @classmethod
    def of(
        cls, policy: str, a: Sequence[Outcome], baseline: str, b: Sequence[Outcome]
    ) -> Comparison:
        def pair(key: Callable[[Outcome], float]) -> tuple[float, Interval]:
            x, y = [key(o) for o in a], [key(o) for o in b]
            mean_y = statistics.fmean(y)
            reduction = 1.0 - statistics.fmean(x) / mean_y if mean_y else math.nan
            return reduction, Interval.of([v - u for u, v in zip(x, y, strict=True)])

        r, s = pair(lambda o: o.total)
        re, se = pair(lambda o: o.penalties + o.cancellations + o.churn_expected + o.action_cost)
        return cls(policy, baseline, r, s, re, se)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "baseline": self.baseline,
            "reduction": round(self.reduction, 4),
            "saving_usd": self.saving.to_dict(2),
            "reduction_expected": round(self.reduction_expected, 4),
            "saving_expected_usd": self.saving_expected.to_dict(2),
        }


@dataclass
class SimulationResult:
    """Outcomes per policy and seed, with summaries."""

    scale: str
    days: int
    seeds: list[int]
    policies: list[str]
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    seconds: float = 0.0
    #: Task → the champion ``blend`` used (``"<model> v<n>"``, ``None``: none, rule terms).
    models: dict[str, str | None] = field(default_factory=dict)
    rescore_days: int = RESCORE_DAYS
    #: ``policy``: each policy spends the reference run's spot-buy budget; ``world``: the
    #: world's own planner buys (see :data:`ACTIONS`).
    actions: str = "policy"
    #: Seed → the spot buys the budget allows over the window (``actions == "policy"``).
    budgets: dict[int, int] = field(default_factory=dict)

    def summary(self, policy: str) -> dict[str, Interval]:
        """Metric → interval over seeds for ``policy``."""
        rows = self.outcomes[policy]
        return {m: Interval.of([float(getattr(o, m)) for o in rows]) for m in METRICS}

    def approvals(self, policy: str) -> dict[str, Interval]:
        """Approval level → interval of the number of actions needing it."""
        rows = self.outcomes[policy]
        levels = rows[0].approvals.keys() if rows else ()
        return {k: Interval.of([float(o.approvals[k]) for o in rows]) for k in levels}

    def compare(self, policy: str, baseline: str) -> Comparison:
        """``policy`` against ``baseline``, paired by seed."""
        return Comparison.of(policy, self.outcomes[policy], baseline, self.outcomes[baseline])

    def comparisons(self) -> list[Comparison]:
        """Each policy against the next one in the business case's ladder present."""
        out = []
        for policy, baseline in (
            ("blend", "static-tier"),
            ("static-tier", "fcfs"),
            ("oracle-blend", "static-tier"),
            ("blend", "oracle-blend"),
        ):
            if policy in self.outcomes and baseline in self.outcomes:
                out.append(self.compare(policy, baseline))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "days": self.days,
            "seeds": self.seeds,
            "models": self.models,
            "rescore_days": self.rescore_days,
            "actions": self.actions,
            "budgets": {str(k): v for k, v in self.budgets.items()},
            "seconds": round(self.seconds, 2),
            "policies": {
                p: {
                    "metrics": {m: i.to_dict() for m, i in self.summary(p).items()},
                    "approvals": {k: i.to_dict(2) for k, i in self.approvals(p).items()},
                    "per_seed": [o.to_dict() for o in self.outcomes[p]],
                }
                for p in self.policies
            },
            "comparisons": [c.to_dict() for c in self.comparisons()],
        }


def warm_world(scale: str, seed: int, *, cache_dir: Path | None = None) -> World:
    """The world of ``scale``/``seed`` at the scale's "today", under the static rule.

    With ``cache_dir`` the stepped world is read from (or written to) ``<scale>-seed<seed>.pkl``
    there — the file ``allotment generate`` stores, so a generated world is not run again.
    """
    sc = get_scale(scale)
    path = cache_dir / f"{scale}-seed{seed}.pkl" if cache_dir is not None else None
    if path is not None and path.exists():
        world = World.load(path)
        if world.day == sc.days and world.seed == seed and world.scale == sc:
            return world
    world = World.create(sc, seed)
    world.run(sc.days, StaticTierPolicy())
    if path is not None:
        world.save(path)
    return world


@dataclass
class Played:
    """One policy's run: the stepped world, its outcome and its spot-buy decisions."""

    world: World
    outcome: Outcome
    rescuer: RankedRescues | None = None


def reference_budget(base: World, days: int) -> dict[int, int]:
    """Spot buys per day the world's own planner places in ``days`` days from ``base``.

    The reference run: a copy of ``base`` stepped under the handbook's static allocation with the
    world's planner (what every policy ran before actions became a policy decision). Day index
    → number of spot buys placed that day (days without one are absent).
    """
    world = copy.deepcopy(base)
    first_pol, start = world.pol.n, world.day
    pricing = WorldPricing(world, world.cust_shipped_cents / 100.0)
    world.run(days, make_policy("static-tier", pricing))
    pol = world.pol
    new = np.arange(first_pol, pol.n)
    day = pol["day"][new[pol["for_line"][new] >= 0]]
    counts = np.bincount(day - start, minlength=days)
    return {start + k: int(c) for k, c in enumerate(counts.tolist()) if c}


def play(
    base: World,
    name: str,
    days: int,
    *,
    champions: Champions | None = None,
    rescore_days: int = RESCORE_DAYS,
    on_day: Callable[[], None] | None = None,
    budget: Mapping[int, int] | None = None,
) -> tuple[World, Outcome]:
    """Step a copy of ``base`` ``days`` days under policy ``name``: the copy and its outcome.

    ``base`` is left as it was, so every policy starts from the same state. A policy that uses
    the models re-scores its risks with ``champions`` on the first day and every
    ``rescore_days`` days after it (:class:`~allotment.simulation.risks.ModelRisks`). With a
    ``budget`` (day → spot buys, :func:`reference_budget`) the policy chooses which backorders
    get them (:mod:`allotment.simulation.actions`); without, the world's own planner does.
    """
    run = play_run(
        base,
        name,
        days,
        champions=champions,
        rescore_days=rescore_days,
        on_day=on_day,
        budget=budget,
    )
    return run.world, run.outcome


def play_run(
    base: World,
    name: str,
    days: int,
    *,
    champions: Champions | None = None,
    rescore_days: int = RESCORE_DAYS,
    on_day: Callable[[], None] | None = None,
    budget: Mapping[int, int] | None = None,
) -> Played:
    """:func:`play`, also returning the policy's spot-buy decisions (for the diagnosis)."""
    if rescore_days < 1:
        raise ValueError("rescore_days must be at least 1")
    world = copy.deepcopy(base)
    ledger = Ledger(world, shipped_policy("default"))
    pricing = WorldPricing(world, ledger.lifetime_value)
    policy = make_policy(name, pricing, champions=champions)
    tracked = ledger.track(policy)
    models = policy.risk_source if isinstance(policy, RankedPolicy) else None
    rescuer = make_rescuer(name, policy, pricing, budget) if budget is not None else None
    for k in range(days):
        d = world.day
        if isinstance(models, ModelRisks) and k % rescore_days == 0:
            models.rescore()
        world.run(1, tracked, rescues=rescuer)
        ledger.after_day(world, d)
        if on_day is not None:
            on_day()
    unused = rescuer.unused if rescuer is not None else 0
    if not isinstance(policy, RankedPolicy):
        return Played(world, ledger.outcome(world, actions_unused=unused), rescuer)
    outcome = ledger.outcome(
        world,
        lp_calls=policy.lp_calls,
        decided=policy.decided,
        degraded=policy.degraded,
        rescores=models.rescores if isinstance(models, ModelRisks) else 0,
        actions_unused=unused,
    )
    return Played(world, outcome, rescuer)


def simulate(
    policies: Sequence[str] | str,
    seeds: Sequence[int],
    days: int,
    *,
    scale: str = "small",
    cache_dir: Path | None = None,
    rescore_days: int = RESCORE_DAYS,
    on_day: Callable[[], None] | None = None,
    on_warm: Callable[[int], None] | None = None,
    actions: str = "policy",
) -> SimulationResult:
    """Run every policy on every seed for ``days`` days (see the module docstring).

    With ``actions="policy"`` each seed first runs the reference (:func:`reference_budget`) and
    every policy spends that many spot buys a day on the backorders it ranks first; with
    ``"world"`` the world's own planner buys, the same way under every policy.

    Policies that use the models read the champions of the configured registry
    (:func:`~allotment.simulation.risks.find_champions`), looked up once before anything runs.

    Raises
    ------
    SimulationPolicyUnknownError
        A policy name is unknown (checked before anything runs).
    SimulationModelsMissingError
        A policy uses the models and the registry has no champion that fits our features.
    WorldConfigError
        The scale is unknown.
    """
    names = (
        parse_policies(policies)
        if isinstance(policies, str)
        else parse_policies(",".join(policies))
    )
    get_scale(scale)
    if actions not in ACTIONS:
        raise ValueError(f"actions must be one of {', '.join(ACTIONS)}, not {actions!r}")
    champions = None
    if any(uses_models(n) for n in names):
        champions = require_champions(find_champions())
    t0 = time.perf_counter()
    result = SimulationResult(
        scale=scale,
        days=days,
        seeds=list(seeds),
        policies=names,
        models=champions.describe() if champions is not None else {},
        rescore_days=rescore_days,
        actions=actions,
    )
    result.outcomes = {n: [] for n in names}
    for seed in seeds:
        base = warm_world(scale, seed, cache_dir=cache_dir)
        budget = reference_budget(base, days) if actions == "policy" else None
        if budget is not None:
            result.budgets[seed] = sum(budget.values())
        if on_warm is not None:
            on_warm(seed)
        for name in names:
            _, outcome = play(
                base,
                name,
                days,
                champions=champions,
                rescore_days=rescore_days,
                on_day=on_day,
                budget=budget,
            )
            result.outcomes[name].append(outcome)
    result.seconds = time.perf_counter() - t0
    return result

"""Why the policies of ``allotment simulate`` lose nearly the same money (not a test: prints).

Usage::

    .venv/bin/python bench/simulation_diagnosis.py [--scale small] [--seeds 5] [--days 90]
                                                   [--policy static-tier] [--rescore-days 7]
    .venv/bin/python bench/simulation_diagnosis.py --actions [--policies fcfs,static-tier,...]

Per seed, under one policy, it splits the money lost into what an allocation policy can move and
what it cannot:

* the loss by kind (SLA penalties, cancelled margin, churned lifetime value);
* the lines that ever lost a contest for stock (their SKU-location had less than the competing
  lines asked and they got less than they asked): their share of the window's penalties and of
  its bad-service points (the world's churn driver: 1 per backorder, 1.5 per breach, 0.15 per
  day late) — a different allocation can only move service between competing lines;
* at every churn decision in the window (month starts), the expected lifetime value lost
  (Σ true P(churn) × lifetime value) and the same with the window's bad service erased: the
  ceiling of what perfect service in the window — unlimited stock, not a better allocation —
  could save.

With ``--actions`` it looks at the spot buys instead, which every policy now chooses within the
same daily budget (:mod:`allotment.simulation.actions`), per seed:

* how much of the loss the actions can move at all: the handbook's static allocation with no
  spot buy at all, and with a spot buy for every candidate backorder the first day it may get
  one (unlimited budget, cost counted) — the range any choice of targets lies in;
* what each policy buys: the share arriving by the promised day, the share for lines already
  overdue, VIP and emergency shares, the mean open value, how many of its targets another
  policy also bought (by the order line's exogenous key), its total and expected loss;
* what the oracle reaches (``oracle-blend``: the recommender's ranking with the true risks).
"""

from __future__ import annotations

import argparse
import copy
import statistics

import numpy as np

from allotment.policy.documents import shipped_policy
from allotment.simulation.engine import play, play_run, reference_budget, warm_world
from allotment.simulation.ledger import Ledger
from allotment.simulation.policies import RankedPolicy, WorldPricing, make_policy, uses_models
from allotment.simulation.risks import RESCORE_DAYS, ModelRisks, find_champions
from allotment.world.generate import state_path_for
from allotment.world.model import BAD_BACKORDER, BAD_BREACH, BAD_LATE_DAY, BAD_WINDOW, World


def _bad_points(world: World, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Bad-service points each line earned in the window, and the line indexes."""
    lines = world.lines
    idx = np.arange(lines.n)
    end = np.where(
        lines["done_day"] >= 0,
        lines["done_day"],
        np.where(lines["cancel_day"] >= 0, lines["cancel_day"], world.day),
    )
    first_late = np.maximum(lines["promised"] + 1, start)
    late_days = np.clip(end - first_late + 1, 0, None)
    breached = (lines["promised"] + 1 >= start) & (end > lines["promised"])
    bo = lines["backorder"]
    bo_in_window = np.zeros(lines.n, dtype=bool)
    has = bo >= 0
    bo_in_window[has] = world.backorders["day"][bo[has]] >= start
    pts = BAD_BACKORDER * bo_in_window + BAD_BREACH * breached + BAD_LATE_DAY * late_days
    return pts, idx


def diagnose(
    scale: str, seed: int, days: int, policy_name: str, rescore_days: int
) -> dict[str, float]:
    base = warm_world(scale, seed, cache_dir=state_path_for(scale, seed).parent)
    world = copy.deepcopy(base)
    start = world.day
    ledger = Ledger(world, shipped_policy("default"))
    champions = find_champions() if uses_models(policy_name) else None
    policy = make_policy(
        policy_name, WorldPricing(world, ledger.lifetime_value), champions=champions
    )
    models = policy.risk_source if isinstance(policy, RankedPolicy) else None
    tracked = ledger.track(policy)
    ltv = ledger.lifetime_value
    churn_now = churn_perfect = 0.0
    for k in range(days):
        d = world.day
        if isinstance(models, ModelRisks) and k % rescore_days == 0:
            models.rescore()  # as allotment simulate does (the champions of the registry)
        world.run(1, tracked)
        ledger.after_day(world, d)
        if world.date_of(d).day == 1:
            log = world.churn_log
            at = log.column("day") == d
            cust, p = log.column("customer")[at], log.column("p")[at]
            saved = world.bad_ring.copy()
            world.bad_ring[[k % BAD_WINDOW for k in range(start, d + 1)]] = 0.0
            p0 = world.churn_probability(d)[cust]
            world.bad_ring = saved
            churn_now += float(np.sum(p * ltv[cust]))
            churn_perfect += float(np.sum(p0 * ltv[cust]))
    out = ledger.outcome(world)
    lost = np.fromiter(ledger.lost, dtype=np.int64, count=len(ledger.lost))
    pts, _ = _bad_points(world, start)
    return {
        "total": out.total,
        "penalties": out.penalties,
        "cancellations": out.cancellations,
        "churn": out.churn,
        "contested_penalty_share": out.contested_penalties / out.penalties,
        "contested_bad_share": float(pts[lost].sum() / pts.sum()),
        "contested_lines": float(len(lost)),
        "window_lines": float(np.count_nonzero(world.lines["day"] >= start)),
        "churn_expected": churn_now,
        "churn_expected_perfect_service": churn_perfect,
    }


def _expected_total(o: object) -> float:
    return float(
        o.penalties + o.cancellations + o.churn_expected + o.action_cost  # type: ignore[attr-defined]
    )


def diagnose_actions(
    scale: str, seed: int, days: int, names: list[str], rescore_days: int
) -> dict[str, dict[str, float]]:
    """Per policy (and the no-buy / buy-everything bounds): loss and what its spot buys hit."""
    base = warm_world(scale, seed, cache_dir=state_path_for(scale, seed).parent)
    budget = reference_budget(base, days)
    champions = find_champions() if any(uses_models(n) for n in names) else None
    out: dict[str, dict[str, float]] = {}
    keys: dict[str, set[int]] = {}
    for label, b in (
        ("no spot buys", {}),
        ("every candidate", {base.day + k: 10**9 for k in range(days)}),
    ):
        _, o = play(base, "static-tier", days, budget=b)
        out[label] = {
            "total": o.total,
            "expected": _expected_total(o),
            "buys": o.spot_buys,
            "cost": o.action_cost,
            "in_time": o.spot_in_time / max(1, o.spot_buys),
            "overdue": o.spot_overdue / max(1, o.spot_buys),
        }
    for name in names:
        run = play_run(
            base, name, days, champions=champions, rescore_days=rescore_days, budget=budget
        )
        o, w = run.outcome, run.world
        assert run.rescuer is not None
        bo = np.array([c.backorder for c in run.rescuer.chosen], dtype=np.int64)
        line = w.backorders["line"][bo]
        day = np.array([c.day for c in run.rescuer.chosen], dtype=np.int64)
        lines = w.lines
        keys[name] = set(lines["key"][line].tolist())
        value = lines["qty"][line] * lines["price"][line] / 100.0
        out[name] = {
            "total": o.total,
            "expected": _expected_total(o),
            "buys": o.spot_buys,
            "cost": o.action_cost,
            "in_time": o.spot_in_time / max(1, o.spot_buys),
            "overdue": float(np.mean(lines["promised"][line] < day)) if len(bo) else 0.0,
            "vip": float(np.mean(lines["tier"][line] == 0)) if len(bo) else 0.0,
            "emergency": float(np.mean(lines["emergency"][line])) if len(bo) else 0.0,
            "value": float(value.mean()) if len(bo) else 0.0,
            "unused": o.actions_unused,
            "penalties": o.penalties,
            "cancellations": o.cancellations,
        }
    for a in names:
        for b in names:
            if a < b:
                both = len(keys[a] & keys[b]) / max(1, min(len(keys[a]), len(keys[b])))
                out[a][f"overlap {b}"] = out[b][f"overlap {a}"] = both
    return out


def main_actions(args: argparse.Namespace) -> None:
    names = [n.strip() for n in args.policies.split(",") if n.strip()]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    rows = [diagnose_actions(args.scale, s, args.days, names, args.rescore_days) for s in seeds]
    labels = ["no spot buys", "every candidate", *names]

    def mean(label: str, key: str) -> float:
        return statistics.fmean(r[label].get(key, float("nan")) for r in rows)

    print(f"{args.scale}, seeds {seeds[0]}-{seeds[-1]}, {args.days} days; mean over seeds")
    print(
        f"{'':<16}{'total':>12}{'expected':>12}{'buys':>7}{'premiums':>10}{'in time':>8}"
        f"{'overdue':>8}{'VIP':>6}{'emerg':>6}{'value':>8}{'unused':>7}"
    )
    for label in labels:
        extra = (
            f"{mean(label, 'vip'):>6.0%}{mean(label, 'emergency'):>6.0%}"
            f"{mean(label, 'value'):>8,.0f}{mean(label, 'unused'):>7.1f}"
            if label in names
            else ""
        )
        print(
            f"{label:<16}{mean(label, 'total'):>12,.0f}{mean(label, 'expected'):>12,.0f}"
            f"{mean(label, 'buys'):>7.1f}{mean(label, 'cost'):>10,.0f}"
            f"{mean(label, 'in_time'):>8.0%}{mean(label, 'overdue'):>8.0%}{extra}"
        )
    lo, hi = mean("no spot buys", "total"), mean("every candidate", "total")
    elo, ehi = mean("no spot buys", "expected"), mean("every candidate", "expected")
    cost = mean("every candidate", "cost")
    print(
        f"spot buys for every candidate vs none: total {lo:,.0f} -> {hi:,.0f}"
        f" ({1 - hi / lo:+.2%} saved), expected {elo:,.0f} -> {ehi:,.0f}"
        f" ({1 - ehi / elo:+.2%}); before their premiums ({cost:,.0f}) the expected loss falls"
        f" {elo - ehi + cost:,.0f} ({(elo - ehi + cost) / elo:.2%} of it)"
    )
    for name in names:
        saved = [r["no spot buys"]["expected"] - r[name]["expected"] for r in rows]
        gross = [s + r[name]["cost"] for s, r in zip(saved, rows, strict=True)]
        print(
            f"{name}: its spot buys save {statistics.fmean(saved):,.0f} of expected loss net of"
            f" their premiums vs no spot buys ({statistics.fmean(gross):,.0f} before premiums);"
            f" penalties {mean(name, 'penalties'):,.0f}, cancelled margin"
            f" {mean(name, 'cancellations'):,.0f}"
        )
    for a in names:
        for b in names:
            if a < b:
                print(f"targets bought by both {a} and {b}: {mean(a, 'overlap ' + b):.0%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="small")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--policy", default="static-tier")
    ap.add_argument("--rescore-days", type=int, default=RESCORE_DAYS)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--actions", action="store_true", help="diagnose the spot buys instead")
    ap.add_argument("--policies", default="fcfs,static-tier,blend,oracle-blend")
    args = ap.parse_args()
    if args.actions:
        main_actions(args)
        return
    rows = [
        diagnose(args.scale, s, args.days, args.policy, args.rescore_days)
        for s in range(args.first_seed, args.first_seed + args.seeds)
    ]
    for seed, r in enumerate(rows, start=1):
        print(
            f"seed {seed}: total ${r['total']:,.0f} = penalties ${r['penalties']:,.0f}"
            f" + cancelled margin ${r['cancellations']:,.0f} + churn ${r['churn']:,.0f};"
            f" {r['contested_lines']:.0f} of {r['window_lines']:.0f} new lines lost a contest,"
            f" carrying {r['contested_penalty_share']:.0%} of penalties and"
            f" {r['contested_bad_share']:.0%} of bad-service points; expected churn loss"
            f" ${r['churn_expected']:,.0f}, ${r['churn_expected_perfect_service']:,.0f}"
            " with perfect service in the window"
        )

    def mean(key: str) -> float:
        return statistics.fmean(r[key] for r in rows)

    total = mean("total")
    print(
        f"mean over {len(rows)} seeds ({args.scale}, {args.days} days, {args.policy}):"
        f" total ${total:,.0f}; penalties {mean('penalties') / total:.1%},"
        f" cancelled margin {mean('cancellations') / total:.1%},"
        f" churn {mean('churn') / total:.1%} of it"
    )
    print(
        f"20 % of the total is ${0.2 * total:,.0f}; penalties + cancelled margin together are"
        f" ${mean('penalties') + mean('cancellations'):,.0f}"
    )
    print(
        f"lines that lost a contest: {mean('contested_penalty_share'):.0%} of penalties,"
        f" {mean('contested_bad_share'):.0%} of the window's bad-service points"
    )
    now, perfect = mean("churn_expected"), mean("churn_expected_perfect_service")
    print(
        f"expected churn loss ${now:,.0f}; with no bad service at all in the window"
        f" ${perfect:,.0f} (ceiling of any service improvement: {1 - perfect / now:.0%})"
    )


if __name__ == "__main__":
    main()

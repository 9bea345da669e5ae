"""``allotment simulate``: the business case — replay the world under competing policies."""

from __future__ import annotations

import json
import math
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from allotment.cli.common import app_errors
from allotment.world.scales import SCALES

if TYPE_CHECKING:  # the solver stack loads when the command runs
    from allotment.simulation.engine import Interval, SimulationResult

#: Who the registry records as having trained models for a simulation.
SIMULATE_ACTOR = "simulate"

#: The business case's goal: blend loses at least this share less than static-tier.
GOAL_REDUCTION = 0.20
_MONEY = (
    "penalties",
    "cancellations",
    "churn",
    "action_cost",
    "total",
    "churn_expected",
    "contested_penalties",
)
_COUNTS = ("spot_buys", "spot_in_time", "spot_overdue", "actions_unused")
#: Metrics shown as whole numbers (USD and units).
_WHOLE = (*_MONEY, "withheld_units")
_LABELS = {
    "penalties": "SLA penalties paid (USD)",
    "cancellations": "margin lost to cancellations (USD)",
    "churn": "lifetime value lost to churn (USD)",
    "action_cost": "spot-buy premiums paid (USD)",
    "total": "total lost (USD)",
    "churn_expected": "  expected churn loss (USD)",
    "contested_penalties": "  penalties of lines that lost a contest (USD)",
    "fill_rate": "on-time fill rate",
    "days_waiting": "days waiting (all lines)",
    "vip_days_waiting": "days waiting (VIP lines)",
    "withheld_units": "units withheld where lines went short",
    "spot_buys": "spot buys placed",
    "spot_in_time": "  of them arriving by the promised day",
    "spot_overdue": "  of them for lines already overdue",
    "actions_unused": "  budget slots left unused",
}


def _check_scale(value: str) -> str:
    if value not in SCALES:
        raise typer.BadParameter(f"unknown scale {value!r}; choose one of {', '.join(SCALES)}")
    return value


def _check_actions(value: str) -> str:
    if value not in ("policy", "world"):
        raise typer.BadParameter(f"unknown --actions {value!r}; choose policy or world")
    return value


def simulate(
    policy: str = typer.Option(
        "fcfs,static-tier,blend,oracle-blend",
        "--policy",
        help="Comma-separated: fcfs, static-tier, blend (the champion models) (diagnostics: "
        "oracle-blend = the blend fed the world's true probabilities, static-tier-lp, "
        "blend-greedy).",
    ),
    seeds: int = typer.Option(5, "--seeds", min=1, max=200, help="How many seeds (worlds)."),
    first_seed: int = typer.Option(
        1, "--first-seed", min=0, max=2**31 - 1, help="Seeds run from this one up."
    ),
    days: int = typer.Option(90, "--days", min=1, max=730, help="Days simulated per run."),
    scale: str = typer.Option("small", "--scale", help="World size.", callback=_check_scale),
    cache: bool = typer.Option(
        True, "--cache/--no-cache", help="Reuse the stepped worlds under the data folder."
    ),
    rescore_days: int = typer.Option(
        7,
        "--rescore-days",
        min=1,
        max=730,
        help="Simulated days between re-scores of the blend's risks by the champion models.",
    ),
    train: bool = typer.Option(
        True,
        "--train/--no-train",
        help="When no champion fits our features, train them on the first seed's history (into"
        " the configured model store, reused by the next run); --no-train refuses instead.",
    ),
    actions: str = typer.Option(
        "policy",
        "--actions",
        help="Who chooses the spot buys: 'policy' (each policy spends the world planner's daily"
        " count from a reference run on the backorders it ranks first) or 'world' (the world's"
        " own planner, the same for every policy).",
        callback=_check_actions,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Replay the synthetic world under each policy on the same random draws; money lost."""
    from allotment.simulation.engine import simulate as run
    from allotment.simulation.policies import parse_policies, uses_models
    from allotment.world.generate import state_path_for

    console = Console(stderr=as_json, highlight=False)
    seed_list = list(range(first_seed, first_seed + seeds))
    cache_dir = state_path_for(scale, first_seed).parent if cache else None
    with app_errors(), ExitStack() as stack:
        names = parse_policies(policy)
        if train and any(uses_models(n) for n in names):
            _ensure_champions(scale, first_seed, cache_dir, console)
        progress = stack.enter_context(
            Progress(
                TextColumn("{task.description:<24}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
        )
        task = progress.add_task("policy-days", total=len(seed_list) * len(names) * days)
        warm = progress.add_task("worlds ready (seeds)", total=len(seed_list))
        result = run(
            names,
            seed_list,
            days,
            scale=scale,
            cache_dir=cache_dir,
            rescore_days=rescore_days,
            on_day=lambda: progress.advance(task),
            on_warm=lambda _: progress.advance(warm),
            actions=actions,
        )
    if as_json:
        payload = result.to_dict()
        payload["goal"] = _goal(result)
        typer.echo(json.dumps(payload, indent=2))
        return
    _print(result, console)


def _ensure_champions(scale: str, seed: int, cache_dir: Path | None, console: Console) -> None:
    """Train the risk models on ``seed``'s history world when the registry has no champion
    that fits our features (``allotment train``'s code path, into the configured store)."""
    from allotment.cli.demo import ensure_champions
    from allotment.simulation.engine import warm_world
    from allotment.simulation.risks import find_champions, world_database

    if find_champions().any:
        return
    console.print(
        f"no champion risk models fit our features: training them on the {scale} world of"
        f" seed {seed} (its history, as `allotment generate` writes it); the next run reuses"
        " them"
    )
    with world_database(warm_world(scale, seed, cache_dir=cache_dir)) as engine:
        ensure_champions(engine, console, actor=SIMULATE_ACTOR)


def _goal(result: SimulationResult) -> dict[str, bool | float | None]:
    """Whether blend loses ≥ 20 % less than static-tier, and static-tier less than fcfs."""
    out: dict[str, bool | float | None] = {"target_reduction": GOAL_REDUCTION}
    have = set(result.outcomes)
    blend_ok = static_ok = None
    if {"blend", "static-tier"} <= have:
        blend_ok = result.compare("blend", "static-tier").reduction >= GOAL_REDUCTION
    if {"static-tier", "fcfs"} <= have:
        static_ok = result.compare("static-tier", "fcfs").reduction > 0
    out["blend_beats_static_tier_by_target"] = blend_ok
    out["static_tier_beats_fcfs"] = static_ok
    out["met"] = None if blend_ok is None or static_ok is None else blend_ok and static_ok
    return out


def _fmt(metric: str, i: Interval) -> str:
    if math.isnan(i.mean):
        return "-"
    if metric == "fill_rate":
        body = f"{i.mean:.1%}"
        ci = f"{i.low:.1%} – {i.high:.1%}" if not math.isnan(i.low) else ""
    elif metric in _COUNTS:
        body = f"{i.mean:,.1f}"
        ci = f"{i.low:,.1f} – {i.high:,.1f}" if not math.isnan(i.low) else ""
    elif metric in _WHOLE:
        body = f"{i.mean:,.0f}"
        ci = f"{i.low:,.0f} – {i.high:,.0f}" if not math.isnan(i.low) else ""
    else:
        body = f"{i.mean:.2f}"
        ci = f"{i.low:.2f} – {i.high:.2f}" if not math.isnan(i.low) else ""
    return f"{body}\n[dim]{ci}[/dim]" if ci else body


def _print(result: SimulationResult, console: Console) -> None:
    console.print(
        f"[bold]{result.scale}[/bold] world, seeds {result.seeds[0]}–{result.seeds[-1]}"
        f" ({len(result.seeds)}), {result.days} days from the generator's today, "
        f"{result.seconds:.1f} s. Mean over seeds, 95 % interval below."
    )
    if result.models:
        used = ", ".join(
            f"{task} {model}" if model else f"{task} [yellow]none (rule terms, degraded)[/]"
            for task, model in result.models.items()
        )
        console.print(
            f"[dim]blend: the champion models ({used}) re-scored every {result.rescore_days}"
            " days from our feature code.[/dim]"
        )
    if "oracle-blend" in result.policies:
        console.print(
            "[dim]oracle-blend: the same blend fed the world's true probabilities — the blend"
            " if the models were perfect (a diagnostic, not the product).[/dim]"
        )
    console.print("[dim]Every policy sees the same demand and supplier draws per seed.[/dim]")
    if result.actions == "policy":
        budget = sum(result.budgets.values()) / max(1, len(result.budgets))
        console.print(
            f"[dim]Spot buys: each policy chooses which backorders get them, at most the daily"
            f" count the world's own planner placed in a reference run ({budget:,.1f} per seed"
            " over the window); their premiums count as money lost.[/dim]"
        )
    else:
        console.print("[dim]Spot buys: the world's own planner, the same for every policy.[/dim]")
    table = Table("metric", *result.policies, title="Money lost and service", show_lines=True)
    summaries = {p: result.summary(p) for p in result.policies}
    for metric, label in _LABELS.items():
        table.add_row(label, *(_fmt(metric, summaries[p][metric]) for p in result.policies))
    console.print(table)
    approvals = Table("spot buys needing", *result.policies, title="Approvals")
    levels = {p: result.approvals(p) for p in result.policies}
    for level in next(iter(levels.values())):
        approvals.add_row(
            level.replace("_", " "),
            *(f"{levels[p][level].mean:,.1f}" for p in result.policies),
        )
    console.print(approvals)
    for c in result.comparisons():
        s = c.saving
        ci = f" (per-seed saving {s.low:,.0f} – {s.high:,.0f} USD)" if not math.isnan(s.low) else ""
        console.print(
            f"{c.policy} vs {c.baseline}: loses {c.reduction:+.2%} less in total{ci}; "
            f"with expected churn {c.reduction_expected:+.2%}"
        )
    for p in result.policies:
        rows = result.outcomes[p]
        decided = sum(o.decided for o in rows)
        if decided and any(o.rescores for o in rows):
            degraded = sum(o.degraded for o in rows) / decided
            console.print(
                f"{p}: {rows[0].rescores} re-scores per run; {degraded:.1%} of line decisions"
                " were degraded to the rule terms (a risk without a prediction: a PO line"
                " placed since the last re-score, or a task without a champion)"
            )
    goal = _goal(result)
    if goal["met"] is not None:
        verdict = "[green]met[/green]" if goal["met"] else "[red]not met[/red]"
        console.print(
            f"goal (blend ≥ {GOAL_REDUCTION:.0%} less than static-tier, static-tier less than"
            f" fcfs): {verdict}"
        )

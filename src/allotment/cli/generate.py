"""``allotment generate``: build the seeded synthetic distributor into the database."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from allotment.db import migrate
from allotment.db.engine import make_engine
from allotment.world.generate import GenerateSummary
from allotment.world.generate import generate as generate_world
from allotment.world.persist import DatabaseNotEmptyError
from allotment.world.scales import SCALES

_SCALE_HELP = "World size: " + ", ".join(SCALES) + " (tiny: tests, small: demo)."


def _check_scale(value: str) -> str:
    if value not in SCALES:
        raise typer.BadParameter(f"unknown scale {value!r}; choose one of {', '.join(SCALES)}")
    return value


def generate(
    scale: str = typer.Option("small", "--scale", help=_SCALE_HELP, callback=_check_scale),
    seed: int = typer.Option(
        7, "--seed", min=0, max=2**31 - 1, help="Random seed (same seed, same data)."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Delete everything in the database first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Simulate about two years of a distributor under the handbook's rule and store it."""
    console = Console(stderr=as_json, highlight=False)
    engine = make_engine()
    try:
        migrate.upgrade(engine)
        summary = generate_world(
            engine,
            scale=scale,
            seed=seed,
            replace=replace,
            show_progress=not as_json,
            console=console,
        )
    except DatabaseNotEmptyError as exc:
        raise typer.BadParameter(exc.message, param_hint="--replace") from exc
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        print_summary(summary, console)


def print_summary(summary: GenerateSummary, console: Console) -> None:
    """Rows per table, the live backlog, base rates and oracle AUCs."""
    stats = summary.stats
    console.print(
        f"[bold]{summary.scale}[/bold] world, seed {summary.seed}, today {summary.today}, "
        f"policy {summary.policy}: {summary.total_rows:,} rows in {summary.seconds:.1f} s "
        f"(simulate {summary.simulate_seconds:.1f} s, write {summary.write_seconds:.1f} s)"
    )
    rows = Table("table", "rows", title="Rows written")
    for name, count in summary.rows.items():
        rows.add_row(name, f"{count:,}")
    console.print(rows)
    rates = Table("measure", "value", title="Live backlog and base rates (realized outcomes)")
    rates.add_row("open backorders", f"{stats.open_backorders:,}")
    rates.add_row("open order lines", f"{stats.open_order_lines:,}")
    rates.add_row("PO lines late", f"{stats.po_late_rate:.1%}")
    rates.add_row("backorders breaching SLA", f"{stats.sla_breach_rate:.1%}")
    rates.add_row("monthly churn", f"{stats.monthly_churn_rate:.2%}")
    rates.add_row("VIP share of customers", f"{stats.vip_share:.1%}")
    for kind, value in stats.oracle_auc.items():
        rates.add_row(f"oracle AUC {kind}", f"{value:.3f} (n={stats.truths[kind]:,})")
    console.print(rates)
    console.print(f"world state for simulation: {summary.state_path}")

"""``allotment allocate``: run the allocation optimizer (a simulation unless ``--commit``)."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from allotment.cli.common import app_errors, default_actor, unit_of_work

if TYPE_CHECKING:  # the solver stack (HiGHS, pandas) loads when the command runs
    from allotment.allocation import service

console = Console()


def allocate(
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    commit: bool = typer.Option(
        False, "--commit", help="Write the plan, ship what is on hand, move backorders."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why (required with --commit)."),
    time_limit: float = typer.Option(
        60.0, "--time-limit", min=0.1, help="Seconds for the solver; then greedy per component."
    ),
    top: int = typer.Option(10, "--top", min=1, help="How many short lines / prices to list."),
    as_of: str | None = typer.Option(None, "--as-of", help="Day to plan from (YYYY-MM-DD)."),
    actor: str | None = typer.Option(None, "--actor", help="Who is acting (default: cli:<login>)."),
) -> None:
    """Allocate stock on hand, open PO lines and substitutes to open backorders."""
    from allotment.allocation import service

    if commit and not (reason and reason.strip()):
        raise typer.BadParameter("--commit needs --reason", param_hint="--reason")
    day = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            raise typer.BadParameter(f"{as_of!r} is not a date", param_hint="--as-of") from None
    with app_errors(), unit_of_work() as session:
        outcome = service.run(session, as_of=day, time_limit=time_limit)
        run_id = None
        if commit:
            assert reason is not None
            run_id = service.commit(
                session, outcome=outcome, actor=actor or default_actor(), reason=reason
            ).id
    if as_json:
        payload = outcome.to_dict(top=top)
        payload["committed_run_id"] = run_id
        typer.echo(json.dumps(payload, indent=2, default=str))
        return
    _print(outcome, top, run_id)


def _print(outcome: service.AllocationRunResult, top: int, run_id: int | None) -> None:
    r = outcome.result
    short = [o for o in r.lines if o.shortfall > 0]
    gain = r.objective - outcome.greedy.objective
    console.print(
        f"[bold]status[/] {r.status}   [bold]objective[/] ${r.objective:,.2f}"
        f"   greedy on the same input ${outcome.greedy.objective:,.2f} ({gain:+,.2f})",
        highlight=False,
    )
    src = outcome.built.priority_source
    console.print(
        f"{len(r.lines)} backorder lines as of {outcome.built.problem.today};"
        f" {sum(o.allocated for o in r.lines)} units allocated,"
        f" {sum(o.from_stock for o in r.lines)} from stock on hand; {len(short)} lines short."
        f" Priority from score snapshots: {src['snapshot']}, from value at risk (never"
        f" scored): {src['value_at_risk']}. Solved in {outcome.seconds['solve']:.2f} s.",
        highlight=False,
    )
    for issue in r.issues[:top]:
        console.print(f"[yellow]{issue.kind}[/]: {issue.detail}", highlight=False)
        for conflict in issue.conflicts[:5]:
            console.print(f"  - {conflict}", highlight=False)
    if short:
        table = Table("backorder", "tier", "SKU", "asked", "got", "why", title="Lines short")
        for o in sorted(short, key=lambda o: -o.shortfall * 1.0)[:top]:
            table.add_row(o.line, o.tier, o.sku, str(o.requested), str(o.allocated), o.reason)
        console.print(table)
    prices = [s for s in r.shadow_prices if s.usd_per_unit > 0][:top]
    if prices:
        table = Table("supply", "USD per unit", "used / free", title="Top shadow prices")
        for s in prices:
            name = f"{s.sku} at {s.location}" if s.po_line_id is None else f"PO line {s.po_line_id}"
            table.add_row(name, f"{s.usd_per_unit:,.2f}", f"{s.used} / {s.capacity}")
        console.print(table)
    c = outcome.comparison
    if c.previous_run_id is None:
        console.print("No previous committed plan to compare with.")
    else:
        console.print(
            f"Against committed run {c.previous_run_id}: {c.improved} improved,"
            f" {c.deteriorated} deteriorated, {c.unchanged} unchanged;"
            f" value +${c.value_gained:,.2f} / -${c.value_lost:,.2f}.",
            highlight=False,
        )
    if run_id is not None:
        console.print(f"[green]committed[/] as allocation run {run_id}.")
    else:
        console.print("Simulation only: nothing written (use --commit --reason TEXT).")

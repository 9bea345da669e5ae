"""``allotment escalate``: apply the policy's escalation triggers and approval reminders.

Once (default), or every ``--every MINUTES`` until interrupted, one line per run.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime

import typer

from allotment.cli.common import app_errors, default_actor, err_console, unit_of_work
from allotment.errors import AppError


def parse_now(value: str | None) -> datetime | None:
    """``--now``: an ISO date (midnight UTC) or datetime (naive means UTC)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise typer.BadParameter(
                f"{value!r} is not an ISO date or datetime", param_hint="--now"
            ) from None
        parsed = datetime(day.year, day.month, day.day)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _once(now: datetime | None, actor: str, as_json: bool, *, compact: bool) -> None:
    from allotment.escalation import service

    with unit_of_work() as session:
        report = service.run(session, actor=actor, now=now)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=None if compact else 2, default=str))
        return
    typer.echo(report.summary())
    if compact:
        return
    for a in report.applied:
        typer.echo(
            f"  {a.backorder_number}: {a.days_overdue} days overdue -> level {a.level}"
            f" ({a.action} {a.role.replace('_', ' ')}), {a.status_before} -> {a.status_after},"
            f" {a.notifications} notification(s)"
        )
    for r in report.reminders:
        typer.echo(
            f"  recommendation {r.recommendation_id}: waiting {r.hours_waiting:.0f} h,"
            f" reminder {r.reminder} to {', '.join(r.roles)}"
        )


def escalate(
    now: str | None = typer.Option(
        None, "--now", help="Run as of this ISO date/datetime (UTC; default: now)."
    ),
    every: float | None = typer.Option(
        None, "--every", min=0.01, help="Run every MINUTES until interrupted, one line per run."
    ),
    max_runs: int | None = typer.Option(
        None, "--max-runs", min=1, help="With --every: stop after this many runs."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    actor: str | None = typer.Option(None, "--actor", help="Who is acting (default: cli:<login>)."),
) -> None:
    """Escalate overdue backorders (policy triggers) and remind waiting approvals; idempotent."""
    when = parse_now(now)
    who = actor or default_actor()
    if every is None:
        with app_errors():
            _once(when, who, as_json, compact=False)
        return
    if when is not None:
        raise typer.BadParameter("--now and --every exclude each other", param_hint="--now")
    runs = 0
    try:
        while True:
            started = time.monotonic()
            try:
                _once(None, who, as_json, compact=True)
            except AppError as exc:  # the next run may succeed (a database restart, ...)
                err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            runs += 1
            if max_runs is not None and runs >= max_runs:
                return
            time.sleep(max(every * 60 - (time.monotonic() - started), 0))
    except KeyboardInterrupt:
        err_console.print(f"stopped after {runs} run(s)")

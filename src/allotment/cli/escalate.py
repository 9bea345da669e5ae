"""``allotment escalate``: apply the policy's escalation triggers and approval reminders, then
enqueue the digests of its ``daily_digest`` / ``weekly_summary`` notification rules.

Once (default), or every ``--every MINUTES`` until interrupted, one line per run. The digests
(the last complete UTC day / ISO week; once per rule, recipient and period) are enqueued in a
transaction of their own after the escalations commit; ``--no-digest`` leaves them out.
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


def _once(
    now: datetime | None, actor: str, as_json: bool, *, compact: bool, digest: bool = True
) -> None:
    from allotment.escalation import service
    from allotment.notify import digest as digests

    with unit_of_work() as session:
        report = service.run(session, actor=actor, now=now)
    sent = None
    if digest:
        with unit_of_work() as session:
            sent = digests.run(session, now=report.now)
    if as_json:
        payload = report.to_dict()
        if sent is not None:
            payload["digests"] = sent.to_dict()
        typer.echo(json.dumps(payload, indent=None if compact else 2, default=str))
        return
    if compact:  # one line per run
        typer.echo(report.summary() + (f"; {sent.short()}" if sent is not None else ""))
        return
    typer.echo(report.summary())
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
    if sent is not None:
        typer.echo(sent.summary())
        for o in sent.outcomes:
            typer.echo(f"  {o.cadence} {o.period} -> {o.recipient}: {o.outcome.replace('_', ' ')}")


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
    digest: bool = typer.Option(
        True,
        "--digest/--no-digest",
        help="Also enqueue the policy's daily digests and weekly summaries (last complete period).",
    ),
) -> None:
    """Escalate overdue backorders (policy triggers), remind waiting approvals and enqueue the
    policy's digests; idempotent."""
    when = parse_now(now)
    who = actor or default_actor()
    if every is None:
        with app_errors():
            _once(when, who, as_json, compact=False, digest=digest)
        return
    if when is not None:
        raise typer.BadParameter("--now and --every exclude each other", param_hint="--now")
    runs = 0
    try:
        while True:
            started = time.monotonic()
            try:
                _once(None, who, as_json, compact=True, digest=digest)
            except AppError as exc:  # the next run may succeed (a database restart, ...)
                err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            runs += 1
            if max_runs is not None and runs >= max_runs:
                return
            time.sleep(max(every * 60 - (time.monotonic() - started), 0))
    except KeyboardInterrupt:
        err_console.print(f"stopped after {runs} run(s)")

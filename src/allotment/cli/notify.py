"""``allotment notify``: deliver the outbox to the sinks; list it; revive dead letters; enqueue
the policy's digests (``--digest``)."""

from __future__ import annotations

import json
import time
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from allotment.cli.common import app_errors, ensure_schema, err_console, unit_of_work
from allotment.config import get_settings
from allotment.db.engine import make_engine, make_sessionmaker
from allotment.domain.models import NOTIFICATION_STATUSES
from allotment.errors import AppError

console = Console()


def _deliver(as_json: bool, limit: int) -> None:
    from allotment.notify.delivery import deliver_due
    from allotment.notify.sinks import sinks_from_settings

    settings = get_settings()
    sinks = sinks_from_settings(settings)
    engine = make_engine(settings=settings)
    try:
        ensure_schema(engine)
        report = deliver_due(make_sessionmaker(engine), sinks=sinks, settings=settings, limit=limit)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), default=str))
        return
    line = (
        f"{report.started_at.isoformat(timespec='seconds')} notify: {len(report.outcomes)}"
        f" attempted, {report.count('sent')} sent, {report.count('retrying')} to retry,"
        f" {report.count('dead')} dead"
    )
    typer.echo(line)


def _row(n: Any) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": n.kind,
        "recipient": n.recipient,
        "channel": n.channel,
        "subject": n.subject,
        "status": n.status,
        "attempts": n.attempts,
        "next_attempt_at": n.next_attempt_at.isoformat(),
        "last_error": n.last_error,
        "created_at": n.created_at.isoformat(),
        "sent_at": n.sent_at.isoformat() if n.sent_at else None,
        "dedupe_key": n.dedupe_key,
    }


def _digest(now: str | None, as_json: bool) -> None:
    from allotment.cli.escalate import parse_now
    from allotment.notify import digest

    with unit_of_work() as session:
        report = digest.run(session, now=parse_now(now))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    typer.echo(report.summary())
    for o in report.outcomes:
        typer.echo(
            f"  {o.cadence} {o.period} {o.event} -> {o.recipient}: {o.outcome.replace('_', ' ')}"
            + (f" ({o.happened} {o.event.replace('_', ' ')})" if o.outcome == "enqueued" else "")
        )


def _list(status: str | None, limit: int, as_json: bool) -> None:
    from allotment.notify import repository as repo

    with unit_of_work() as session:
        rows = [
            _row(n) for n in repo.list_notifications(session=session, status=status, limit=limit)
        ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("id", "status", "channel", "kind", "recipient", "attempts", "subject / error"):
        table.add_column(name, no_wrap=name in ("id", "status", "channel"))
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["status"],
            r["channel"],
            r["kind"],
            r["recipient"],
            str(r["attempts"]),
            r["last_error"] if r["status"] in ("dead", "retrying") else r["subject"],
        )
    console.print(table)


def notify(
    once: bool = typer.Option(False, "--once", help="Deliver what is due, then stop (default)."),
    every: float | None = typer.Option(
        None, "--every", min=0.01, help="Deliver every SECONDS until interrupted, one line per run."
    ),
    max_runs: int | None = typer.Option(
        None, "--max-runs", min=1, help="With --every: stop after this many runs."
    ),
    list_: bool = typer.Option(False, "--list", help="List the outbox, newest first."),
    status: str | None = typer.Option(
        None, "--status", help=f"With --list: only {'/'.join(NOTIFICATION_STATUSES)}."
    ),
    limit: int = typer.Option(500, "--limit", min=1, max=100_000, help="Most rows per run/list."),
    retry_dead: bool = typer.Option(
        False, "--retry-dead", help="Put every dead notification back in the queue."
    ),
    digest: bool = typer.Option(
        False,
        "--digest",
        help="Enqueue the policy's daily digests and weekly summaries of the last complete UTC"
        " day / ISO week (once per rule, recipient and period), then stop.",
    ),
    now: str | None = typer.Option(
        None, "--now", help="With --digest: as of this ISO date/datetime (UTC; default: now)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Deliver pending notifications (log file, webhook, SMTP) with retries and dead letters."""
    modes = sum([once, every is not None, list_, retry_dead, digest])
    if modes > 1:
        raise typer.BadParameter("choose one of --once, --every, --list, --retry-dead, --digest")
    if now is not None and not digest:
        raise typer.BadParameter("--now goes with --digest", param_hint="--now")
    if status is not None and status not in NOTIFICATION_STATUSES:
        raise typer.BadParameter(
            f"{status!r} is not one of {', '.join(NOTIFICATION_STATUSES)}", param_hint="--status"
        )
    if status is not None and not list_:
        raise typer.BadParameter("--status goes with --list", param_hint="--status")
    with app_errors():
        if digest:
            _digest(now, as_json)
            return
        if list_:
            _list(status, limit, as_json)
            return
        if retry_dead:
            from allotment.notify.delivery import retry_dead as revive

            with unit_of_work() as session:
                count = revive(session)
            if as_json:
                typer.echo(json.dumps({"revived": count}))
            else:
                typer.echo(f"{count} dead notification(s) back in the queue")
            return
        if every is None:
            _deliver(as_json, limit)
            return
    runs = 0
    try:
        while True:
            started = time.monotonic()
            try:
                _deliver(as_json, limit)
            except AppError as exc:
                err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
            runs += 1
            if max_runs is not None and runs >= max_runs:
                return
            time.sleep(max(every - (time.monotonic() - started), 0))
    except KeyboardInterrupt:
        err_console.print(f"stopped after {runs} run(s)")

"""Event commands: ingest a JSON Lines file (connectors), list events (parked ones), re-score."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from allotment.cli.common import app_errors, default_actor, ensure_schema, err_console
from allotment.db.engine import make_engine, session_scope
from allotment.events import repository as repo
from allotment.events import service
from allotment.events.schemas import EVENT_ADAPTER, EVENT_TYPES, MAX_BATCH

app = typer.Typer(no_args_is_help=True, help="Ingest ERP/WMS/CRM events and inspect them.")
console = Console()

_SHOW = 20  # problems listed before "and N more"


def _read(path: Path) -> list[tuple[int, BaseModel]]:
    """(line number, event) of every non-blank line; every bad line is reported, none applied."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        err_console.print(f"[bold red]error:[/] cannot read {path}: {exc}", highlight=False)
        raise typer.Exit(2) from None
    events: list[tuple[int, BaseModel]] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            events.append((number, EVENT_ADAPTER.validate_json(line)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(
                str(p) for p in first["loc"] if not (isinstance(p, str) and p in _TYPES)
            )
            problems.append(f"{path}:{number}: {where or 'line'}: {first['msg']}")
    if problems:
        for p in problems[:_SHOW]:
            err_console.print(p, highlight=False, markup=False)
        more = len(problems) - _SHOW
        if more > 0:
            err_console.print(f"... and {more} more", highlight=False)
        err_console.print(
            f"[bold red]error:[/] {len(problems)} invalid line(s); nothing was ingested",
            highlight=False,
        )
        raise typer.Exit(2)
    return events


_TYPES = frozenset(EVENT_TYPES)


@app.command("ingest")
def ingest(
    file: Path = typer.Argument(..., help="JSON Lines: one event per line."),
    batch_size: int = typer.Option(
        500, "--batch-size", min=1, max=MAX_BATCH, help="Events per transaction."
    ),
    actor: str | None = typer.Option(None, "--actor", help="Who sends them (default cli:<login>)."),
    rescore: bool = typer.Option(
        True, "--rescore/--no-rescore", help="Re-score what the events touched at the end."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Apply a file of events in batches, each batch one transaction; safe to re-run."""
    events = _read(file)
    who = actor or default_actor()
    counts: Counter[str] = Counter()
    queued = 0
    engine = make_engine()
    try:
        with app_errors():
            ensure_schema(engine)
            progress = Progress(
                TextColumn("ingesting"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
                disable=as_json,
            )
            with progress:
                task = progress.add_task("events", total=len(events))
                for start in range(0, len(events), batch_size):
                    chunk = events[start : start + batch_size]
                    with session_scope(engine) as session:
                        result = service.ingest(
                            session, [e for _, e in chunk], actor=who, batch=False
                        )
                    counts.update(result.counts())
                    queued += result.rescore_queued
                    progress.advance(task, len(chunk))
            drained = service.drain(engine, actor=who) if rescore else None
    finally:
        engine.dispose()
    summary: dict[str, Any] = {
        "events": len(events),
        **{s: counts.get(s, 0) for s in service.OUTCOMES},
        "rescore_queued": queued,
        "rescored": drained.scored if drained else None,
        "recommended": drained.recommended if drained else None,
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    console.print(
        f"{summary['events']:,} events: {summary['applied']:,} applied,"
        f" {summary['duplicate']:,} duplicate, {summary['stale']:,} stale,"
        f" {summary['parked']:,} parked",
        highlight=False,
    )
    if drained is not None:
        console.print(
            f"re-scored {drained.scored:,} backorder(s), re-recommended {drained.recommended:,}",
            highlight=False,
        )
    if summary["parked"]:
        console.print("see them with: allotment events list --status parked", highlight=False)


@app.command("list")
def list_events(
    status: str | None = typer.Option(
        None, "--status", help="applied, stale or parked (default: all)."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The most recently received events (parked ones with their error)."""
    if status is not None and status not in ("applied", "stale", "parked"):
        raise typer.BadParameter("must be applied, stale or parked", param_hint="--status")
    engine = make_engine()
    try:
        with app_errors():
            ensure_schema(engine)
            with session_scope(engine, readonly=True) as session:
                rows = [
                    {
                        "event_id": r.event_id,
                        "type": r.type,
                        "status": r.status,
                        "occurred_at": r.occurred_at.isoformat(),
                        "received_at": r.received_at.isoformat(),
                        "received_by": r.received_by,
                        "error": r.error,
                        "touched": r.result,
                    }
                    for r in repo.list_events(session=session, status=status, limit=limit)
                ]
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("event id", "type", "status", "occurred at", "error", title="events")
    for r in rows:
        table.add_row(
            *(str(r[k] or "") for k in ("event_id", "type", "status", "occurred_at", "error"))
        )
    console.print(table)


@app.command("rescore")
def rescore_queue() -> None:
    """Re-score the backorders events touched that are still queued (after a crash)."""
    engine = make_engine()
    try:
        with app_errors():
            ensure_schema(engine)
            drained = service.drain(engine)
    finally:
        engine.dispose()
    console.print(
        f"re-scored {drained.scored:,} backorder(s) in {drained.rounds} round(s);"
        f" re-recommended {drained.recommended:,}; {drained.left:,} left",
        highlight=False,
    )

"""Audit trail commands: verify the hash chain, list records."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from allotment import audit
from allotment.cli.common import app_errors, err_console, unit_of_work

app = typer.Typer(no_args_is_help=True, help="Verify and read the hash-chained audit trail.")
console = Console()


def _print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


@app.command("verify")
def verify(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Recompute every record's hash and link; exit 1 naming the first broken record."""
    with app_errors(), unit_of_work() as session:
        result = audit.verify(session)
    if as_json:
        _print_json(result.to_dict())
    elif result.ok:
        head = f"; head {result.head_hash}" if result.head_hash else ""
        typer.echo(f"audit trail intact: {result.checked:,} record(s){head}")
    else:
        err_console.print(
            f"[bold red]audit trail broken at record {result.first_broken_id}[/]"
            f" ({result.problem}): {result.detail}",
            highlight=False,
            soft_wrap=True,
        )
    if not result.ok:
        raise typer.Exit(1)


def _entity(value: str | None) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    kind, _, ident = value.partition(":")
    if not kind:
        raise typer.BadParameter("expected TYPE or TYPE:ID", param_hint="--entity")
    return kind, ident or None


@app.command("list")
def list_(
    entity: str | None = typer.Option(
        None, "--entity", help="Only records about TYPE or TYPE:ID (e.g. policy_version:3)."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List audit records, newest first."""
    entity_type, entity_id = _entity(entity)
    with app_errors(), unit_of_work() as session:
        rows = [
            {
                "id": r.id,
                "occurred_at": r.occurred_at.isoformat(),
                "actor": r.actor,
                "role": r.role,
                "action": r.action,
                "entity_type": r.entity_type,
                "entity_id": r.entity_id,
                "before": r.before,
                "after": r.after,
                "reason": r.reason,
                "model_versions": r.model_versions,
                "policy_version_id": r.policy_version_id,
                "prev_hash": r.prev_hash,
                "hash": r.hash,
            }
            for r in audit.list_records(
                session, entity_type=entity_type, entity_id=entity_id, limit=limit
            )
        ]
    if as_json:
        _print_json(rows)
        return
    table = Table(box=box.SIMPLE_HEAD)
    # What a record is about never wraps; who and why may.
    table.add_column("id", no_wrap=True, justify="right")
    table.add_column("when (UTC)")
    table.add_column("actor (role)")
    table.add_column("action", no_wrap=True)
    table.add_column("entity", no_wrap=True)
    table.add_column("reason")
    for r in rows:
        role = f" ({r['role']})" if r["role"] else ""
        table.add_row(
            str(r["id"]),
            str(r["occurred_at"])[:16].replace("T", " "),
            f"{r['actor']}{role}",
            str(r["action"]),
            f"{r['entity_type']}:{r['entity_id']}",
            str(r["reason"] or ""),
        )
    console.print(table)

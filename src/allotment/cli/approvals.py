"""Approval commands: the inbox of a user, submit, decide, execute (ops and the demo).

Each command acts as the named service user, with that user's role, under the same rules and
authorization table as the API (``approvals:decide``, ``recommendations:submit``,
``recommendations:execute``).
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from allotment.api import authz
from allotment.cli.common import app_errors, unit_of_work
from allotment.domain.models import Recommendation
from allotment.users import repository as users_repo
from allotment.users.errors import PermissionDeniedError
from allotment.workflow import approvals as wf

app = typer.Typer(no_args_is_help=True, help="Recommendation approvals: inbox and decisions.")
console = Console()

USER = typer.Option(..., "--user", help="The service user acting (their role applies).")


def _acting(session: Session, name: str, permission: str) -> tuple[str, str]:
    """(name, role) of an active user whose role holds ``permission``."""
    user = users_repo.get_user(session=session, name=name)
    if not user.active:
        raise PermissionDeniedError(f"user {name} is disabled")
    if not authz.allowed(permission, user.role):
        raise PermissionDeniedError(f"role {user.role.value!r} may not do {permission!r}")
    return user.name, user.role.value


def _row(rec: Recommendation) -> dict[str, Any]:
    return {
        "id": rec.id,
        "backorder_id": rec.backorder_id,
        "kind": rec.kind,
        "status": rec.status,
        "amount": str(rec.amount),
        "routed_amount": str(rec.routed_amount),
        "chain": wf.chain_roles(rec),
        "step": rec.current_step,
        "awaiting_role": rec.awaiting_role,
        "requested_by": rec.requested_by,
        "submitted_at": rec.submitted_at.isoformat() if rec.submitted_at else None,
    }


@app.command("inbox")
def inbox(
    user: str = USER,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="At most this many."),
) -> None:
    """What waits for the user's role that they may decide: oldest, then largest first."""
    with app_errors(), unit_of_work() as session:
        name, role = _acting(session, user, "approvals:decide")
        rows = [_row(r) for r in wf.inbox(session, actor=name, role=role, limit=limit)]
    if as_json:
        typer.echo(json.dumps({"user": name, "role": role, "items": rows}, indent=2))
        return
    if not rows:
        console.print(f"Nothing waits for {name} ({role}).")
        return
    table = Table("id", "backorder", "kind", "routed USD", "chain", "step", "requested by", "since")
    for r in rows:
        table.add_row(
            str(r["id"]),
            str(r["backorder_id"]),
            r["kind"],
            r["routed_amount"],
            " → ".join(r["chain"]),
            f"{r['step'] + 1}/{len(r['chain'])}",
            r["requested_by"] or "-",
            (r["submitted_at"] or "-")[:16],
        )
    console.print(table)


@app.command("submit")
def submit(
    recommendation_id: int = typer.Argument(..., help="The proposed recommendation."),
    user: str = USER,
    reason: str = typer.Option("", "--reason", help="Why (optional)."),
) -> None:
    """Submit a proposed recommendation for approval (the user becomes its requester)."""
    with app_errors(), unit_of_work() as session:
        name, role = _acting(session, user, "recommendations:submit")
        rec = wf.submit(
            session, recommendation_id=recommendation_id, actor=name, role=role, reason=reason
        )
        chain = wf.chain_roles(rec)
        status = rec.status
    route = " → ".join(chain) if chain else "automatic"
    typer.echo(f"recommendation {recommendation_id}: {status} (chain: {route})")


@app.command("decide")
def decide(
    recommendation_id: int = typer.Argument(..., help="The recommendation waiting for the user."),
    user: str = USER,
    decision: wf.Decision = typer.Option(..., "--decision", help="What the user decides."),
    reason: str = typer.Option(..., "--reason", help="Why (required)."),
    conditions: str | None = typer.Option(
        None, "--conditions", help="The conditions (with approve_with_conditions only)."
    ),
) -> None:
    """Decide the step of a recommendation that waits for the user's role."""
    with app_errors(), unit_of_work() as session:
        name, role = _acting(session, user, "approvals:decide")
        rec = wf.decide(
            session,
            recommendation_id=recommendation_id,
            actor=name,
            role=role,
            decision=decision,
            reason=reason,
            conditions=conditions,
        )
        status, waiting = rec.status, rec.awaiting_role
    tail = f", waiting for {waiting}" if waiting else ""
    typer.echo(f"recommendation {recommendation_id}: {decision.value} by {name} → {status}{tail}")


@app.command("execute")
def execute(
    recommendation_id: int = typer.Argument(..., help="The approved recommendation."),
    user: str = USER,
    reason: str = typer.Option(..., "--reason", help="Why now (required)."),
) -> None:
    """Carry out an approved recommendation through the backorder's state machine."""
    with app_errors(), unit_of_work() as session:
        name, role = _acting(session, user, "recommendations:execute")
        done = wf.execute(
            session, recommendation_id=recommendation_id, actor=name, role=role, reason=reason
        )
    typer.echo(
        f"recommendation {recommendation_id}: executed; backorder {done.backorder_id}"
        f" {done.status_before.value} → {done.status_after.value} ({done.effect})"
    )
    for c in done.conditions:
        typer.echo(f"condition: {c}")

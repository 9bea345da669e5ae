"""Backorder commands: record a supplier delay, create by hand, change status, show."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from allotment.cli.common import app_errors, default_actor, unit_of_work
from allotment.domain import backorders as svc
from allotment.domain import repository as repo
from allotment.domain.enums import BackorderStatus, RootCause

app = typer.Typer(no_args_is_help=True, help="Create backorders and move them through their life.")
console = Console()

ActorOpt = typer.Option(None, "--actor", help="Who is acting (default: cli:<login>).")


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def _print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


@app.command("delay")
def delay(
    po_line_id: int = typer.Argument(..., help="Purchase order line id."),
    eta: str = typer.Option(..., "--eta", help="The supplier's new ETA (YYYY-MM-DD)."),
    reason: str = typer.Option(..., "--reason", help="Why (the supplier's words)."),
    root_cause: RootCause = typer.Option(RootCause.SUPPLIER_DELAY, "--root-cause"),
    actor: str | None = ActorOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Record a PO line's new ETA and backorder the customer order lines it makes late."""
    new_eta = _date(eta, "--eta")
    with app_errors(), unit_of_work() as session:
        impact = svc.apply_po_delay(
            session,
            po_line_id=po_line_id,
            new_eta=new_eta,
            actor=actor or default_actor(),
            reason=reason,
            root_cause=root_cause,
        )
    if as_json:
        _print_json(
            {
                "po_line_id": impact.po_line_id,
                "previous_eta": impact.previous_eta,
                "new_eta": impact.new_eta,
                "backordered_quantity": impact.backordered_quantity,
                "value_at_risk": str(impact.value_at_risk),
                "customers_affected": impact.customers_affected,
                "lines": [vars(a) for a in impact.lines],
            }
        )
        return
    table = Table(
        "order",
        "customer",
        "tier",
        "emergency",
        "promised",
        "qty",
        "value at risk",
        "result",
        title=f"PO line {po_line_id}: ETA {impact.previous_eta} -> {impact.new_eta}",
    )
    for a in impact.lines:
        table.add_row(
            a.order_number,
            a.customer_name,
            a.tier.value,
            "yes" if a.is_emergency else "",
            str(a.promised_date),
            f"{a.open_quantity:,}",
            f"${a.value_at_risk:,.2f}",
            f"{a.action} {a.backorder_number or ''}".strip(),
        )
    console.print(table)
    console.print(
        f"backordered {impact.backordered_quantity:,} units for {impact.customers_affected}"
        f" customer(s); revenue at risk ${impact.value_at_risk:,.2f}"
    )


@app.command("create")
def create(
    order_line_id: int = typer.Argument(..., help="Customer order line id."),
    quantity: int = typer.Option(..., "--quantity", help="Units backordered."),
    reason: str = typer.Option(..., "--reason"),
    root_cause: RootCause = typer.Option(RootCause.OTHER, "--root-cause"),
    po_line_id: int | None = typer.Option(None, "--po-line", help="PO line it waits on."),
    expected: str | None = typer.Option(None, "--expected", help="Expected date (YYYY-MM-DD)."),
    actor: str | None = ActorOpt,
) -> None:
    """Create a backorder by hand."""
    expected_date = _date(expected, "--expected") if expected else None
    with app_errors(), unit_of_work() as session:
        bo = svc.create_manual(
            session,
            order_line_id=order_line_id,
            quantity=quantity,
            actor=actor or default_actor(),
            reason=reason,
            root_cause=root_cause,
            po_line_id=po_line_id,
            expected_fulfillment_date=expected_date,
        )
        typer.echo(f"created {bo.number} (id {bo.id}): {bo.quantity} units, ${bo.value_at_risk:,}")


@app.command("transition")
def transition(
    backorder_id: int = typer.Argument(...),
    status: BackorderStatus = typer.Argument(..., help="The new status."),
    reason: str = typer.Option(..., "--reason"),
    actor: str | None = ActorOpt,
) -> None:
    """Move a backorder to another status (refused unless the lifecycle allows it)."""
    with app_errors(), unit_of_work() as session:
        bo = repo.get_backorder(session=session, backorder_id=backorder_id, for_update=True)
        before = bo.status
        svc.transition(
            session, backorder=bo, to=status, actor=actor or default_actor(), reason=reason
        )
        typer.echo(f"{bo.number}: {before.value} -> {bo.status.value}")


@app.command("show")
def show(
    backorder_id: int = typer.Argument(...), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Show a backorder and its status history."""
    with app_errors(), unit_of_work() as session:
        bo = repo.get_backorder(session=session, backorder_id=backorder_id)
        history = [
            {
                "at": h.changed_at.isoformat(),
                "from": h.from_status.value if h.from_status else None,
                "to": h.to_status.value,
                "by": h.changed_by,
                "reason": h.reason,
            }
            for h in bo.history
        ]
        data = {
            "id": bo.id,
            "number": bo.number,
            "status": bo.status.value,
            "order_line_id": bo.order_line_id,
            "po_line_id": bo.po_line_id,
            "quantity": bo.quantity,
            "open_quantity": bo.open_quantity,
            "value_at_risk": str(bo.value_at_risk),
            "root_cause": bo.root_cause.value,
            "expected_fulfillment_date": bo.expected_fulfillment_date,
            "created_at": bo.created_at.isoformat(),
            "history": history,
        }
    if as_json:
        _print_json(data)
        return
    console.print(
        f"[bold]{data['number']}[/] {data['status']} — {data['open_quantity']}/{data['quantity']}"
        f" units open, ${bo.value_at_risk:,} at risk, expected {data['expected_fulfillment_date']}"
    )
    table = Table("when", "from", "to", "by", "why", title="status history")
    for h in history:
        at = datetime.fromisoformat(str(h["at"])).strftime("%Y-%m-%d %H:%M")
        table.add_row(at, str(h["from"] or "—"), str(h["to"]), str(h["by"]), str(h["reason"]))
    console.print(table)

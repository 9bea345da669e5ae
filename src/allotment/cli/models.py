"""Model registry commands: list versions, promote through the gate, roll back the champion.

The registry module imports MLflow (seconds), so it is imported inside the commands and other
``allotment`` commands stay fast.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from allotment import audit
from allotment.cli.common import app_errors, default_actor, err_console, unit_of_work
from allotment.errors import ModelPromotionRefusedError
from allotment.modeling.gate import GateConfig

app = typer.Typer(no_args_is_help=True, help="List, promote and roll back registered models.")
console = Console()

ActorOpt = typer.Option(None, "--actor", help="Who is acting (default: cli:<login>).")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


@app.command("list")
def list_(
    name: str | None = typer.Argument(None, help="Only this registered model."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List registered model versions with their aliases and test metrics."""
    from allotment.modeling import registry

    with app_errors():
        rows = registry.list_models(name)
    if as_json:
        _print_json([r.to_dict() for r in rows])
        return
    if not rows:
        console.print(f"no registered models in {registry.tracking_uri()}")
        return
    table = Table("name", "version", "alias", "AUC", "oracle AUC", "ratio", "ECE", "created")
    for r in rows:
        table.add_row(
            r.name,
            str(r.version),
            ", ".join(r.aliases),
            _num(r.auc),
            _num(r.oracle_auc),
            _num(r.auc_oracle_ratio),
            _num(r.ece),
            r.created.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)
    if any(r.oracle_auc is not None for r in rows):
        console.print(
            "AUC and ECE: all test rows. ratio: the model's AUC on the test rows whose true"
            " probability the synthetic world recorded, divided by the oracle AUC on those rows.",
            highlight=False,
        )


@app.command("promote")
def promote(
    name: str = typer.Argument(..., help="Registered model name, e.g. allotment-churn."),
    version: int = typer.Argument(..., help="Version to make champion."),
    force: bool = typer.Option(False, "--force", help="Promote even if the gate refuses."),
    reason: str | None = typer.Option(None, "--reason", help="Why (required with --force)."),
    max_auc_drop: float = typer.Option(
        GateConfig.max_auc_drop, "--max-auc-drop", help="Largest allowed AUC drop vs champion."
    ),
    ece_ceiling: float = typer.Option(
        GateConfig.ece_ceiling, "--ece-ceiling", help="Largest allowed test ECE."
    ),
    actor: str | None = ActorOpt,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Make a version the champion if the promotion gate allows it (or --force with a reason)."""
    try:
        config = GateConfig(max_auc_drop=max_auc_drop, ece_ceiling=ece_ceiling)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    from allotment.modeling import registry

    who = actor or default_actor()
    with app_errors(), unit_of_work() as session:
        try:
            result = registry.promote(
                name, version, actor=who, force=force, reason=reason, config=config
            )
        except ModelPromotionRefusedError as exc:
            # the gate's checks first, then app_errors' one error line and exit 1
            if as_json:
                _print_json({"promoted": False, "error": exc.message, "reasons": exc.reasons})
            else:
                for line in exc.reasons:
                    err_console.print(f"  {line}", highlight=False)
            raise
        # A champion change is a state change: recorded in the hash-chained audit trail too.
        record = audit.append(
            session,
            actor=who,
            role="data_scientist",
            action="model.promoted_forced" if result.forced else "model.promoted",
            entity_type="model",
            entity_id=result.name,
            before={"champion": result.previous_champion},
            after={"champion": result.version, "forced": result.forced},
            reason=reason,
            model_versions={result.name: result.version},
        )
    if as_json:
        _print_json(
            {
                "promoted": True,
                "name": result.name,
                "version": result.version,
                "previous_champion": result.previous_champion,
                "forced": result.forced,
                "reasons": result.reasons,
                "audit_record_id": record.id,
            }
        )
        return
    for line in result.reasons:
        console.print(f"  {line}", highlight=False)
    replaced = (
        f" (was v{result.previous_champion})" if result.previous_champion else " (first champion)"
    )
    forced = " [bold yellow]FORCED past the gate[/]" if result.forced else ""
    console.print(f"{result.name} v{result.version} is champion{replaced}{forced}")


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Registered model name."),
    reason: str | None = typer.Option(None, "--reason", help="Why (recorded)."),
    actor: str | None = ActorOpt,
) -> None:
    """Move the champion back to the previous champion."""
    from allotment.modeling import registry

    who = actor or default_actor()
    with app_errors(), unit_of_work() as session:
        result = registry.rollback(name, actor=who, reason=reason)
        audit.append(
            session,
            actor=who,
            role="data_scientist",
            action="model.rolled_back",
            entity_type="model",
            entity_id=result.name,
            before={"champion": result.from_version},
            after={"champion": result.to_version},
            reason=reason,
            model_versions={result.name: result.to_version},
        )
    console.print(f"{result.name}: champion v{result.from_version} -> v{result.to_version}")

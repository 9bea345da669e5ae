"""Import and export commands: move an entity's rows between files and the database."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from allotment.cli.common import ensure_schema
from allotment.db.engine import make_engine
from allotment.errors import ImportMappingError, ImportValidationError
from allotment.io import ENTITIES, export_entity, import_file
from allotment.io.problems import Problem

# Enough to see the pattern of what is wrong without scrolling a terminal away.
SHOW_PROBLEMS = 50

_ENTITY_HELP = "One of: " + ", ".join(ENTITIES) + "."


def _check_entity(entity: str) -> str:
    if entity not in ENTITIES:
        raise typer.BadParameter(f"unknown entity {entity!r}. {_ENTITY_HELP}")
    return entity


def import_(
    entity: str = typer.Argument(..., help=_ENTITY_HELP, callback=_check_entity),
    path: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="A .csv or .parquet file."
    ),
    mapping: Path | None = typer.Option(
        None,
        "--mapping",
        "-m",
        exists=True,
        dir_okay=False,
        readable=True,
        help="TOML file mapping the file's columns and values to ours (see the README).",
    ),
    show: int = typer.Option(SHOW_PROBLEMS, help="Most problems to list.", min=1),
) -> None:
    """Import ENTITY rows from PATH: all rows or none, updating rows that already exist."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    engine = make_engine()
    try:
        ensure_schema(engine)
        with err.status(f"importing {path.name}") as status:
            result = import_file(
                engine,
                entity,
                path,
                mapping=mapping,
                progress=lambda message: status.update(message),
            )
    except ImportMappingError as exc:
        err.print(f"[red]mapping error:[/red] {exc.message}", markup=True)
        raise typer.Exit(2) from exc
    except ImportValidationError as exc:
        for problem in exc.problems[:show]:
            err.print(str(Problem(**problem)), markup=False)
        hidden = len(exc.problems) - show
        if hidden > 0:
            err.print(f"… and {hidden:,} more", markup=False)
        err.print(f"[red]{exc.message}[/red]", markup=True)
        raise typer.Exit(1) from exc
    except ValueError as exc:  # e.g. an unknown file extension
        err.print(f"[red]error:[/red] {exc}", markup=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    typer.echo(
        f"{result.entity}: {result.rows:,} rows from {result.file} — "
        f"{result.inserted:,} inserted, {result.updated:,} updated, "
        f"{result.unchanged:,} unchanged"
    )


def export_(
    entity: str = typer.Argument(..., help=_ENTITY_HELP, callback=_check_entity),
    path: Path = typer.Argument(..., dir_okay=False, help="A .csv or .parquet file to write."),
) -> None:
    """Export every ENTITY row to PATH in the import format (our columns, natural keys)."""
    engine = make_engine()
    try:
        ensure_schema(engine)
        count = export_entity(engine, entity, path)
    except ValueError as exc:
        Console(stderr=True, soft_wrap=True).print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    typer.echo(f"{entity}: wrote {count:,} rows to {path}")

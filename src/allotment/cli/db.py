"""Database commands."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from allotment.db import migrate
from allotment.db.engine import make_engine
from allotment.domain.models import Base

app = typer.Typer(no_args_is_help=True, help="Create, migrate and inspect the database.")


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the configured database to the latest schema."""
    engine = make_engine()
    try:
        migrate.upgrade(engine, revision)
        url = engine.url.render_as_string(hide_password=True)
        typer.echo(f"database at revision {migrate.current_revision(engine)} ({url})")
    finally:
        engine.dispose()


@app.command("current")
def current() -> None:
    """Print the database's schema revision."""
    engine = make_engine()
    try:
        typer.echo(migrate.current_revision(engine) or "(empty)")
    finally:
        engine.dispose()


def table_counts() -> dict[str, int]:
    """Rows per domain table of the configured database (which must be migrated)."""
    engine = make_engine()
    try:
        if migrate.current_revision(engine) is None:
            raise typer.BadParameter(
                "the database has no schema yet; run `allotment db upgrade` first"
            )
        with engine.connect() as conn:
            return {
                table.name: int(conn.scalar(select(func.count()).select_from(table)) or 0)
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Show the schema revision and the number of rows in every table."""
    counts = table_counts()
    if as_json:
        typer.echo(json.dumps(counts, indent=2))
        return
    table = Table("table", "rows", title="allotment database")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    Console().print(table)

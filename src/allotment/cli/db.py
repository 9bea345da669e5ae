"""Database commands."""

from __future__ import annotations

import typer

from allotment.db import migrate
from allotment.db.engine import make_engine

app = typer.Typer(no_args_is_help=True, help="Create and migrate the database.")


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the configured database to the latest schema."""
    engine = make_engine()
    try:
        migrate.upgrade(engine, revision)
        typer.echo(f"database at revision {migrate.current_revision(engine)} ({engine.url!r})")
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

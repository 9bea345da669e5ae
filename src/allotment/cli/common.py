"""What every command shares: error rendering and the unit of work."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from allotment.db import migrate
from allotment.db.engine import make_engine, session_scope
from allotment.errors import AppError

err_console = Console(stderr=True)


def default_actor() -> str:
    """Who a command acts as when ``--actor`` is not given."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "cli"


@contextmanager
def app_errors() -> Iterator[None]:
    """Render expected errors as one clear line and exit 1, never a traceback."""
    try:
        yield
    except AppError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        raise typer.Exit(1) from None


def ensure_schema(engine: Engine) -> None:
    """Bring the database to the latest schema (a new database is created on first use)."""
    if migrate.current_revision(engine) != migrate.head_revision():
        migrate.upgrade(engine)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A migrated database session that commits on success and rolls back on error."""
    engine = make_engine()
    try:
        ensure_schema(engine)
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()

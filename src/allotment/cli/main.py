"""Entry point of the ``allotment`` console script."""

from __future__ import annotations

import typer

from allotment.cli import db as db_cli

app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help=__doc__
)
app.add_typer(db_cli.app, name="db")

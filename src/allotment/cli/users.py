"""User commands: add, list, issue an API key, revoke a key, disable."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from allotment.cli.common import app_errors, unit_of_work
from allotment.users import repository as repo
from allotment.users import service as svc
from allotment.users.roles import Role

app = typer.Typer(no_args_is_help=True, help="Users of the service, their roles and API keys.")
console = Console()


def _read_password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated): from stdin, prompted on a terminal, else generated."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise typer.BadParameter("no password on stdin", param_hint="--password-stdin")
        return password, False
    if sys.stdin.isatty():
        prompted: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return prompted, False
    return svc.generate_password(), True


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Login name (letters, digits, . _ @ -)."),
    role: Role = typer.Option(..., "--role", help="The user's role."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
    machine: bool = typer.Option(
        False, "--machine", help="No password: a machine client that signs in with API keys."
    ),
) -> None:
    """Add a user. Without a password (and no terminal) one is generated and printed once."""
    password, generated = (None, False) if machine else _read_password(password_stdin)
    with app_errors(), unit_of_work() as session:
        user = svc.create_user(session, name=name, role=role, password=password)
    typer.echo(f"added user {user.name} ({user.role.value})")
    if generated:
        typer.echo(f"password (shown once): {password}")


@app.command("list")
def list_() -> None:
    """Every user with role, state and API keys."""
    with app_errors(), unit_of_work() as session:
        rows = []
        for user in repo.list_users(session=session):
            keys = repo.api_keys_of(session=session, user_id=user.id)
            live = [k.prefix for k in keys if k.revoked_at is None]
            rows.append(
                (
                    user.name,
                    user.role.value,
                    "active" if user.active else "disabled",
                    "yes" if user.password_hash else "no",
                    ", ".join(live) or "-",
                    user.created_at.strftime("%Y-%m-%d %H:%M"),
                )
            )
    table = Table("name", "role", "state", "password", "API keys (prefix)", "created (UTC)")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command("apikey")
def apikey(name: str = typer.Argument(..., help="The user the key acts as.")) -> None:
    """Issue an API key (sent as the X-API-Key header). It is printed once, never stored."""
    with app_errors(), unit_of_work() as session:
        issued = svc.issue_api_key(session, name=name)
    typer.echo(issued.secret)
    typer.echo(
        f"(prefix {issued.key.prefix}; revoke with: allotment users revoke-key "
        f"{issued.key.prefix})",
        err=True,
    )


@app.command("revoke-key")
def revoke_key(
    prefix: str = typer.Argument(..., help="The key's prefix (see users list)."),
) -> None:
    """Revoke an API key: it stops working on the next request."""
    with app_errors(), unit_of_work() as session:
        key = svc.revoke_api_key(session, prefix=prefix)
    typer.echo(f"revoked API key {key.prefix}")


@app.command("disable")
def disable(name: str = typer.Argument(..., help="The user to disable.")) -> None:
    """Disable a user: their tokens and API keys stop working on the next request."""
    with app_errors(), unit_of_work() as session:
        user = svc.disable_user(session, name=name)
    typer.echo(f"disabled user {user.name}")

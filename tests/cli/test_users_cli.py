"""`allotment users ...` end to end on both backends."""

from __future__ import annotations

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.domain.models import User
from allotment.users import service as users
from tests.users.conftest import fast_password_hashing  # noqa: F401 (autouse)

runner = CliRunner()


def test_users_add_list_apikey_disable(db_url: str, session: Session) -> None:
    added = runner.invoke(
        app,
        ["users", "add", "ann", "--role", "planner", "--password-stdin"],
        input="correct horse battery\n",
    )
    assert added.exit_code == 0, added.output
    assert "added user ann (planner)" in added.output and "password" not in added.output
    generated = runner.invoke(app, ["users", "add", "bob", "--role", "director"], input="")
    assert generated.exit_code == 0, generated.output
    password = generated.output.split("password (shown once): ")[1].strip()
    assert users.authenticate(session, name="bob", password=password).role.value == "director"
    assert users.authenticate(session, name="ann", password="correct horse battery")
    session.rollback()

    duplicate = runner.invoke(app, ["users", "add", "ann", "--role", "admin", "--machine"])
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    bad_role = runner.invoke(app, ["users", "add", "cy", "--role", "king", "--machine"])
    assert bad_role.exit_code == 2

    key = runner.invoke(app, ["users", "apikey", "ann"])
    assert key.exit_code == 0, key.output
    secret = key.stdout.strip().splitlines()[0]
    assert users.resolve_api_key(session, presented=secret)[0].name == "ann"
    session.rollback()
    listing = runner.invoke(app, ["users", "list"])
    assert "ann" in listing.output and "director" in listing.output
    assert secret.split("_")[1] in listing.output  # the prefix, never the secret
    assert secret.split("_", 2)[2] not in listing.output

    disabled = runner.invoke(app, ["users", "disable", "ann"])
    assert disabled.exit_code == 0 and "disabled user ann" in disabled.output
    assert session.query(User).filter_by(name="ann").one().active is False
    session.rollback()
    missing = runner.invoke(app, ["users", "disable", "ghost"])
    assert missing.exit_code == 1 and "does not exist" in missing.output

"""`allotment approvals ...` end to end on both backends."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.domain.models import Backorder, Recommendation
from allotment.users.roles import Role
from tests import factories
from tests.workflow.helpers import recommendation

runner = CliRunner()


def _people(session: Session) -> None:
    for name, role in [("pat", Role.PLANNER), ("sue", Role.SUPERVISOR), ("max", Role.MANAGER)]:
        factories.user(session, name=name, role=role)


def test_submit_inbox_decide_execute(db_url: str, session: Session) -> None:
    _people(session)
    rec = recommendation(session, amount="12500.00", kind="ship_partial", units=4)
    session.commit()
    rec_id, bo_id = rec.id, rec.backorder_id

    submitted = runner.invoke(app, ["approvals", "submit", str(rec_id), "--user", "pat"])
    assert submitted.exit_code == 0, submitted.output
    assert "pending_approval (chain: supervisor → manager)" in submitted.output

    inbox = runner.invoke(app, ["approvals", "inbox", "--user", "sue", "--json"])
    assert inbox.exit_code == 0, inbox.output
    got = json.loads(inbox.stdout)
    assert (got["role"], [i["id"] for i in got["items"]]) == ("supervisor", [rec_id])
    assert (
        "Nothing waits for max"
        in runner.invoke(app, ["approvals", "inbox", "--user", "max"]).output
    )

    for user in ("sue", "max"):
        decided = runner.invoke(
            app,
            ["approvals", "decide", str(rec_id), "--user", user, "--decision", "approve",
             "--reason", "worth it"],
        )  # fmt: skip
        assert decided.exit_code == 0, decided.output
    assert "approve by max → approved" in decided.output

    executed = runner.invoke(
        app, ["approvals", "execute", str(rec_id), "--user", "pat", "--reason", "ship it"]
    )
    assert executed.exit_code == 0, executed.output
    assert "open → partially_resolved" in executed.output
    session.expire_all()
    assert session.get(Recommendation, rec_id).status == "executed"  # type: ignore[union-attr]
    assert session.get(Backorder, bo_id).open_quantity == 6  # type: ignore[union-attr]


def test_a_refused_decision_is_one_line_and_exit_1(db_url: str, session: Session) -> None:
    _people(session)
    rec = recommendation(session, amount="5000.00")
    session.commit()
    runner.invoke(app, ["approvals", "submit", str(rec.id), "--user", "sue"])
    got = runner.invoke(
        app,
        ["approvals", "decide", str(rec.id), "--user", "sue", "--decision", "approve",
         "--reason", "mine"],
    )  # fmt: skip
    assert got.exit_code == 1
    assert "sue requested recommendation" in got.output
    assert "Traceback" not in got.output and len(got.output.strip().splitlines()) == 1


def test_a_role_without_the_permission_is_refused(db_url: str, session: Session) -> None:
    _people(session)
    session.commit()
    got = runner.invoke(app, ["approvals", "inbox", "--user", "pat"])
    assert got.exit_code == 1 and "may not do 'approvals:decide'" in got.output


def test_an_unknown_decision_is_a_usage_error(db_url: str) -> None:
    got = runner.invoke(
        app, ["approvals", "decide", "1", "--user", "sue", "--decision", "maybe", "--reason", "x"]
    )
    assert got.exit_code == 2

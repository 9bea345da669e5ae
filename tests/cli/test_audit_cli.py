"""``allotment audit verify|list`` on both backends, and the audit record of a forced promotion."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.errors import ModelPromotionRefusedError
from allotment.modeling.gate import GateDecision
from tests.audit.lift import append_only_lifted

runner = CliRunner()


def test_verify_and_list_then_a_tampered_record_is_named(session: Session) -> None:
    empty = runner.invoke(app, ["audit", "verify"])
    assert empty.exit_code == 0 and "audit trail intact: 0 record(s)" in empty.output
    runner.invoke(app, ["policy", "show"])  # installs the default: two audit records
    ok = runner.invoke(app, ["audit", "verify", "--json"])
    assert ok.exit_code == 0
    assert json.loads(ok.output)["ok"] is True and json.loads(ok.output)["checked"] == 2

    listed = json.loads(
        runner.invoke(app, ["audit", "list", "--entity", "policy_version:1", "--json"]).output
    )
    assert [r["action"] for r in listed] == ["policy.activated", "policy.drafted"]
    assert listed[0]["prev_hash"] == listed[1]["hash"]
    assert (
        json.loads(runner.invoke(app, ["audit", "list", "--entity", "model", "--json"]).output)
        == []
    )
    table = runner.invoke(app, ["audit", "list", "--limit", "1"])
    assert table.exit_code == 0 and "policy.activated" in table.output

    with append_only_lifted(session.connection()):  # tampering: past the triggers
        session.execute(text("UPDATE audit_records SET reason = 'because' WHERE id = 1"))
    session.commit()
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "audit trail broken at record 1 (hash_mismatch)" in broken.output
    as_json = json.loads(runner.invoke(app, ["audit", "verify", "--json"]).output)
    assert (as_json["ok"], as_json["first_broken_id"]) == (False, 1)


def test_promotions_and_rollbacks_are_audited(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry is stubbed: what is under test is the audit record the command writes."""
    from allotment.modeling import registry

    def promote(name: str, version: int, **kwargs: Any) -> registry.PromotionResult:
        if version == 3:
            raise ModelPromotionRefusedError("gate refused", reasons=["fail: AUC"])
        forced = bool(kwargs["force"])
        return registry.PromotionResult(
            name=name,
            version=version,
            previous_champion=version - 1 or None,
            decision=GateDecision(promote=not forced),
            forced=forced,
        )

    def rollback(name: str, **kwargs: Any) -> registry.RollbackResult:
        return registry.RollbackResult(name=name, from_version=2, to_version=1)

    monkeypatch.setattr(registry, "promote", promote)
    monkeypatch.setattr(registry, "rollback", rollback)
    name = "allotment-churn"
    assert runner.invoke(app, ["models", "promote", name, "1", "--actor", "ann"]).exit_code == 0
    assert runner.invoke(app, ["models", "promote", name, "3"]).exit_code == 1  # not a change
    forced = runner.invoke(
        app,
        [
            "models",
            "promote",
            name,
            "2",
            "--force",
            "--reason",
            "drill",
            "--actor",
            "ann",
            "--json",
        ],
    )
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.output)["audit_record_id"] == 2
    rolled = runner.invoke(app, ["models", "rollback", name, "--reason", "undo drill"])
    assert rolled.exit_code == 0, rolled.output

    listed = json.loads(
        runner.invoke(app, ["audit", "list", "--entity", f"model:{name}", "--json"]).output
    )
    assert [(r["action"], r["before"], r["after"]) for r in listed] == [
        ("model.rolled_back", {"champion": 2}, {"champion": 1}),
        ("model.promoted_forced", {"champion": 1}, {"champion": 2, "forced": True}),
        ("model.promoted", {"champion": None}, {"champion": 1, "forced": False}),
    ]
    assert (listed[1]["actor"], listed[1]["role"], listed[1]["reason"]) == (
        "ann",
        "data_scientist",
        "drill",
    )
    assert listed[1]["model_versions"] == {name: 2}
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0

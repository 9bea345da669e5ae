"""``allotment policy show|list|validate|activate|route`` end to end on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import yaml  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.domain.enums import PolicyStatus, Tier
from allotment.domain.models import AuditRecord, PolicyVersion
from allotment.policy.documents import shipped_policy_path
from tests import factories

runner = CliRunner()
STATIC = str(shipped_policy_path("static-tier"))


def test_show_installs_and_summarizes_the_default(session: Session) -> None:
    shown = runner.invoke(app, ["policy", "show"])
    assert shown.exit_code == 0, shown.output
    assert "default v1 (id 1) — active since" in shown.output
    assert "VIP ×5, premium ×3, standard ×1; emergency ×10" in shown.output
    assert "in the $10,000–$50,000 band" in shown.output
    assert "over $50,000" in shown.output
    as_json = json.loads(runner.invoke(app, ["policy", "show", "--json"]).output)
    assert as_json["status"] == "active" and as_json["author"] == "system"
    assert as_json["document"]["multipliers"]["tier"]["vip"] == 5.0
    assert as_json["document"]["approvals"]["steps"][3] == {
        "min_amount": "50000.01",
        "role": "director",
    }


def test_validate_exits_0_or_2_naming_the_file_and_key(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["policy", "validate", STATIC])
    assert ok.exit_code == 0
    assert "valid (policy 'static-tier'" in ok.output
    document = yaml.safe_load(Path(STATIC).read_text(encoding="utf-8"))
    document["escalations"][1]["days_overdue"] = "a week"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(document), encoding="utf-8")
    refused = runner.invoke(app, ["policy", "validate", str(bad)])
    assert refused.exit_code == 2
    assert str(bad) in refused.output
    assert "escalations.1.days_overdue:" in refused.output


def test_activate_list_and_show_a_retired_version(session: Session, tmp_path: Path) -> None:
    no_reason = runner.invoke(app, ["policy", "activate", STATIC])
    assert no_reason.exit_code == 2  # --reason is required
    runner.invoke(app, ["policy", "show"])
    done = runner.invoke(
        app, ["policy", "activate", STATIC, "--reason", "compare", "--actor", "test:ann"]
    )
    assert done.exit_code == 0, done.output
    assert "activated static-tier v1 (id 2); retired default v1 (id 1)" in done.output
    again = runner.invoke(app, ["policy", "activate", STATIC, "--reason", "twice"])
    assert again.exit_code == 0 and "static-tier v1 (id 2) is already active" in again.output
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("name: x\nblend: {use_models: maybe}\n", encoding="utf-8")
    refused = runner.invoke(app, ["policy", "activate", str(invalid), "--reason", "r"])
    assert refused.exit_code == 2 and "blend.use_models" in refused.output

    listed = json.loads(runner.invoke(app, ["policy", "list", "--json"]).output)
    assert [(r["name"], r["status"]) for r in listed] == [
        ("static-tier", "active"),
        ("default", "retired"),
    ]
    old = json.loads(runner.invoke(app, ["policy", "show", "--name", "default", "--json"]).output)
    assert old["status"] == "retired" and old["retired_at"] is not None
    rollback = runner.invoke(app, ["policy", "activate", "--id", "1", "--reason", "undo"])
    assert rollback.exit_code == 0, rollback.output

    session.expire_all()
    statuses = dict(session.execute(select(PolicyVersion.id, PolicyVersion.status)).all())
    assert statuses == {1: PolicyStatus.ACTIVE, 2: PolicyStatus.RETIRED}
    actor, reason = session.execute(
        select(AuditRecord.actor, AuditRecord.reason)
        .where(AuditRecord.action == "policy.activated")
        .order_by(AuditRecord.id)
    ).all()[1]
    assert (actor, reason) == ("test:ann", "compare")


def test_route_prints_the_chain_and_why(session: Session) -> None:
    vip = factories.customer(session, code="METRO", tier=Tier.VIP, account_manager="am.jones")
    session.commit()
    plain = runner.invoke(app, ["policy", "route", "12,500", "--tier", "standard"])
    assert plain.exit_code == 0, plain.output
    assert "supervisor → manager\n" in plain.output
    assert "- $12,500 is in the $10,000–$50,000 band → manager" in plain.output
    auto = runner.invoke(app, ["policy", "route", "999.99", "--tier", "premium"])
    assert "automatic (notify planner)" in auto.output

    by_customer = runner.invoke(app, ["policy", "route", "$45,000", "--customer", "METRO"])
    assert by_customer.exit_code == 0, by_customer.output
    assert "supervisor → manager → account manager (am.jones)" in by_customer.output
    assert "- VIP customer → account manager always" in by_customer.output
    routed = runner.invoke(
        app, ["policy", "route", "50000.01", "--customer", str(vip.id), "--json"]
    )
    as_json = json.loads(routed.output)
    assert as_json["chain"] == ["supervisor", "manager", "director", "account_manager"]
    assert as_json["tier"] == "vip" and as_json["policy_version_id"] == 1

    mismatch = runner.invoke(
        app, ["policy", "route", "10", "--customer", "METRO", "--tier", "standard"]
    )
    assert mismatch.exit_code == 2 and "METRO is vip" in mismatch.output
    assert runner.invoke(app, ["policy", "route", "lots", "--tier", "vip"]).exit_code == 2
    negative = runner.invoke(app, ["policy", "route", "--tier", "vip", "--", "-5"])
    assert negative.exit_code == 2 and "not an amount" in negative.output
    unknown = runner.invoke(app, ["policy", "route", "10", "--customer", "NOPE"])
    assert unknown.exit_code == 1 and "customer NOPE does not exist" in unknown.output

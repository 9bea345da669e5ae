"""``allotment demo``: the single entry point sets up a world once and reuses it after."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli import demo as demo_cli
from allotment.cli.main import app
from allotment.domain.models import Backorder, SimWorld
from allotment.modeling import registry

runner = CliRunner()


def test_demo_generates_once_then_reuses(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_cli, "DEMO_SCALE", "tiny")  # `small` is the real demo; tiny is fast
    # Models are covered below, on the embedded default the demo runs on.
    model_checks: list[object] = []
    monkeypatch.setattr(demo_cli, "ensure_champions", lambda *args: model_checks.append(args))
    first = runner.invoke(app, ["demo", "--seed", "3"])
    assert first.exit_code == 0, first.output
    assert "generating the 'tiny' world (seed 3)" in first.output
    assert "oracle AUC" in first.output
    world = session.scalars(select(SimWorld)).one()
    assert (world.scale, world.seed) == ("tiny", 3)
    n_backorders = session.scalar(select(func.count()).select_from(Backorder))
    assert n_backorders
    session.commit()

    second = runner.invoke(app, ["demo", "--seed", "3"])
    assert second.exit_code == 0, second.output
    assert "world already present: scale 'tiny', seed 3" in second.output
    assert session.scalar(select(func.count()).select_from(Backorder)) == n_backorders
    assert len(model_checks) == 2, "every demo run makes sure the risk models are there"


def test_demo_trains_champions_once_then_reuses_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_cli, "DEMO_SCALE", "tiny")
    first = runner.invoke(app, ["demo", "--seed", "3"])
    assert first.exit_code == 0, first.output
    # tiny's 120 days train supplier delay and SLA breach; churn has no window to mature in.
    assert "supplier_delay: no champion" in first.output and "→ training" in first.output
    assert "churn: not trained" in first.output
    trained = {r.name: r for r in registry.list_models()}
    assert set(trained) == {"allotment-supplier-delay", "allotment-sla-breach"}
    # tiny's models are too weak for the gate; a data scientist forces one to champion.
    assert not any("champion" in row.aliases for row in trained.values())
    assert "no champion — its risk is left out of priorities" in first.output
    registry.promote("allotment-sla-breach", 1, actor="t", force=True, reason="test")

    second = runner.invoke(app, ["demo", "--seed", "3"])
    assert second.exit_code == 0, second.output
    assert "sla_breach: reusing champion allotment-sla-breach v1" in second.output
    versions = {(r.name, r.version) for r in registry.list_models()}
    # The champion is reused (no v2); the task without one is trained again.
    assert ("allotment-sla-breach", 2) not in versions
    assert ("allotment-supplier-delay", 2) in versions

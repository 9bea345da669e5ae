"""``allotment demo``: the single entry point sets up a world once and reuses it after."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli import demo as demo_cli
from allotment.cli import serve as serve_cli
from allotment.cli.main import app
from allotment.config import get_settings
from allotment.domain.lifecycle import ACTIVE_STATUSES
from allotment.domain.models import Backorder, Recommendation, ScoreSnapshot, SimWorld, User
from allotment.modeling import registry
from allotment.users.roles import Role

runner = CliRunner()


def test_demo_generates_once_then_reuses(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_cli, "DEMO_SCALE", "tiny")  # `medium` is the real demo; tiny is fast
    # Models are covered below, on the embedded default the demo runs on.
    model_checks: list[object] = []
    monkeypatch.setattr(demo_cli, "ensure_champions", lambda *args: model_checks.append(args))
    first = runner.invoke(app, ["demo", "--seed", "3", "--no-serve"])
    assert first.exit_code == 0, first.output
    assert "generating the 'tiny' world (seed 3)" in first.output
    assert "oracle AUC" in first.output
    world = session.scalars(select(SimWorld)).one()
    assert (world.scale, world.seed) == ("tiny", 3)
    n_backorders = session.scalar(select(func.count()).select_from(Backorder))
    assert n_backorders
    session.commit()

    second = runner.invoke(app, ["demo", "--seed", "3", "--no-serve"])
    assert second.exit_code == 0, second.output
    assert "world already present: scale 'tiny', seed 3" in second.output
    assert session.scalar(select(func.count()).select_from(Backorder)) == n_backorders
    assert len(model_checks) == 2, "every demo run makes sure the risk models are there"
    # Without champions the backlog is still prioritised, on the rule terms, and says so.
    assert "priorities" in second.output and "degraded" in second.output
    active = select(func.count()).where(Backorder.status.in_(ACTIVE_STATUSES))
    open_backorders = session.scalar(active.select_from(Backorder))
    assert open_backorders  # every run scores every open backorder
    assert session.scalar(select(func.count()).select_from(ScoreSnapshot)) == 2 * open_backorders
    # Actions wait to be submitted, so the dashboard has a next action and a decision to offer;
    # a second run supersedes the first run's proposals instead of piling them up.
    proposed = select(func.count()).where(Recommendation.status == "proposed")
    assert session.scalar(proposed.select_from(Recommendation))
    superseded = select(func.count()).where(Recommendation.status == "superseded")
    assert session.scalar(superseded.select_from(Recommendation))
    assert "recommended action(s)" in second.output
    # One demo user per role, created once; their passwords are printed and kept in a file.
    users = json.loads((get_settings().data_dir / "demo-users.json").read_text())
    assert len(users) == len(Role) and "demo-planner" in users
    assert session.scalar(select(func.count()).select_from(User)) == len(Role)
    assert users["demo-planner"] in second.output


def test_demo_ends_by_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_cli, "DEMO_SCALE", "tiny")
    monkeypatch.setattr(demo_cli, "ensure_champions", lambda *args: {})
    served: list[dict[str, object]] = []
    monkeypatch.setattr(serve_cli, "serve", lambda **kwargs: served.append(kwargs))
    result = runner.invoke(app, ["demo", "--seed", "3", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert served == [{"host": "127.0.0.1", "port": 8123, "workers": 1}]
    assert "http://127.0.0.1:8123/docs" in result.output
    assert "Dashboard: http://127.0.0.1:8123/ " in result.output


def test_demo_trains_champions_once_then_reuses_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_cli, "DEMO_SCALE", "tiny")
    first = runner.invoke(app, ["demo", "--seed", "3", "--no-serve"])
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

    second = runner.invoke(app, ["demo", "--seed", "3", "--no-serve"])
    assert second.exit_code == 0, second.output
    assert "sla_breach: reusing champion allotment-sla-breach v1" in second.output
    versions = {(r.name, r.version) for r in registry.list_models()}
    # The champion is reused (no v2); the task without one is trained again.
    assert ("allotment-sla-breach", 2) not in versions
    assert ("allotment-supplier-delay", 2) in versions

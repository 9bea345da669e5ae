"""``allotment demo``: the single entry point sets up a world once and reuses it after."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli import demo as demo_cli
from allotment.cli.main import app
from allotment.domain.models import Backorder, SimWorld

runner = CliRunner()


def test_demo_generates_once_then_reuses(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_cli, "DEMO_SCALE", "tiny")  # `small` is the real demo; tiny is fast
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

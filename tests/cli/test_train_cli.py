"""``allotment train`` end to end on the tiny world: frames, training, MLflow, gate, summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.config import get_settings
from allotment.db import migrate
from allotment.db.engine import make_engine
from allotment.world.generate import generate

runner = CliRunner()


@pytest.fixture
def tiny_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny world in the default embedded database, and a private MLflow store."""
    monkeypatch.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    get_settings.cache_clear()
    engine = make_engine()
    migrate.upgrade(engine)
    generate(engine, scale="tiny", seed=3)
    engine.dispose()
    return tmp_path


def test_train_logs_registers_and_reports(tiny_world: Path) -> None:
    result = runner.invoke(app, ["train", "--task", "supplier_delay", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["failed"] == {}
    (run,) = payload["trained"]
    assert run["task"] == "supplier_delay"
    assert run["model_name"] == "allotment-supplier-delay" and run["version"] == 1
    assert 0.5 < run["metrics"]["auc"] <= 1
    assert run["metrics"]["oracle_auc"] is not None
    assert set(run["baselines"]) == {"base_rate", "logistic"}
    assert run["gate"], "the gate's reasons are reported whether or not it promoted"

    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["version"]) for r in rows] == [("allotment-supplier-delay", 1)]
    assert (tiny_world / "mlflow.db").exists()


def test_a_task_without_enough_history_fails_clearly_without_stopping_others(
    tiny_world: Path,
) -> None:
    """tiny's 120 days leave churn no training window once outcomes must have matured."""
    result = runner.invoke(app, ["train", "--task", "all", "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert {r["task"] for r in payload["trained"]} == {"supplier_delay", "sla_breach"}
    assert "churn" in payload["failed"] and "split" in payload["failed"]["churn"]
    assert "Traceback" not in result.output


def test_config_needs_a_single_task(tiny_world: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: churn\n")
    result = runner.invoke(app, ["train", "--config", str(cfg)])
    assert result.exit_code == 2
    assert "one task" in result.output


def test_training_on_an_empty_database_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    get_settings.cache_clear()
    result = runner.invoke(app, ["train", "--task", "supplier_delay"])
    assert result.exit_code == 1
    assert "no dated facts to build features from" in result.output
    assert "Traceback" not in result.output

"""``allotment models list|promote|rollback`` through the CLI, with exit codes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import lightgbm as lgb
import pytest
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.config import get_settings
from allotment.features.frame import Task
from allotment.modeling import registry
from tests.modeling.test_registry import FEATURES, GOOD, WINDOW, make_frame

runner = CliRunner()


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow-cli') / 'mlflow.db'}"


@pytest.fixture(autouse=True)
def _mlflow_store(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", store_uri)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def name() -> str:
    """A registered model with three versions: v1 good, v2 much worse, v3 better."""
    model_name = f"cli-{uuid.uuid4().hex[:8]}"
    X, y = make_frame(200, seed=3)
    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=5, verbose=-1, n_jobs=1).fit(X, y)
    for auc in (0.80, 0.70, 0.82):
        registry.log_training_run(
            model,
            task=Task.CHURN,
            name=model_name,
            features=FEATURES,
            X_test=X,
            y_test=y,
            params={},
            metrics={**GOOD, "roc_auc": auc},
            data_hash=registry.frame_hash(X),
            test_window=WINDOW,
        )
    return model_name


def test_promote_list_refuse_force_and_rollback(name: str) -> None:
    ok = runner.invoke(app, ["models", "promote", name, "1", "--actor", "test:ann"])
    assert ok.exit_code == 0, ok.output
    assert "pass: first version" in ok.output
    assert f"{name} v1 is champion (first champion)" in ok.output

    refused = runner.invoke(app, ["models", "promote", name, "2"])
    assert refused.exit_code == 1
    assert "fail: AUC 0.7000 vs champion v1 0.8000" in refused.output
    assert f"error: gate refused {name} v2" in refused.output

    no_reason = runner.invoke(app, ["models", "promote", name, "2", "--force"])
    assert no_reason.exit_code == 1
    assert "needs a reason" in no_reason.output

    forced = runner.invoke(
        app, ["models", "promote", name, "2", "--force", "--reason", "drill", "--json"]
    )
    assert forced.exit_code == 0, forced.output
    payload = json.loads(forced.output)
    assert payload["forced"] is True and payload["previous_champion"] == 1

    listed = runner.invoke(app, ["models", "list", name, "--json"])
    assert listed.exit_code == 0
    rows = {r["version"]: r for r in json.loads(listed.output)}
    assert rows[2]["aliases"] == ["champion"]
    assert rows[1]["aliases"] == ["previous-champion"]
    assert rows[3]["auc"] == 0.82 and rows[3]["ece"] == 0.01
    assert rows[1]["oracle_auc"] == 0.84

    back = runner.invoke(app, ["models", "rollback", name, "--reason", "drill over"])
    assert back.exit_code == 0, back.output
    assert f"{name}: champion v2 -> v1" in back.output

    better = runner.invoke(app, ["models", "promote", name, "3"])
    assert better.exit_code == 0, better.output
    assert "(was v1)" in better.output


def test_list_table(name: str) -> None:
    runner.invoke(app, ["models", "promote", name, "1"])
    result = runner.invoke(app, ["models", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in (name, "champion", "0.8000", "0.8400", "0.9524", "0.0100", "oracle AUC", "ratio"):
        assert text in result.output


def test_promote_json_refusal_lists_reasons(name: str) -> None:
    runner.invoke(app, ["models", "promote", name, "1"])
    result = runner.invoke(app, ["models", "promote", name, "2", "--json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["promoted"] is False
    assert any(r.startswith("fail: AUC") for r in payload["reasons"])


def test_errors_are_one_line_with_exit_1(name: str) -> None:
    missing = runner.invoke(app, ["models", "promote", name, "9"])
    assert missing.exit_code == 1
    assert f"error: model {name} has no version 9" in missing.output
    no_champion = runner.invoke(app, ["models", "rollback", name])
    assert no_champion.exit_code == 1
    assert "has no champion" in no_champion.output
    unknown = runner.invoke(app, ["models", "list", "nope", "--json"])
    assert unknown.exit_code == 1
    assert "Traceback" not in unknown.output


def test_list_on_an_empty_store(tmp_path_factory: pytest.TempPathFactory) -> None:
    uri = f"sqlite:///{tmp_path_factory.mktemp('empty') / 'mlflow.db'}"
    result = runner.invoke(
        app, ["models", "list", "--json"], env={"ALLOTMENT_MLFLOW_TRACKING_URI": uri}
    )
    get_settings.cache_clear()
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_gate_thresholds_from_the_command_line(name: str) -> None:
    runner.invoke(app, ["models", "promote", name, "1"])
    lenient = runner.invoke(app, ["models", "promote", name, "2", "--max-auc-drop", "0.1"])
    assert lenient.exit_code == 0, lenient.output
    assert "allowed 0.1" in lenient.output
    strict = runner.invoke(app, ["models", "promote", name, "3", "--ece-ceiling", "0.005"])
    assert strict.exit_code == 1
    assert "fail: ECE 0.0100 > ceiling 0.005" in strict.output
    bad = runner.invoke(app, ["models", "promote", name, "3", "--ece-ceiling", "2"])
    assert bad.exit_code == 2

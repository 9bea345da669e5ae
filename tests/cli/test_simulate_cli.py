"""``allotment simulate``: the JSON shape and a clear error for an unknown policy."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from allotment.cli.main import app

runner = CliRunner()


def test_json_has_every_metric_with_its_interval_per_policy_and_the_goal() -> None:
    result = runner.invoke(
        app,
        ["simulate", "--scale", "tiny", "--seeds", "2", "--days", "5", "--json"],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["seeds"] == [1, 2] and payload["days"] == 5 and payload["scale"] == "tiny"
    assert list(payload["policies"]) == ["fcfs", "static-tier", "blend"]
    for body in payload["policies"].values():
        for name in ("penalties", "cancellations", "churn", "total", "fill_rate"):
            assert set(body["metrics"][name]) == {"mean", "low", "high"}
        assert {"days_waiting", "vip_days_waiting"} <= set(body["metrics"])
        assert set(body["approvals"]) == {
            "auto",
            "supervisor",
            "manager",
            "director",
            "account_manager",
        }
        assert len(body["per_seed"]) == 2
    pairs = [(c["policy"], c["baseline"]) for c in payload["comparisons"]]
    assert pairs == [("blend", "static-tier"), ("static-tier", "fcfs")]
    assert payload["goal"]["target_reduction"] == 0.2
    assert isinstance(payload["goal"]["met"], bool)


def test_an_unknown_policy_is_one_clear_line_and_a_non_zero_exit() -> None:
    result = runner.invoke(app, ["simulate", "--scale", "tiny", "--policy", "fcfs,nope"])
    assert result.exit_code == 1
    assert "unknown simulation policy 'nope'" in result.output
    assert "Traceback" not in result.output

"""``allotment simulate``: the JSON shape and a clear error for an unknown policy."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from allotment.cli import demo as demo_cli
from allotment.cli.main import app
from allotment.domain.models import Customer
from allotment.world.scales import get_scale

runner = CliRunner()


def test_json_has_every_metric_with_its_interval_per_policy_and_the_goal() -> None:
    result = runner.invoke(
        app,
        [
            "simulate",
            "--scale",
            "tiny",
            "--seeds",
            "2",
            "--days",
            "5",
            "--policy",
            "fcfs,static-tier,oracle-blend",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["seeds"] == [1, 2] and payload["days"] == 5 and payload["scale"] == "tiny"
    assert list(payload["policies"]) == ["fcfs", "static-tier", "oracle-blend"]
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
    assert pairs == [("static-tier", "fcfs"), ("oracle-blend", "static-tier")]
    assert payload["goal"]["target_reduction"] == 0.2
    assert payload["goal"]["met"] is None  # the goal is about blend, which did not run


def test_an_unknown_policy_is_one_clear_line_and_a_non_zero_exit() -> None:
    result = runner.invoke(app, ["simulate", "--scale", "tiny", "--policy", "fcfs,nope"])
    assert result.exit_code == 1
    assert "unknown simulation policy 'nope'" in result.output
    assert "Traceback" not in result.output


def test_blend_without_champions_and_no_training_is_one_clear_line() -> None:
    result = runner.invoke(app, ["simulate", "--scale", "tiny", "--policy", "blend", "--no-train"])
    assert result.exit_code == 1
    assert "has no champion that fits our features" in result.output
    assert "Traceback" not in result.output


def test_blend_without_champions_trains_on_the_first_seeds_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, str]] = []

    def fake_training(engine: Engine, console: object, *, actor: str) -> dict[str, int | None]:
        with engine.connect() as conn:  # the seed's history, as `allotment generate` writes it
            calls.append((conn.execute(select(func.count()).select_from(Customer)).one()[0], actor))
        return {}  # trained nothing that passed the gate

    monkeypatch.setattr(demo_cli, "ensure_champions", fake_training)
    result = runner.invoke(
        app, ["simulate", "--scale", "tiny", "--policy", "blend", "--first-seed", "4"]
    )
    assert "training them on the tiny world of seed 4" in result.output
    assert calls == [(get_scale("tiny").n_customers, "simulate")]
    # Nothing passed the gate: still no champion, so blend is refused in one line.
    assert result.exit_code == 1 and "has no champion" in result.output


def _run(*args: str) -> dict[str, object]:
    result = runner.invoke(
        app, ["simulate", "--scale", "tiny", "--seeds", "1", "--days", "10", *args, "--json"]
    )
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def test_policies_spend_the_world_planners_budget_and_pay_for_it() -> None:
    mine = _run("--policy", "fcfs,static-tier")
    world = _run("--policy", "static-tier", "--actions", "world")
    assert mine["actions"] == "policy" and world["actions"] == "world"
    assert world["budgets"] == {}
    budget = mine["budgets"]["1"]  # type: ignore[index]
    reference = world["policies"]["static-tier"]["per_seed"][0]  # type: ignore[index]
    assert budget == reference["spot_buys"] > 0
    for body in mine["policies"].values():  # type: ignore[attr-defined]
        seed = body["per_seed"][0]
        assert seed["spot_buys"] + seed["actions_unused"] == budget
        assert seed["action_cost"] > 0
        assert seed["total"] == pytest.approx(
            seed["penalties"] + seed["cancellations"] + seed["churn"] + seed["action_cost"]
        )


def test_an_unknown_actions_mode_is_one_clear_line() -> None:
    result = runner.invoke(app, ["simulate", "--scale", "tiny", "--actions", "nobody"])
    assert result.exit_code != 0
    assert "unknown --actions 'nobody'" in result.output
    assert "Traceback" not in result.output


def test_first_seed_chooses_where_the_seeds_start() -> None:
    default = _run("--policy", "fcfs")
    later = _run("--policy", "fcfs", "--first-seed", "3")
    assert default["seeds"] == [1] and later["seeds"] == [3]
    assert list(later["budgets"]) == ["3"]  # type: ignore[call-overload]
    # Another seed is another world: the same policy loses a different amount.
    totals = [p["policies"]["fcfs"]["per_seed"][0]["total"] for p in (default, later)]  # type: ignore[index]
    assert totals[0] != totals[1]

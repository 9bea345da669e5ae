"""``allotment score`` and ``allotment explain`` on the tiny world with tiny champions."""

from __future__ import annotations

import json

from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.db.engine import make_sessionmaker
from allotment.domain.models import ACTIVE_BACKORDER_STATUSES, Backorder
from allotment.policy import service as policy_service
from allotment.policy.schema import Blend, BlendWeights, Policy
from tests.scoring.conftest import tiny_champions, tiny_world  # noqa: F401 (fixtures)

runner = CliRunner()


def _activate_without_churn(engine: Engine) -> None:
    """tiny has no churn champion: a policy that does not weigh churn scores undegraded."""
    policy = Policy(
        name="no-churn",
        blend=Blend(weights=BlendWeights(sla=1, churn=0, delay=1, value=0.1, margin=0, age=1)),
    )
    with make_sessionmaker(engine)() as session:
        policy_service.activate(session, document=policy, actor="test", role="admin", reason="test")
        session.commit()


def test_score_then_explain_one_and_two(tiny_world: Engine) -> None:  # noqa: F811
    _activate_without_churn(tiny_world)
    with make_sessionmaker(tiny_world)() as session:
        active = session.scalar(
            select(func.count())
            .select_from(Backorder)
            .where(Backorder.status.in_(ACTIVE_BACKORDER_STATUSES))
        )
    result = runner.invoke(app, ["score", "--json", "--explain-top", "3"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert active is not None
    assert run["scored"] == active and run["degraded"] == 0
    assert run["policy_name"] == "no-churn"
    top = run["top"]
    assert len(top) == min(10, active)
    a, b = top[0]["backorder_id"], top[1]["backorder_id"]

    shown = runner.invoke(app, ["score"])
    assert shown.exit_code == 0, shown.output
    assert "top 10" in shown.stdout and "scored" in shown.stdout

    one = runner.invoke(app, ["explain", str(a), "--json"])
    assert one.exit_code == 0, one.output
    ex = json.loads(one.stdout)
    total = sum(c["usd"] for c in ex["components"])
    assert abs(total - ex["priority"]) <= 1e-6 * max(1.0, ex["priority"])
    assert "TreeSHAP" in ex["method"]

    plain = runner.invoke(app, ["explain", str(a)])
    assert plain.exit_code == 0, plain.output
    assert "priority" in plain.stdout and "Baseline" in plain.stdout

    text = runner.invoke(app, ["explain", str(a), "--vs", str(b)])
    assert text.exit_code == 0, text.output
    assert "ranks above" in text.stdout and "largest feature differences" in text.stdout


def test_bad_input_is_a_clear_error_not_a_traceback(tiny_world: Engine) -> None:  # noqa: F811
    bad = runner.invoke(app, ["score", "--ids", "1,x"])
    assert bad.exit_code == 2 and "comma-separated" in bad.output

    with make_sessionmaker(tiny_world)() as session:
        bo_id = session.scalars(select(Backorder.id).limit(1)).one()
    unscored = runner.invoke(app, ["explain", str(bo_id)])
    assert unscored.exit_code == 1
    assert "has not been scored yet" in unscored.output and "Traceback" not in unscored.output
    missing = runner.invoke(app, ["explain", "99999999"])
    assert missing.exit_code == 1 and "does not exist" in missing.output

"""``GET /backorders/{id}/explain[?vs=]`` and the model champion routes."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from allotment.db.engine import session_scope
from allotment.domain.models import Backorder, ExplanationCache
from allotment.policy import service as policy_service
from allotment.policy.schema import Blend, BlendWeights, Policy
from allotment.scoring.service import score as score_backlog
from allotment.users import service as users
from allotment.users.roles import Role
from tests.api.conftest import assert_error, score
from tests.insights.helpers import at, backorder
from tests.scoring.conftest import tiny_champions, tiny_world  # noqa: F401 (fixtures)

URL = "/api/v1/backorders"


@pytest.fixture
def scored(session: Session) -> tuple[Backorder, Backorder, Backorder]:
    """a scored 300 (SLA 225 + value 75), b scored 100 (75 + 25), c never scored."""
    policy_service.active_policy(session)
    a, b, c = (backorder(session, created=at(date(2025, 2, 1))) for _ in range(3))
    score(session, a.id, priority=300.0)
    score(session, b.id, priority=100.0)
    session.commit()
    return a, b, c


def test_explain_splits_the_priority_into_components_that_add_up(
    client: TestClient, headers: dict[str, str], scored: tuple[Backorder, ...]
) -> None:
    a = scored[0]
    got = client.get(f"{URL}/{a.id}/explain", headers=headers)
    assert got.status_code == 200, got.text
    body = got.json()
    ex = body["backorder"]
    assert ex["priority"] == 300.0
    assert sum(c["usd"] for c in ex["components"]) == pytest.approx(300.0)
    assert {c["name"]: c["usd"] for c in ex["components"]}["sla"] == 225.0
    assert body["vs"] is None and body["method"]


def test_explain_vs_gives_the_differences(
    client: TestClient, headers: dict[str, str], scored: tuple[Backorder, ...]
) -> None:
    a, b, _ = scored
    body = client.get(f"{URL}/{a.id}/explain", params={"vs": b.id}, headers=headers).json()
    assert body["difference"] == 200.0
    assert body["component_differences"]["sla"] == 150.0
    assert body["vs"]["backorder_id"] == b.id


def test_unknown_or_unscored_backorders_are_404s_naming_which(
    client: TestClient, headers: dict[str, str], scored: tuple[Backorder, ...]
) -> None:
    a, _, c = scored
    assert_error(
        client.get(f"{URL}/999/explain", headers=headers).json(), "NotFoundError", "backorder_id"
    )
    vs = client.get(f"{URL}/{a.id}/explain", params={"vs": 999}, headers=headers)
    assert_error(vs.json(), "NotFoundError", "vs")
    unscored = client.get(f"{URL}/{c.id}/explain", headers=headers)
    assert unscored.status_code == 404
    assert_error(unscored.json(), "ScoreSnapshotMissingError")


def test_champions_list_every_risk_model_even_without_one(
    client: TestClient, headers: dict[str, str]
) -> None:
    got = client.get("/api/v1/models/champions", headers=headers)
    assert got.status_code == 200, got.text
    assert {(c["task"], c["champion"]) for c in got.json()} == {
        ("supplier_delay", None),
        ("sla_breach", None),
        ("churn", None),
    }
    missing = client.get("/api/v1/models/allotment-churn", headers=headers)
    assert_error(missing.json(), "NotFoundError", "name")


@pytest.mark.usefixtures("tiny_world")
def test_a_first_explanation_is_computed_stored_and_then_read_from_the_cache(
    engine: Engine, client: TestClient
) -> None:
    """A cache miss in a GET stores the attributions in a transaction of its own: on SQLite a
    read transaction that wrote would fail once another writer committed (here: the API key's
    first use, recorded while the request runs)."""
    # The tiny champions predict SLA breach and supplier delay (no churn model).
    no_churn = Policy(
        name="no-churn",
        blend=Blend(weights=BlendWeights(sla=1, churn=0, delay=1, value=0.1, margin=0, age=1)),
    )
    with session_scope(engine) as session:
        policy_service.activate(
            session, document=no_churn, actor="test", role="admin", reason="test"
        )
        result = score_backlog(session, explain_top=0)
        users.create_user(session, name="machine", role=Role.PLANNER, password=None)
        key = users.issue_api_key(session, name="machine").secret
    top = result.top[0].backorder_id

    def cached() -> int:
        with session_scope(engine) as session:
            return int(session.scalar(select(func.count()).select_from(ExplanationCache)) or 0)

    assert cached() == 0
    first = client.get(f"{URL}/{top}/explain", headers={"X-API-Key": key})
    assert first.status_code == 200, first.text
    parts = [c for c in first.json()["backorder"]["components"] if c["parts"]]
    assert parts, "the SLA or delay component is split into feature parts"
    stored = cached()
    assert stored > 0
    again = client.get(f"{URL}/{top}/explain", headers={"X-API-Key": key})
    assert again.json() == first.json()
    assert cached() == stored

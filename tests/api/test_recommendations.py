"""Recommendations and approvals through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from allotment.domain.enums import BackorderStatus, Tier
from allotment.domain.models import Backorder, Recommendation, User
from allotment.users.roles import Role
from tests import factories
from tests.api.conftest import assert_error, bearer
from tests.api.test_robustness import _ok, fuzz, json_values, scalars
from tests.workflow.helpers import recommendation

BASE = "/api/v1/recommendations"


class Team:
    """One user per role, with their bearer headers."""

    def __init__(self, app: FastAPI, session: Session) -> None:
        self.app = app
        self.users: dict[Role, User] = {r: factories.user(session, role=r) for r in Role}
        session.commit()

    def __call__(self, role: Role) -> dict[str, str]:
        return bearer(self.app, self.users[role])


@pytest.fixture
def team(app: FastAPI, session: Session) -> Team:
    return Team(app, session)


def _new(session: Session, amount: str = "5000.00", **kwargs: Any) -> int:
    rec = recommendation(session, amount=amount, **kwargs)
    session.commit()
    return rec.id


def _submit(client: TestClient, team: Team, rec_id: int) -> dict[str, Any]:
    got = client.post(f"{BASE}/{rec_id}/submit", json={}, headers=team(Role.PLANNER))
    assert got.status_code == 200, got.json()
    body: dict[str, Any] = got.json()
    return body


def _decide(
    client: TestClient, headers: dict[str, str], rec_id: int, decision: str = "approve", **kw: Any
) -> Any:
    return client.post(
        f"{BASE}/{rec_id}/decisions",
        json={"decision": decision, "reason": kw.pop("reason", "ok"), **kw},
        headers=headers,
    )


S, M, D, AM = "supervisor", "manager", "director", "account_manager"


@pytest.mark.parametrize(
    ("amount", "chain"),
    [
        ("999.99", []),
        ("1000.00", [S]),
        ("1000.01", [S]),
        ("9999.99", [S]),
        ("10000.00", [S, M]),
        ("10000.01", [S, M]),
        ("50000.00", [S, M]),
        ("50000.01", [S, M, D]),
        ("50000.02", [S, M, D]),
    ],
)
def test_routing_at_every_threshold(
    client: TestClient, team: Team, session: Session, amount: str, chain: list[str]
) -> None:
    body = _submit(client, team, _new(session, amount))
    assert body["route"]["chain"] == chain
    assert body["routed_amount"] == amount
    assert body["status"] == ("approved" if not chain else "pending_approval")


@pytest.mark.parametrize(
    ("amount", "chain"),
    [("999.99", [AM]), ("1000.00", [S, AM]), ("10000.00", [S, M, AM]), ("50000.01", [S, M, D, AM])],
)
def test_a_vip_customer_adds_the_account_manager(
    client: TestClient, team: Team, session: Session, amount: str, chain: list[str]
) -> None:
    body = _submit(client, team, _new(session, amount, tier=Tier.VIP))
    assert body["route"]["chain"] == chain


def test_an_automatic_approval_is_a_notification_only_record(
    client: TestClient, team: Team, session: Session
) -> None:
    body = _submit(client, team, _new(session, "999.99"))
    (decision,) = body["decisions"]
    assert (decision["decision"], decision["decided_by"]) == ("auto_approve", "system")
    assert body["route"]["notify"] == ["planner"]


def test_the_detail_says_why_there_is_no_explanation(
    client: TestClient, team: Team, session: Session
) -> None:
    body = _submit(client, team, _new(session))
    assert body["backorder_explanation"] is None
    assert "has not been scored" in body["explanation_problem"]


def test_a_chain_is_decided_step_by_step_through_the_inbox(
    client: TestClient, team: Team, session: Session
) -> None:
    rec_id = _new(session, "12500.00")
    _submit(client, team, rec_id)
    inbox = client.get("/api/v1/approvals/inbox", headers=team(Role.SUPERVISOR)).json()
    assert [(i["recommendation"]["id"], i["role"]) for i in inbox] == [(rec_id, S)]
    assert client.get("/api/v1/approvals/inbox", headers=team(Role.MANAGER)).json() == []
    assert _decide(client, team(Role.SUPERVISOR), rec_id).status_code == 200
    inbox = client.get("/api/v1/approvals/inbox", headers=team(Role.MANAGER)).json()
    assert [i["recommendation"]["id"] for i in inbox] == [rec_id]
    body = _decide(client, team(Role.MANAGER), rec_id).json()
    assert body["status"] == "approved"
    assert [(s["role"], s["state"]) for s in body["steps"]] == [(S, "approved"), (M, "approved")]


def test_the_inbox_shows_each_role_only_its_waiting_step(
    client: TestClient, team: Team, session: Session
) -> None:
    vip = _new(session, "1000.00", tier=Tier.VIP)
    plain = _new(session, "20000.00")
    _submit(client, team, vip)
    _submit(client, team, plain)

    def ids(role: Role) -> list[int]:
        got = client.get("/api/v1/approvals/inbox", headers=team(role)).json()
        return [i["recommendation"]["id"] for i in got]

    assert ids(Role.SUPERVISOR) == [vip, plain]
    assert ids(Role.ACCOUNT_MANAGER) == [] and ids(Role.MANAGER) == []
    _decide(client, team(Role.SUPERVISOR), vip)
    _decide(client, team(Role.SUPERVISOR), plain)
    assert ids(Role.ACCOUNT_MANAGER) == [vip]
    assert ids(Role.MANAGER) == [plain]
    assert ids(Role.SUPERVISOR) == []


def test_the_inbox_is_refused_to_roles_that_decide_nothing(client: TestClient, team: Team) -> None:
    got = client.get("/api/v1/approvals/inbox", headers=team(Role.PLANNER))
    assert got.status_code == 403
    assert_error(got.json(), "PermissionDeniedError")


def test_a_supervisor_cannot_approve_what_they_submitted(
    client: TestClient, team: Team, session: Session
) -> None:
    rec_id = _new(session)
    client.post(f"{BASE}/{rec_id}/submit", json={}, headers=team(Role.SUPERVISOR))
    got = _decide(client, team(Role.SUPERVISOR), rec_id)
    assert got.status_code == 403
    assert_error(got.json(), "ApprovalSelfDecisionError")


def test_one_person_cannot_fill_two_steps_through_the_api(
    client: TestClient, team: Team, session: Session, app: FastAPI
) -> None:
    rec_id = _new(session, "12500.00")
    _submit(client, team, rec_id)
    _decide(client, team(Role.SUPERVISOR), rec_id)
    sue = team.users[Role.SUPERVISOR]
    sue.role = Role.MANAGER  # promoted: a new token carries the new role
    session.commit()
    got = _decide(client, bearer(app, sue), rec_id)
    assert got.status_code == 403
    assert_error(got.json(), "ApprovalSecondStepError")


def test_a_later_step_waits_for_the_earlier_one(
    client: TestClient, team: Team, session: Session
) -> None:
    rec_id = _new(session, "12500.00")
    _submit(client, team, rec_id)
    got = _decide(client, team(Role.MANAGER), rec_id)
    assert got.status_code == 409
    assert_error(got.json(), "ApprovalOrderError", "recommendation_id")


def test_a_role_outside_the_chain_is_refused(
    client: TestClient, team: Team, session: Session
) -> None:
    rec_id = _new(session)
    _submit(client, team, rec_id)
    got = _decide(client, team(Role.DIRECTOR), rec_id)
    assert got.status_code == 403
    assert_error(got.json(), "ApprovalRoleMismatchError")


@pytest.mark.parametrize(
    ("decision", "extra", "status"),
    [
        ("approve", {}, "approved"),
        ("approve_with_conditions", {"conditions": "air freight only"}, "approved"),
        ("reject", {}, "rejected"),
        ("request_alternative", {}, "proposed"),
    ],
)
def test_each_decision_kind(
    client: TestClient,
    team: Team,
    session: Session,
    decision: str,
    extra: dict[str, str],
    status: str,
) -> None:
    rec_id = _new(session)
    _submit(client, team, rec_id)
    got = _decide(client, team(Role.SUPERVISOR), rec_id, decision, reason="because", **extra)
    assert got.status_code == 200, got.json()
    body = got.json()
    assert body["status"] == status
    assert body["decisions"][-1]["decision"] == decision
    assert body["decisions"][-1]["reason"] == "because"
    assert body["conditions"] == ([extra["conditions"]] if extra else [])


def test_a_decision_without_a_reason_is_refused(
    client: TestClient, team: Team, session: Session
) -> None:
    rec_id = _new(session)
    _submit(client, team, rec_id)
    got = client.post(
        f"{BASE}/{rec_id}/decisions", json={"decision": "approve"}, headers=team(Role.SUPERVISOR)
    )
    assert got.status_code == 422
    assert_error(got.json(), "RequestValidationError", "reason")


def test_approve_with_conditions_without_conditions_is_refused(
    client: TestClient, team: Team, session: Session
) -> None:
    rec_id = _new(session)
    _submit(client, team, rec_id)
    got = _decide(client, team(Role.SUPERVISOR), rec_id, "approve_with_conditions")
    assert got.status_code == 422
    assert_error(got.json(), "ApprovalDecisionInvalidError", "conditions")


@pytest.mark.parametrize("owned", ["status", "approvals", "amount"])
def test_server_owned_fields_cannot_be_set(
    client: TestClient, team: Team, session: Session, owned: str
) -> None:
    rec_id = _new(session)
    _submit(client, team, rec_id)
    got = client.patch(
        f"{BASE}/{rec_id}",
        json={"units": 5, "reason": "x", owned: "approved"},
        headers=team(Role.PLANNER),
    )
    assert got.status_code == 422
    assert_error(got.json(), "RequestValidationError", owned)
    assert "set by the server" in got.json()["detail"]


def test_unknown_fields_are_refused(client: TestClient, team: Team, session: Session) -> None:
    rec_id = _new(session)
    got = client.post(f"{BASE}/{rec_id}/submit", json={"urgent": True}, headers=team(Role.PLANNER))
    assert got.status_code == 422
    assert_error(got.json(), "RequestValidationError", "urgent")


def test_a_change_voids_the_approvals_and_sends_it_back_to_pending(
    client: TestClient, team: Team, session: Session
) -> None:
    rec_id = _new(session)
    _submit(client, team, rec_id)
    _decide(client, team(Role.SUPERVISOR), rec_id)
    got = client.patch(
        f"{BASE}/{rec_id}", json={"units": 4, "reason": "fewer"}, headers=team(Role.PLANNER)
    )
    assert got.status_code == 200, got.json()
    body = got.json()
    assert (body["status"], body["units"], body["amount"]) == ("pending_approval", 4, "2000.00")
    assert [d["voided"] for d in body["decisions"]] == [True]
    assert [s["state"] for s in body["steps"]] == ["waiting"]


def test_executing_an_approved_ship_partial_moves_the_backorder(
    client: TestClient, team: Team, session: Session
) -> None:
    rec_id = _new(session, "800.00", kind="ship_partial", units=3)
    _submit(client, team, rec_id)
    got = client.post(f"{BASE}/{rec_id}/execute", json={"reason": "go"}, headers=team(Role.PLANNER))
    assert got.status_code == 200, got.json()
    body = got.json()
    assert body["backorder_status_after"] == BackorderStatus.PARTIALLY_RESOLVED.value
    assert body["recommendation"]["status"] == "executed"
    bo = session.get(Backorder, body["backorder_id"])
    session.refresh(bo)
    assert bo is not None and bo.open_quantity == 7


def test_executing_a_pending_recommendation_is_a_conflict(
    client: TestClient, team: Team, session: Session
) -> None:
    rec_id = _new(session)
    _submit(client, team, rec_id)
    got = client.post(f"{BASE}/{rec_id}/execute", json={"reason": "go"}, headers=team(Role.PLANNER))
    assert got.status_code == 409
    assert_error(got.json(), "RecommendationTransitionError", "recommendation_id")


def test_an_unknown_recommendation_is_404(client: TestClient, team: Team) -> None:
    got = client.get(f"{BASE}/999", headers=team(Role.PLANNER))
    assert got.status_code == 404
    assert_error(got.json(), "RecommendationNotFoundError", "recommendation_id")


def test_the_list_filters_by_backorder_and_status_and_pages(
    client: TestClient, team: Team, session: Session
) -> None:
    first = recommendation(session)
    bo = session.get(Backorder, first.backorder_id)
    second = recommendation(session, backorder=bo)
    recommendation(session)  # another backorder's
    session.commit()
    _submit(client, team, second.id)
    headers = team(Role.DATA_SCIENTIST)
    page = client.get(BASE, params={"backorder_id": bo.id, "limit": 1}, headers=headers).json()
    assert [i["id"] for i in page["items"]] == [second.id]
    rest = client.get(
        BASE,
        params={"backorder_id": bo.id, "limit": 1, "cursor": page["next_cursor"]},
        headers=headers,
    ).json()
    assert [i["id"] for i in rest["items"]] == [first.id] and rest["next_cursor"] is None
    pending = client.get(BASE, params={"status": "pending_approval"}, headers=headers).json()
    assert [i["id"] for i in pending["items"]] == [second.id]


BODY_FIELDS = ["decision", "reason", "conditions", "units", "status", "amount", "approvals"]


@fuzz
@given(
    body=st.dictionaries(st.sampled_from(BODY_FIELDS) | st.text(max_size=8), json_values),
    target=st.one_of(st.just("1"), scalars.map(str)),
    params=st.dictionaries(
        st.sampled_from(["backorder_id", "status", "limit", "cursor", "explain"]), scalars.map(str)
    ),
)
def test_recommendation_routes_never_fail_on_any_input(
    client: TestClient,
    team: Team,
    session: Session,
    body: dict[str, Any],
    target: str,
    params: dict[str, str],
) -> None:
    headers = team(Role.DIRECTOR)
    if not session.get(Recommendation, 1):
        _new(session)
    # The test session's transactions take SQLite's write lock: end it (a commit expires
    # nothing) before the app writes.
    session.commit()
    target = quote(target, safe="") or "0"
    post = {
        "content": json.dumps(body).encode(),
        "headers": {**headers, "Content-Type": "application/json"},
    }
    for verb, path in [
        ("POST", f"{BASE}/{target}/submit"),
        ("POST", f"{BASE}/{target}/decisions"),
        ("PATCH", f"{BASE}/{target}"),
        ("POST", f"{BASE}/{target}/execute"),
    ]:
        _ok(client.request(verb, path, **post))  # type: ignore[arg-type]
    _ok(client.get(f"{BASE}/{target}", params=params, headers=headers))
    _ok(client.get(BASE, params=params, headers=headers))
    _ok(client.get("/api/v1/approvals/inbox", params=params, headers=headers))

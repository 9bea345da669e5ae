"""Policy routes: list, show, what-if of a posted draft, activation by an admin (audited)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain.enums import Tier
from allotment.domain.models import AuditRecord, User
from allotment.policy import service
from allotment.policy.documents import shipped_policy, to_document
from allotment.policy.schema import Policy
from allotment.users.roles import Role
from tests import factories
from tests.api.conftest import assert_error, bearer, committed_user
from tests.insights.helpers import at, backorder

URL = "/api/v1/policies"


@pytest.fixture
def admin(session: Session) -> User:
    return committed_user(session, Role.ADMIN)


def _draft(**changes: Any) -> dict[str, Any]:
    doc = to_document(shipped_policy("default"))
    doc["name"] = "vip-first"
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = doc
        for key in path:
            node = node[key]
        node[last] = value
    return doc


def test_the_active_policy_is_listed_and_shown(client: TestClient, headers: dict[str, str]) -> None:
    active = client.get(f"{URL}/active", headers=headers)
    assert active.status_code == 200, active.text
    body = active.json()
    assert (body["name"], body["status"]) == ("default", "active")
    assert body["document"]["multipliers"]["tier"]["vip"] == 5.0
    listed = client.get(URL, headers=headers).json()
    assert [(p["id"], p["status"]) for p in listed] == [(body["id"], "active")]
    assert client.get(f"{URL}/{body['id']}", headers=headers).json()["checksum"] == body["checksum"]
    missing = client.get(f"{URL}/999", headers=headers)
    assert missing.status_code == 404


def test_what_if_reranks_the_backlog_without_storing_the_draft(
    client: TestClient, headers: dict[str, str], session: Session
) -> None:
    vip = factories.customer(session, tier=Tier.VIP)
    small_vip = backorder(session, created=at(date(2025, 2, 1)), customer_id=vip.id, quantity=2)
    big_std = backorder(session, created=at(date(2025, 2, 1)), quantity=20)
    session.commit()
    # The shipped VIP x5 ranks 20 standard units ($10,000) above 2 VIP units ($1,000);
    # x50 turns it around.
    draft = _draft(multipliers__tier__vip=50.0)
    got = client.post(f"{URL}/whatif", json={"document": draft}, headers=headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["draft"] == "vip-first" and body["backlog"] == 2
    assert [m["backorder_id"] for m in body["queue"]] == [small_vip.id, big_std.id]
    assert {m["backorder_id"] for m in body["movers"]} == {small_vip.id, big_std.id}
    assert "vip-first" not in {p["name"] for p in client.get(URL, headers=headers).json()}


def test_what_if_on_an_empty_backlog_is_a_409(client: TestClient, headers: dict[str, str]) -> None:
    got = client.post(f"{URL}/whatif", json={"document": _draft()}, headers=headers)
    assert got.status_code == 409
    assert_error(got.json(), "WhatIfEmptyError")


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (_draft(blend__weights__sla=True), "blend.weights.sla"),
        (_draft(blend__weights__sla=-1), "blend.weights.sla"),
        (_draft(surprise=1), "surprise"),
        (_draft(description="nul\x00"), "description"),
    ],
)
def test_a_bad_draft_is_a_422_naming_the_key(
    client: TestClient, headers: dict[str, str], document: dict[str, Any], where: str
) -> None:
    got = client.post(f"{URL}/whatif", json={"document": document}, headers=headers)
    assert_error(got.json(), "RequestValidationError", "document")
    assert where in got.json()["detail"]


def test_an_admin_activates_a_document_with_a_reason_audited(
    app: FastAPI, client: TestClient, session: Session, admin: User
) -> None:
    who = bearer(app, admin)
    assert client.get(f"{URL}/active", headers=who).json()["name"] == "default"
    got = client.post(
        f"{URL}/activate", json={"document": _draft(), "reason": "VIPs first"}, headers=who
    )
    assert got.status_code == 200, got.text
    assert (got.json()["name"], got.json()["status"]) == ("vip-first", "active")
    statuses = {p["name"]: p["status"] for p in client.get(URL, headers=who).json()}
    assert statuses == {"default": "retired", "vip-first": "active"}
    # The next request sees the new active policy (nothing holds on to the old one).
    assert client.get(f"{URL}/active", headers=who).json()["name"] == "vip-first"
    record = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "policy.activated")
    ).all()[-1]
    assert (record.actor, record.role, record.reason) == (admin.name, "admin", "VIPs first")


def test_activation_needs_exactly_one_target_and_a_reason(
    app: FastAPI, client: TestClient, admin: User
) -> None:
    who = bearer(app, admin)
    neither = client.post(f"{URL}/activate", json={"reason": "why"}, headers=who)
    assert_error(neither.json(), "PolicyActivationError")
    no_reason = client.post(f"{URL}/activate", json={"policy_version_id": 1}, headers=who)
    assert_error(no_reason.json(), "RequestValidationError", "reason")
    missing = client.post(
        f"{URL}/activate", json={"policy_version_id": 999, "reason": "why"}, headers=who
    )
    assert missing.status_code == 404


def test_a_policy_activated_elsewhere_is_seen_by_the_next_request(
    client: TestClient, headers: dict[str, str], session: Session
) -> None:
    """Activated outside this process (the CLI, another worker): the next request sees it."""
    assert client.get(f"{URL}/active", headers=headers).json()["name"] == "default"
    draft = Policy.model_validate(_draft(**{"multipliers__tier__vip": 7.0}))
    service.activate(session, document=draft, actor="cli", role="admin", reason="VIPs first")
    session.commit()
    body = client.get(f"{URL}/active", headers=headers).json()
    assert (body["name"], body["document"]["multipliers"]["tier"]["vip"]) == ("vip-first", 7.0)

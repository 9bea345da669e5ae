"""Outreach routes: the call list with each customer's last contact; recording contacts."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain.models import AuditRecord, Customer, User
from allotment.policy import service as policy_service
from allotment.users.roles import Role
from tests import factories
from tests.api.conftest import assert_error, bearer, committed_user, score
from tests.insights.helpers import at, backorder

URL = "/api/v1/outreach"


@pytest.fixture
def agent(session: Session) -> User:
    return committed_user(session, Role.CUSTOMER_SERVICE)


@pytest.fixture
def at_risk(session: Session) -> Customer:
    """A customer whose backorder puts $20,000 of relationship at 50 % churn risk."""
    policy_service.active_policy(session)
    customer = factories.customer(session, name="Metro Manufacturing")
    bo = backorder(session, created=at(date(2025, 2, 1)), customer_id=customer.id)
    snap = score(session, bo.id, p_churn=0.5, p_sla_breach=0.1)
    snap.inputs = {"exposures": {"churn": 20000.0, "sla": 1000.0}}
    session.commit()
    return customer


def test_contact_is_recorded_audited_and_shown_on_the_list(
    app: FastAPI, client: TestClient, session: Session, agent: User, at_risk: Customer
) -> None:
    who = bearer(app, agent)
    listed = client.get(URL, headers=who).json()
    assert [i["customer"]["customer"] for i in listed["items"]] == ["Metro Manufacturing"]
    assert listed["items"][0]["customer"]["expected_value_at_risk"] == 10100.0  # .5x20k+.1x1k
    assert listed["items"][0]["last_contact"] is None
    got = client.post(
        f"{URL}/{at_risk.id}/contacts",
        json={"outcome": "offer_accepted", "note": "takes the substitute"},
        headers=who,
    )
    assert got.status_code == 201, got.text
    contact = got.json()
    assert (contact["contacted_by"], contact["outcome"]) == (agent.name, "offer_accepted")
    last = client.get(URL, headers=who).json()["items"][0]["last_contact"]
    assert last["id"] == contact["id"]
    record = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "outreach.contacted")
    ).one()
    assert (record.entity_type, record.entity_id, record.role) == (
        "customer",
        str(at_risk.id),
        "customer_service",
    )
    assert record.reason == "takes the substitute"


def test_contact_history_newest_first_in_pages(
    client: TestClient, app: FastAPI, agent: User, at_risk: Customer
) -> None:
    who = bearer(app, agent)
    for outcome in ("no_answer", "left_message", "reached"):
        client.post(f"{URL}/{at_risk.id}/contacts", json={"outcome": outcome}, headers=who)
    page = client.get(f"{URL}/{at_risk.id}/contacts", params={"limit": 2}, headers=who).json()
    assert [c["outcome"] for c in page["items"]] == ["reached", "left_message"]
    rest = client.get(
        f"{URL}/{at_risk.id}/contacts", params={"cursor": page["next_cursor"]}, headers=who
    ).json()
    assert [c["outcome"] for c in rest["items"]] == ["no_answer"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outcome": "ghosted"}, "outcome"),
        ({}, "outcome"),
        ({"outcome": "reached", "contacted_by": "someone else"}, "contacted_by"),
        ({"outcome": "reached", "note": "x" * 2001}, "note"),
    ],
)
def test_bad_contacts_are_a_422_naming_the_field(
    client: TestClient,
    app: FastAPI,
    agent: User,
    at_risk: Customer,
    body: dict[str, str],
    field: str,
) -> None:
    got = client.post(f"{URL}/{at_risk.id}/contacts", json=body, headers=bearer(app, agent))
    assert_error(got.json(), "RequestValidationError", field)


def test_an_unknown_customer_is_a_404(client: TestClient, app: FastAPI, agent: User) -> None:
    got = client.post(
        f"{URL}/999/contacts", json={"outcome": "reached"}, headers=bearer(app, agent)
    )
    assert got.status_code == 404
    assert_error(got.json(), "NotFoundError", "customer_id")

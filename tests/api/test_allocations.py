"""Allocation routes: simulate, compare, commit (audited with the caller's role), list runs."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain import backorders as bo_svc
from allotment.domain.enums import Tier
from allotment.domain.models import AuditRecord, Backorder
from allotment.users.roles import Role
from tests import factories
from tests.api.conftest import assert_error, bearer

URL = "/api/v1/allocations"


@pytest.fixture
def shortage(session: Session) -> Backorder:
    """One VIP backorder of 20 units; 8 on hand where it ships from; nothing inbound."""
    loc = factories.location(session, code="WH-East")
    prod = factories.product(session, sku="SKU-A")
    factories.inventory(session, product_id=prod.id, location_id=loc.id, on_hand=8)
    cust = factories.customer(session, tier=Tier.VIP)
    line = factories.order_line(
        session,
        customer_id=cust.id,
        product_id=prod.id,
        location_id=loc.id,
        quantity=20,
        promised_date=date(2025, 2, 1),
    )
    bo = bo_svc.create_manual(
        session, order_line_id=line.id, quantity=20, actor="t", reason="short"
    )
    session.commit()
    return bo


def test_simulate_reports_the_plan_short_lines_prices_and_greedy(
    client: TestClient, headers: dict[str, str], shortage: Backorder
) -> None:
    got = client.post(f"{URL}/simulate", json={}, headers=headers)
    assert got.status_code == 200, got.text
    plan = got.json()
    assert (plan["lines"], plan["allocated_units"], plan["from_stock_units"]) == (1, 8, 8)
    assert plan["short_lines"] == 1
    short = plan["lines_short"][0]
    assert (short["line"], short["shortfall"]) == (shortage.number, 12)
    assert short["reason"]
    sku_prices = [p for p in plan["shadow_prices"] if p["sku"] == "SKU-A"]
    assert sku_prices and sku_prices[0]["usd_per_unit"] > 0  # one more unit would be used
    assert plan["objective_usd"] >= plan["greedy_objective_usd"]
    assert plan["comparison"]["previous_run_id"] is None
    assert plan["committed_run_id"] is None
    assert client.get(URL, headers=headers).json()["items"] == []  # nothing written


def test_commit_writes_the_run_audits_the_role_and_the_next_plan_compares(
    app: FastAPI, client: TestClient, session: Session, shortage: Backorder
) -> None:
    supervisor = factories.user(session, role=Role.SUPERVISOR)
    session.commit()
    who = bearer(app, supervisor)
    got = client.post(f"{URL}/commit", json={"reason": "weekly plan"}, headers=who)
    assert got.status_code == 201, got.text
    run_id = got.json()["committed_run_id"]
    runs = client.get(URL, headers=who).json()["items"]
    assert [(r["id"], r["reason"], r["allocated_units"]) for r in runs] == [
        (run_id, "weekly plan", 8)
    ]
    compared = client.post(f"{URL}/compare", json={}, headers=who).json()
    assert compared["previous_run_id"] == run_id
    record = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "allocation.committed")
    ).one()
    assert (record.actor, record.role) == (supervisor.name, "supervisor")
    assert record.reason == "weekly plan"


def test_commit_needs_a_reason_and_bodies_refuse_unknown_fields(
    client: TestClient, headers: dict[str, str], shortage: Backorder
) -> None:
    no_reason = client.post(f"{URL}/commit", json={}, headers=headers)
    assert_error(no_reason.json(), "RequestValidationError", "reason")
    unknown = client.post(f"{URL}/simulate", json={"as_of": "2025-01-01"}, headers=headers)
    assert_error(unknown.json(), "RequestValidationError", "as_of")
    assert unknown.json()["detail"] == "unknown field 'as_of'"
    for bad in ({"time_limit": 0}, {"time_limit": 61}, {"time_limit": True}, {"top": 0}):
        got = client.post(f"{URL}/simulate", json=bad, headers=headers)
        assert_error(got.json(), "RequestValidationError", next(iter(bad)))


def test_runs_page_with_a_cursor(
    client: TestClient, headers: dict[str, str], shortage: Backorder
) -> None:
    for reason in ("first", "second"):
        client.post(f"{URL}/commit", json={"reason": reason}, headers=headers)
    first = client.get(URL, params={"limit": 1}, headers=headers).json()
    assert [r["reason"] for r in first["items"]] == ["second"]
    rest = client.get(URL, params={"limit": 1, "cursor": first["next_cursor"]}, headers=headers)
    assert [r["reason"] for r in rest.json()["items"]] == ["first"]
    assert rest.json()["next_cursor"] is None
    bad = client.get(URL, params={"cursor": "garbage!"}, headers=headers)
    assert_error(bad.json(), "CursorInvalidError", "cursor")


def test_no_credentials_is_a_401_even_with_a_malformed_body(
    client: TestClient, headers: dict[str, str]
) -> None:
    raw = {"content": b'{"reason": ', "headers": {"Content-Type": "application/json"}}
    anonymous = client.post(f"{URL}/commit", **raw)  # type: ignore[arg-type]
    assert anonymous.status_code == 401
    assert_error(anonymous.json(), "CredentialsInvalidError")
    signed_in = client.post(
        f"{URL}/commit", content=raw["content"], headers={**headers, **raw["headers"]}
    )
    assert signed_in.status_code == 422
    assert_error(signed_in.json(), "RequestValidationError")  # no field: the JSON itself
    not_utf8 = client.post(
        f"{URL}/commit", content=b'{"reason": "\xff"}', headers={**headers, **raw["headers"]}
    )
    assert not_utf8.status_code == 422

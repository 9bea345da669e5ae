"""Command center, analytics and KPI routes on a two-backorder backlog."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from allotment.domain.enums import RootCause, Tier
from tests import factories
from tests.api.conftest import assert_error
from tests.insights.helpers import at, backorder

API = "/api/v1"


@pytest.fixture
def backlog(session: Session) -> None:
    """A VIP's 10 units ($5,000) from 02-18 and a standard 4 units ($2,000, quality) from
    02-05; the newest backorder's day (02-18) is the reference day until something is scored."""
    vip = factories.customer(session, tier=Tier.VIP)
    backorder(session, created=at(date(2025, 2, 18)), customer_id=vip.id, priority=50.0)
    backorder(session, created=at(date(2025, 2, 5)), quantity=4, root_cause=RootCause.QUALITY)
    session.commit()


def test_command_center_ages_against_the_reference_day_by_default(
    client: TestClient, headers: dict[str, str], backlog: None
) -> None:
    got = client.get(f"{API}/command-center", headers=headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["as_of"] == "2025-02-18"
    assert body["summary"] == {
        "open_backorders": 2,
        "value_at_risk": "7000.00",
        "customers_affected": 2,
        "high_priority": 1,
        "high_priority_value": "5000.00",
    }
    assert [(a["key"], a["backorders"]) for a in body["aging"]] == [
        ("0-7", 1),
        ("8-14", 1),
        ("15+", 0),
    ]
    assert body["critical"][0]["priority"] == 50.0


def test_command_center_as_of_and_list_sizes(
    client: TestClient, headers: dict[str, str], backlog: None
) -> None:
    got = client.get(
        f"{API}/command-center", params={"as_of": "2025-03-01", "critical": 1}, headers=headers
    ).json()
    assert [(a["key"], a["backorders"]) for a in got["aging"]] == [
        ("0-7", 0),
        ("8-14", 1),
        ("15+", 1),
    ]
    assert len(got["critical"]) == 1
    too_many = client.get(f"{API}/command-center", params={"critical": 101}, headers=headers)
    assert_error(too_many.json(), "RequestValidationError", "critical")


def test_analytics_by_root_cause(
    client: TestClient, headers: dict[str, str], backlog: None
) -> None:
    got = client.get(f"{API}/analytics/root_cause", headers=headers)
    assert got.status_code == 200, got.text
    assert [(g["key"], g["backorders"], g["value"]) for g in got.json()["groups"]] == [
        ("supplier_delay", 1, "5000.00"),
        ("quality", 1, "2000.00"),
    ]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/analytics/weather", {}, "by"),
        ("/analytics/month", {"since": "2025-02-01", "until": "2025-02-01"}, "until"),
        ("/analytics/month", {"limit": 0}, "limit"),
        ("/kpis", {"until": "2025-13-01"}, "until"),
        ("/kpis", {"since": "2025-03-01", "until": "2025-02-01"}, "until"),
        ("/command-center", {"as_of": "yesterday"}, "as_of"),
    ],
)
def test_bad_parameters_are_a_422_naming_them(
    client: TestClient, headers: dict[str, str], path: str, params: dict[str, str], field: str
) -> None:
    got = client.get(API + path, params=params, headers=headers)
    assert got.status_code == 422, got.text
    assert got.json()["field"] == field


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_the_calendar_s_ends_are_answered_without_overflow(
    client: TestClient, headers: dict[str, str], day: str
) -> None:
    for path, params in [
        ("/command-center", {"as_of": day}),
        ("/kpis", {"since": day}),
        ("/kpis", {"until": day}),
        ("/analytics/month", {"since": day}),
    ]:
        got = client.get(API + path, params=params, headers=headers)
        assert got.status_code == 200, (path, params, got.text)


def test_kpis_default_to_the_90_days_up_to_the_reference_day(
    client: TestClient, headers: dict[str, str], backlog: None
) -> None:
    got = client.get(f"{API}/kpis", headers=headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["since"], body["until"]) == ("2024-11-21", "2025-02-19")
    assert (body["active_backorders"], body["revenue_at_risk"]) == (2, "7000.00")
    # Both orders were placed 2025-01-10 (the factory's day): 2 of 2 backordered.
    assert (body["orders"], body["backorder_rate"]) == (2, 1.0)


def test_kpis_with_one_bound_span_90_days(
    client: TestClient, headers: dict[str, str], backlog: None
) -> None:
    body = client.get(f"{API}/kpis", params={"since": "2025-01-01"}, headers=headers).json()
    assert (body["since"], body["until"]) == ("2025-01-01", "2025-04-01")

"""Routing of recommendation amounts: thresholds ± $0.01, VIP, and split-to-evade summing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from allotment.domain.enums import Tier
from allotment.policy.routing import Route
from allotment.policy.schema import Policy
from allotment.recommend.actions import Action, Kind
from allotment.recommend.approval import Earlier, route_amount, window_total

POLICY = Policy(name="test")
NOW = datetime(2025, 1, 20, 12, 0, tzinfo=UTC)


def _route(
    amount: str, *, tier: Tier = Tier.STANDARD, earlier: list[Earlier] | None = None
) -> Route:
    return route_amount(
        POLICY,
        Decimal(amount),
        tier=tier,
        customer_id=1,
        sku="SKU-A",
        at=NOW,
        earlier=earlier or [],
    )


@pytest.mark.parametrize(
    ("amount", "chain"),
    [
        ("0", ()),
        ("999.99", ()),
        ("1000.00", ("supervisor",)),
        ("9999.99", ("supervisor",)),
        ("10000.00", ("supervisor", "manager")),
        ("50000.00", ("supervisor", "manager")),
        ("50000.01", ("supervisor", "manager", "director")),
    ],
)
def test_amount_routes_at_every_boundary(amount: str, chain: tuple[str, ...]) -> None:
    r = _route(amount)
    assert r.chain == chain
    assert r.auto is (chain == ())


def test_vip_always_adds_the_account_manager() -> None:
    assert _route("10.00", tier=Tier.VIP).chain == ("account_manager",)
    assert _route("1000.00", tier=Tier.VIP).chain == ("supervisor", "account_manager")


def test_approval_amount_is_value_at_stake_plus_money_committed() -> None:
    a = Action(
        kind=Kind.ALTERNATE_SUPPLIER,
        backorder_id=1,
        units=10,
        cost=450.0,
        committed=3450.0,
        benefit=1175.0,
        arrival=None,
        p_breach_after=0.1,
        explanation="",
    )
    assert a.approval_amount() == Decimal("4625.00")


def _six_k(at: datetime, *, customer_id: int = 1, sku: str = "SKU-A") -> Earlier:
    return Earlier(customer_id=customer_id, sku=sku, created_at=at, amount=Decimal("6000"))


def test_two_6000_expedites_within_24h_route_to_manager_not_supervisor() -> None:
    first = _route("6000")
    assert first.band_role == "supervisor"
    second = _route("6000", earlier=[_six_k(NOW - timedelta(hours=1))])
    assert second.amount == Decimal("12000.00")
    assert second.band_role == "manager"
    assert second.chain == ("supervisor", "manager")
    assert "splitting does not dodge a threshold" in second.reasons[0]


def test_window_includes_exactly_24_hours_but_not_more() -> None:
    edge = _route("6000", earlier=[_six_k(NOW - timedelta(hours=24))])
    assert edge.band_role == "manager"
    past = _route("6000", earlier=[_six_k(NOW - timedelta(hours=24, seconds=1))])
    assert past.band_role == "supervisor"


def test_other_customers_and_other_skus_are_not_summed() -> None:
    hour_ago = NOW - timedelta(hours=1)
    assert _route("6000", earlier=[_six_k(hour_ago, customer_id=2)]).band_role == "supervisor"
    assert _route("6000", earlier=[_six_k(hour_ago, sku="SKU-B")]).band_role == "supervisor"


def test_later_recommendations_are_not_summed_into_earlier_ones() -> None:
    total, counted = window_total(
        Decimal("6000"),
        customer_id=1,
        sku="SKU-A",
        at=NOW,
        earlier=[_six_k(NOW + timedelta(minutes=1))],
    )
    assert (total, counted) == (Decimal("6000.00"), [])


def test_window_length_comes_from_the_policy() -> None:
    policy = POLICY.model_copy(
        update={
            "recommendations": POLICY.recommendations.model_copy(update={"split_window_hours": 1})
        }
    )
    r = route_amount(
        policy,
        Decimal("6000"),
        tier=Tier.STANDARD,
        customer_id=1,
        sku="SKU-A",
        at=NOW,
        earlier=[_six_k(NOW - timedelta(hours=2))],
    )
    assert r.band_role == "supervisor"

"""Approval routing matches the handbook's table at every boundary, to the cent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allotment.domain.enums import Tier
from allotment.policy.documents import shipped_policy
from allotment.policy.routing import ApprovalAmountInvalidError, route
from allotment.policy.schema import Approvals, ApprovalStep, Policy

POLICY = shipped_policy("default")
CUMULATIVE = {
    "auto": (),
    "supervisor": ("supervisor",),
    "manager": ("supervisor", "manager"),
    "director": ("supervisor", "manager", "director"),
}


def handbook_band(cents: int) -> str:
    """The handbook's table, written independently of the policy: under $1,000 automatic;
    $1,000 to under $10,000 supervisor; $10,000 to $50,000 manager; over $50,000 director."""
    if cents < 1_000_00:
        return "auto"
    if cents < 10_000_00:
        return "supervisor"
    if cents <= 50_000_00:
        return "manager"
    return "director"


def _dollars(cents: int) -> Decimal:
    return Decimal(cents) / 100


@pytest.mark.parametrize(
    ("amount", "band"),
    [
        ("0", "auto"),
        ("999.99", "auto"),
        ("1000.00", "supervisor"),
        ("1000.01", "supervisor"),
        ("9999.99", "supervisor"),
        ("10000.00", "manager"),
        ("10000.01", "manager"),
        ("49999.99", "manager"),
        ("50000.00", "manager"),
        ("50000.01", "director"),
    ],
)
def test_boundaries_as_the_handbook_states_them(amount: str, band: str) -> None:
    result = route(POLICY, Decimal(amount), tier=Tier.STANDARD)
    assert result.band_role == band
    assert result.chain == CUMULATIVE[band]
    assert result.auto is (band == "auto")


BOUNDARIES = [1_000_00, 10_000_00, 50_000_00, 50_000_01]


@given(
    st.one_of(
        st.builds(lambda b, d: b + d, st.sampled_from(BOUNDARIES), st.integers(-1, 1)),
        st.integers(min_value=0, max_value=10**12),
    ),
    st.sampled_from(list(Tier)),
)
def test_routing_matches_the_table_everywhere(cents: int, tier: Tier) -> None:
    result = route(POLICY, _dollars(cents), tier=tier)
    band = handbook_band(cents)
    assert result.band_role == band
    vip = ("account_manager",) if tier is Tier.VIP else ()
    assert result.chain == CUMULATIVE[band] + vip
    assert result.auto is (not result.chain)
    assert result.notify == (("planner",) if result.auto else ())
    assert result.amount == _dollars(cents)


def test_vip_always_adds_the_account_manager_and_is_never_automatic() -> None:
    small = route(POLICY, Decimal("5"), tier=Tier.VIP)
    assert small.chain == ("account_manager",) and not small.auto
    assert small.reasons == (
        "$5 is under $1,000 → no approval needed for the amount",
        "VIP customer → account manager always",
    )
    big = route(POLICY, Decimal("45000"), tier=Tier.VIP)
    assert big.chain == ("supervisor", "manager", "account_manager")


def test_reasons_say_the_band_and_the_rule_in_words() -> None:
    result = route(POLICY, Decimal("12500"), tier=Tier.PREMIUM, requested_by="ann")
    assert result.reasons == (
        "$12,500 is in the $10,000–$50,000 band → manager",
        "cumulative chain: every band up to it signs off, in order → supervisor → manager",
        "requested by ann, who may approve no step of this chain",
    )
    assert result.requested_by == "ann"
    assert route(POLICY, Decimal("999.99"), tier=Tier.STANDARD).reasons == (
        "$999.99 is under $1,000 → automatic approval (notification only)",
        "notify planner",
    )
    assert route(POLICY, Decimal("1000"), tier=Tier.STANDARD).reasons[0] == (
        "$1,000 is in the $1,000–$9,999.99 band → supervisor"
    )
    assert route(POLICY, Decimal("50000.01"), tier=Tier.STANDARD).reasons[0] == (
        "$50,000.01 is over $50,000 → director"
    )


@pytest.mark.parametrize(
    ("amount", "band"),
    [("50000.004", "manager"), ("50000.005", "manager"), ("50000.006", "director")],
)
def test_fractions_of_a_cent_round_like_stored_money(amount: str, band: str) -> None:
    """Banker's rounding to the cent, as ``Money`` columns store amounts."""
    assert route(POLICY, Decimal(amount), tier=Tier.STANDARD).band_role == band


@pytest.mark.parametrize("amount", ["-0.01", "NaN", "Infinity"])
def test_amounts_that_cannot_be_routed_are_refused(amount: str) -> None:
    with pytest.raises(ApprovalAmountInvalidError):
        route(POLICY, Decimal(amount), tier=Tier.STANDARD)


def test_single_chain_needs_only_the_band_role() -> None:
    single = POLICY.model_copy(
        update={"approvals": POLICY.approvals.model_copy(update={"chain": "single"})}
    )
    assert route(single, Decimal("60000"), tier=Tier.VIP).chain == ("director", "account_manager")


@st.composite
def step_tables(draw: st.DrawFn) -> Policy:
    roles = draw(
        st.lists(
            st.sampled_from(["supervisor", "manager", "director", "executive"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    cents = draw(
        st.lists(st.integers(1, 10**9), min_size=len(roles), max_size=len(roles), unique=True).map(
            sorted
        )
    )
    auto_first = draw(st.booleans())
    steps = [
        ApprovalStep(min_amount=_dollars(c), role=r) for c, r in zip(cents, roles, strict=True)
    ]  # type: ignore[arg-type]
    head = ApprovalStep(min_amount=Decimal(0), role="auto" if auto_first else "planner")
    return Policy(name="random", approvals=Approvals(steps=(head, *steps), always_add={}))


@given(step_tables(), st.integers(0, 2 * 10**9))
def test_any_step_table_routes_to_the_last_step_reached(policy: Policy, cents: int) -> None:
    steps = policy.approvals.steps
    reached = [s for s in steps if s.min_amount <= _dollars(cents)]
    result = route(policy, _dollars(cents), tier=Tier.STANDARD)
    assert result.band_role == reached[-1].role
    assert result.chain == tuple(s.role for s in reached if s.role != "auto")

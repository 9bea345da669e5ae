"""The priority blend: exact, monotone, deterministic, degraded when a model input is missing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allotment.domain.enums import Tier
from allotment.policy.documents import shipped_policy
from allotment.policy.schema import Blend, BlendWeights, Multipliers, Policy
from allotment.scoring.blend import (
    BASELINE,
    COMPONENTS,
    Exposures,
    OneBackorder,
    Risks,
    blend,
    blend_one,
    split_component,
    split_components,
)

money = st.floats(0, 1e6, allow_nan=False)
prob = st.floats(0, 1, allow_nan=False)
rate = st.floats(0, 0.05, allow_nan=False)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    w = st.floats(0, 5, allow_nan=False)
    use_models = draw(st.booleans())

    def risk_w() -> float:
        return draw(w) if use_models else 0.0

    weights = BlendWeights(
        sla=risk_w(), churn=risk_w(), delay=risk_w(), value=draw(w), margin=draw(w), age=draw(w)
    )
    fallback = BlendWeights(sla=0, churn=0, delay=0, value=draw(w), margin=draw(w), age=draw(w))
    tiers = {t: draw(st.floats(0.1, 10, allow_nan=False)) for t in Tier}
    return Policy(
        name="p",
        multipliers=Multipliers(tier=tiers, emergency=draw(st.floats(1, 20, allow_nan=False))),
        blend=Blend(
            use_models=use_models,
            weights=weights,
            fallback_weights=fallback,
            age_usd_per_day=draw(st.floats(0, 200, allow_nan=False)),
            penalty_exposure_days=draw(st.floats(0, 60, allow_nan=False)),
            relationship_value_share=draw(prob),
        ),
    )


@st.composite
def backorders(draw: st.DrawFn) -> OneBackorder:
    value = draw(money)
    missing = st.one_of(st.none(), prob) if draw(st.booleans()) else prob
    return OneBackorder(
        tier=draw(st.sampled_from(list(Tier))),
        is_emergency=draw(st.booleans()),
        value_at_risk=value,
        margin_at_risk=draw(money),
        penalty_rate_per_day=draw(rate),
        penalty_cap_rate=draw(st.floats(0, 0.5, allow_nan=False)),
        lifetime_value=draw(st.floats(0, 1e7, allow_nan=False)),
        customer_open_value=value + draw(money),
        has_supply=draw(st.booleans()),
        days_waiting=draw(st.floats(0, 400, allow_nan=False)),
        p_sla_breach=draw(missing),
        p_churn=draw(missing),
        p_supplier_delay=draw(missing),
    )


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


@settings(max_examples=100, deadline=None)
@given(b=backorders(), policy=policies())
def test_components_add_up_to_the_priority(b: OneBackorder, policy: Policy) -> None:
    out = blend_one(b, policy)
    assert set(out.components) == set(COMPONENTS)
    assert all(v >= 0 for v in out.components.values())
    assert _close(sum(out.components.values()), out.priority)


@settings(max_examples=100, deadline=None)
@given(
    b=backorders(),
    policy=policies(),
    raw=st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=1, max_size=30),
)
def test_feature_parts_add_up_to_each_model_component(
    b: OneBackorder, policy: Policy, raw: list[float]
) -> None:
    out = blend_one(b, policy)
    for name, p in (("sla", b.p_sla_breach), ("churn", b.p_churn)):
        if p is None:
            continue
        # An attribution of p in probability space: base + Σ φ = p.
        phi = np.array(raw) * p / max(1e-12, float(np.sum(np.abs(raw))) or 1.0)
        base = p - float(phi.sum())
        parts = split_component(
            out.components[name], out.factors[name], base, [(f"f{i}", v) for i, v in enumerate(phi)]
        )
        assert BASELINE in parts
        assert _close(sum(parts.values()), out.components[name])
        if not out.rule_only:
            assert parts[BASELINE] == pytest.approx(out.factors[name] * base, abs=1e-6)


def test_vectorised_split_adds_up_row_by_row() -> None:
    rng = np.random.default_rng(0)
    factors = rng.uniform(0, 1e5, 50)
    phi = rng.normal(0, 0.05, (50, 12))
    p = np.clip(0.3 + phi.sum(axis=1), 0, 1)
    components = factors * p
    parts, baseline = split_components(components, factors, phi)
    assert np.allclose(parts.sum(axis=1) + baseline, components, rtol=0, atol=1e-6)


MONOTONE_FIELDS = {
    "penalty_rate_per_day": 0.01,
    "penalty_cap_rate": 0.05,
    "days_waiting": 7.0,
    "margin_at_risk": 500.0,
    "lifetime_value": 10_000.0,
    "p_sla_breach": 0.1,
    "p_churn": 0.1,
    "p_supplier_delay": 0.1,
}


@settings(max_examples=100, deadline=None)
@given(
    b=backorders(),
    policy=policies(),
    field=st.sampled_from(sorted(MONOTONE_FIELDS)),
    steps=st.integers(1, 5),
)
def test_raising_an_input_never_lowers_the_priority(
    b: OneBackorder, policy: Policy, field: str, steps: int
) -> None:
    before = blend_one(b, policy)
    old = getattr(b, field)
    if old is None:
        return  # a missing risk is not raised: it is degraded (tested below)
    new = old + steps * MONOTONE_FIELDS[field]
    if field.startswith("p_"):
        new = min(new, 1.0)
    after = blend_one(replace(b, **{field: new}), policy)
    assert after.priority >= before.priority - 1e-9 * max(1.0, before.priority)


@settings(max_examples=100, deadline=None)
@given(b=backorders(), policy=policies(), extra=st.floats(0.01, 1e5, allow_nan=False))
def test_raising_the_value_never_lowers_the_priority(
    b: OneBackorder, policy: Policy, extra: float
) -> None:
    # More value on this backorder also raises the customer's open value by as much.
    raised = replace(
        b,
        value_at_risk=b.value_at_risk + extra,
        customer_open_value=b.customer_open_value + extra,
    )
    before, after = blend_one(b, policy), blend_one(raised, policy)
    assert after.priority >= before.priority - 1e-9 * max(1.0, before.priority)


@settings(max_examples=100, deadline=None)
@given(b=backorders(), policy=policies(), tier=st.sampled_from(list(Tier)), bump=st.floats(0, 5))
def test_a_higher_tier_multiplier_or_an_emergency_never_lowers_the_priority(
    b: OneBackorder, policy: Policy, tier: Tier, bump: float
) -> None:
    tiers = dict(policy.multipliers.tier)
    tiers[tier] = tiers[tier] + bump
    richer = policy.model_copy(
        update={"multipliers": Multipliers(tier=tiers, emergency=policy.multipliers.emergency)}
    )
    assert blend_one(b, richer).priority >= blend_one(b, policy).priority
    calm, urgent = replace(b, is_emergency=False), replace(b, is_emergency=True)
    assert blend_one(urgent, policy).priority >= blend_one(calm, policy).priority


@settings(max_examples=50, deadline=None)
@given(items=st.lists(backorders(), min_size=1, max_size=40), policy=policies())
def test_batch_and_one_by_one_agree_and_repeat_identically(
    items: list[OneBackorder], policy: Policy
) -> None:
    def batch() -> Any:
        def col(name: str) -> Any:
            return np.array(
                [np.nan if getattr(b, name) is None else getattr(b, name) for b in items],
                dtype=np.float64,
            )

        x = Exposures(
            tier=[b.tier for b in items],
            is_emergency=np.array([b.is_emergency for b in items]),
            value_at_risk=col("value_at_risk"),
            margin_at_risk=col("margin_at_risk"),
            penalty_rate_per_day=col("penalty_rate_per_day"),
            penalty_cap_rate=col("penalty_cap_rate"),
            lifetime_value=col("lifetime_value"),
            customer_open_value=col("customer_open_value"),
            has_supply=np.array([b.has_supply for b in items]),
            days_waiting=col("days_waiting"),
        )
        return blend(x, Risks(col("p_sla_breach"), col("p_churn"), col("p_supplier_delay")), policy)

    first, second = batch(), batch()
    assert np.array_equal(first.priority, second.priority)

    def ranking(priority: Any) -> Any:
        return np.argsort(-priority, kind="stable")

    assert np.array_equal(ranking(first.priority), ranking(second.priority))
    one = np.array([blend_one(b, policy).priority for b in items])
    assert np.array_equal(one, first.priority)


# --- by hand --------------------------------------------------------------------------------

DEFAULT = Policy(name="default")
STATIC = shipped_policy("static-tier")


def _bo(**kw: Any) -> OneBackorder:
    base: dict[str, Any] = dict(
        tier=Tier.STANDARD,
        is_emergency=False,
        value_at_risk=10_000.0,
        margin_at_risk=3_600.0,
        penalty_rate_per_day=0.005,
        penalty_cap_rate=0.1,
        lifetime_value=100_000.0,
        customer_open_value=20_000.0,
        has_supply=True,
        days_waiting=10.0,
        p_sla_breach=0.5,
        p_churn=0.2,
        p_supplier_delay=0.4,
    )
    base.update(kw)
    return OneBackorder(**base)


def test_the_formula_by_hand() -> None:
    out = blend_one(_bo(tier=Tier.PREMIUM), DEFAULT)
    m = 3.0
    # penalty exposure: 10,000 × min(0.005 × 14, 0.1) = 700 USD; P(breach) 0.5; w_sla 1
    assert out.components["sla"] == pytest.approx(m * 0.5 * 700)
    # relationship: 100,000 × 1.0 × (10,000 / 20,000) = 50,000 USD; P(churn) 0.2
    assert out.components["churn"] == pytest.approx(m * 0.2 * 50_000)
    assert out.components["delay"] == pytest.approx(m * 0.4 * 10_000)
    assert out.components["value"] == pytest.approx(m * 0.1 * 10_000)
    assert out.components["margin"] == 0
    assert out.components["age"] == pytest.approx(m * 10 * 50)
    assert not out.degraded and not out.rule_only


def test_the_penalty_is_capped_by_the_contract() -> None:
    capped = blend_one(_bo(penalty_rate_per_day=0.05, penalty_cap_rate=0.1), DEFAULT)
    assert capped.exposures["sla"] == pytest.approx(10_000 * 0.1)


def test_no_po_line_means_no_delay_component_and_no_degradation() -> None:
    out = blend_one(_bo(has_supply=False, p_supplier_delay=None), DEFAULT)
    assert out.components["delay"] == 0 and not out.degraded


def test_static_tier_uses_only_value_and_age_with_the_multipliers() -> None:
    out = blend_one(_bo(tier=Tier.VIP, is_emergency=True), STATIC)
    m = 5.0 * 10.0
    assert out.rule_only and not out.degraded
    assert out.components["sla"] == out.components["churn"] == out.components["delay"] == 0
    assert out.priority == pytest.approx(m * (10_000 + 10 * 50))


def test_static_tier_reproduces_the_handbook_example() -> None:
    """PO-2025-0089 slips: Metro Manufacturing (VIP, critical) 50 units and Industrial
    Services (standard) 20 units of CM-500 at $500 wait on the same PO line."""
    vip = _bo(tier=Tier.VIP, is_emergency=True, value_at_risk=50 * 500.0, days_waiting=0)
    std = _bo(tier=Tier.STANDARD, value_at_risk=20 * 500.0, days_waiting=0)
    vip_calm = replace(vip, is_emergency=False)
    for policy in (STATIC, DEFAULT):
        assert blend_one(vip, policy).priority > blend_one(std, policy).priority
        assert blend_one(vip_calm, policy).priority > blend_one(std, policy).priority
    # ×5 on 25,000 USD beats ×1 on 10,000 USD even when the standard order has waited longer.
    older_std = replace(std, days_waiting=30)
    assert blend_one(vip_calm, STATIC).priority > blend_one(older_std, STATIC).priority


def test_a_missing_model_falls_back_to_the_rule_terms_and_says_why() -> None:
    out = blend_one(_bo(p_churn=None), DEFAULT)
    assert out.degraded and out.rule_only
    assert out.components["sla"] == out.components["churn"] == out.components["delay"] == 0
    fb = DEFAULT.blend.fallback_weights
    assert out.priority == pytest.approx(fb.value * 10_000 + fb.age * 10 * 50)
    assert out.reasons == ["no churn probability: scored on the rule terms only"]


def test_unavailable_rows_are_degraded_even_with_probabilities() -> None:
    b = _bo()
    x = Exposures(
        tier=[b.tier, b.tier],
        is_emergency=np.array([False, False]),
        value_at_risk=np.full(2, b.value_at_risk),
        margin_at_risk=np.full(2, b.margin_at_risk),
        penalty_rate_per_day=np.full(2, b.penalty_rate_per_day),
        penalty_cap_rate=np.full(2, b.penalty_cap_rate),
        lifetime_value=np.full(2, b.lifetime_value),
        customer_open_value=np.full(2, b.customer_open_value),
        has_supply=np.array([True, True]),
        days_waiting=np.full(2, b.days_waiting),
    )
    r = Risks(np.full(2, 0.5), np.full(2, 0.2), np.full(2, 0.4))
    out = blend(x, r, DEFAULT, unavailable=np.array([False, True]))
    assert out.degraded.tolist() == [False, True]
    assert out.priority[1] < out.priority[0]


def test_a_model_the_policy_does_not_weigh_is_not_needed() -> None:
    no_churn = Policy(
        name="no-churn",
        blend=Blend(weights=BlendWeights(sla=1, churn=0, delay=1, value=0.1, margin=0, age=1)),
    )
    out = blend_one(_bo(p_churn=None), no_churn)
    assert not out.degraded and out.components["churn"] == 0
    assert out.components["sla"] > 0

"""Candidate actions and their valuation on one hand-checkable backorder.

The case: 10 units at $500 (cost $300, value $5,000) promised 2025-01-27, planned today
2025-01-20; the PO line they wait on is due 2025-02-03 (7 days late) with P(delay) 0.4 and 10 days
late when delayed (17 days). The contract: 2 % of the value a day late, capped at 20 % ($1,000,
reached after 10 days). P(breach) 0.8, P(churn) 0.2 on a $10,000 relationship, lateness $0.50 per
unit-day. Expected loss: SLA 0.6 × 5000 × 0.14 + 0.4 × 1000 (capped) = 420 + 400 = 820; churn
0.2 × 10000 × 0.3 × 0.8 = 480; lateness 10 units × (7 + 0.4 × 10) days × 0.5 = 55; total 1355.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allotment.policy.schema import Policy
from allotment.recommend import actions as act
from allotment.recommend.actions import (
    AlternateSupplier,
    Case,
    Kind,
    Options,
    StockElsewhere,
    SubstituteStock,
)

POLICY = Policy(name="test")

CASE = Case(
    backorder_id=1,
    number="BO-1",
    customer_id=9,
    tier="standard",
    sku="SKU-A",
    location="WH-A",
    today=date(2025, 1, 20),
    promised_date=date(2025, 1, 27),
    open_quantity=10,
    unit_price=500.0,
    unit_cost=300.0,
    on_time_units=0,
    from_stock=0,
    late_arrival=date(2025, 2, 3),
    p_sla_breach=0.8,
    p_churn=0.2,
    penalty_rate_per_day=0.02,
    penalty_cap_rate=0.2,
    relationship_value=10000.0,
    lateness_cost_per_unit_day=0.5,
    po_line_id=7,
    po_eta=date(2025, 2, 3),
    po_unit_cost=300.0,
    po_p_delay=0.4,
    po_days_late_if_delayed=10.0,
)
TRANSFER = StockElsewhere(location="WH-B", available=6, cost_per_unit=2.0, lead_time_days=2)
SUPPLIER = AlternateSupplier(
    supplier_id=3,
    code="SUP-X",
    lead_time_days=5,
    cost_ratio=1.05,
    p_delay=0.1,
    days_late_if_delayed=4.0,
)
SUBSTITUTE = SubstituteStock(sku="SKU-S", location="WH-A", available=10, premium_rate=0.1)
OPTIONS = Options(stock_elsewhere=(TRANSFER,), suppliers=(SUPPLIER,), substitutes=(SUBSTITUTE,))


def test_expected_loss_by_part() -> None:
    loss = act.expected_loss(CASE)
    assert loss["sla"] == pytest.approx(820)
    assert loss["churn"] == pytest.approx(480)
    assert loss["lateness"] == pytest.approx(55)
    assert loss["total"] == pytest.approx(1355)


def test_expedite_fee_new_eta_and_benefit() -> None:
    a = act.expedite(CASE, POLICY)
    assert a is not None and a.kind is Kind.EXPEDITE
    # 14 days to go, half saved → 7 days: 2025-01-27, on time.
    assert a.arrival == date(2025, 1, 27)
    assert a.cost == pytest.approx(0.15 * 300 * 10 + 250)  # 700
    # On time unless the halved delay risk (0.2) hits: 10 days late, capped, $1,000 × 0.2 =
    # $200 of penalty left of 820: SLA 620. P(breach) 0.8 → min(0.8, 0.2) = 0.2: churn 360;
    # lateness 11 → 2 days: 45.
    assert a.p_breach_after == pytest.approx(0.2)
    assert a.benefit == pytest.approx(620 + 360 + 45)
    assert a.net == pytest.approx(325)
    assert str(a.approval_amount()) == "1725.00"  # benefit 1025 + fee 700


def test_expedite_needs_a_po_line() -> None:
    assert act.expedite(replace(CASE, po_line_id=None, po_eta=None), POLICY) is None


def test_alternate_supplier_premium_lead_time_and_its_delay_risk() -> None:
    a = act.alternate_supplier(CASE, SUPPLIER, POLICY, current_cost_ratio=1.0)
    assert a is not None
    assert a.arrival == date(2025, 1, 25)
    # Premium 10% spot + 5% dearer than the current supplier; the purchase is committed.
    assert a.cost == pytest.approx(300 * 0.15 * 10)  # 450
    assert a.committed == pytest.approx(300 * 1.15 * 10)  # 3450
    # Arrives 2 days early; a delay (4 days) would make it 2 days late: P(breach) → 0.1, and
    # 0.1 × $5,000 × 2 days × 2 % = $20 of penalty left of 820: SLA 800, churn 420, lateness 55.
    assert a.p_breach_after == pytest.approx(0.1)
    assert a.benefit == pytest.approx(800 + 420 + 55)
    assert a.net == pytest.approx(825)
    assert "SUP-X" in a.explanation and "10%" in a.explanation


def test_alternate_supplier_arriving_after_the_promise_removes_no_breach_risk() -> None:
    slow = replace(SUPPLIER, lead_time_days=30)
    a = act.alternate_supplier(CASE, slow, POLICY)
    assert a is not None
    assert a.p_breach_after == pytest.approx(0.8)  # unchanged: it cannot make the date
    assert a.benefit == 0.0
    assert a.net < 0


def test_transfer_covers_part_of_the_late_units_at_lane_cost() -> None:
    a = act.transfer(CASE, TRANSFER)
    assert a is not None
    assert (a.units, a.arrival) == (6, date(2025, 1, 22))
    assert a.cost == pytest.approx(12)
    # 6 of 10 late units arrive in time with slack for a 2-day slip: 60 % of the $820 penalty
    # (492), P(breach) drop 0.8 × 0.6 = 0.48 (churn 288), lateness 6 × 11 × 0.5 (33).
    assert a.benefit == pytest.approx(492 + 288 + 33)
    assert a.p_breach_after == pytest.approx(0.32)
    assert a.details["from_location"] == "WH-B"


def test_substitute_without_consent_is_a_proposal_discounted_by_acceptance() -> None:
    a = act.substitute(CASE, SUBSTITUTE)
    assert a is not None
    assert a.needs_consent
    assert a.explanation.startswith("Propose to the customer")
    assert a.benefit == pytest.approx(1355 * act.SUBSTITUTE_ACCEPTANCE)
    assert a.cost == pytest.approx(0.1 * 500 * 10 * act.SUBSTITUTE_ACCEPTANCE)


def test_substitute_with_contract_consent_is_done() -> None:
    a = act.substitute(replace(CASE, allows_substitution=True), SUBSTITUTE)
    assert a is not None
    assert not a.needs_consent
    assert a.explanation.startswith("Ship (the contract allows substitutes)")
    assert a.benefit == pytest.approx(1355)
    assert a.cost == pytest.approx(500)


def test_a_cheaper_substitute_costs_nothing_not_a_negative_amount() -> None:
    a = act.substitute(CASE, replace(SUBSTITUTE, premium_rate=-0.2))
    assert a is not None
    assert a.cost == 0 and a.approval_amount() >= 0


def test_ship_partial_only_when_allowed() -> None:
    partial = replace(CASE, from_stock=4, on_time_units=4)
    a = act.ship_partial(partial, POLICY)
    assert a is not None
    assert a.cost == pytest.approx(75)
    assert a.benefit == pytest.approx(820 * 0.4)  # the penalty still to accrue on 4 of 10 units
    assert act.ship_partial(replace(partial, allows_partial_ship=False), POLICY) is None


def test_ship_partial_needs_some_but_not_all_units_in_stock() -> None:
    assert act.ship_partial(CASE, POLICY) is None
    assert act.ship_partial(replace(CASE, from_stock=10), POLICY) is None


def test_outreach_credit_and_churn_drop() -> None:
    a = act.outreach(CASE, POLICY)
    assert a is not None
    assert a.committed == pytest.approx(0.05 * 500 * 10)  # 250
    assert a.cost == pytest.approx(250 + act.OUTREACH_CALL_COST)
    assert a.benefit == pytest.approx(0.2 * act.OUTREACH_CHURN_DROP * 10000)  # 600
    assert act.outreach(replace(CASE, p_churn=0.0), POLICY) is None


def test_hold_for_complete_is_the_free_reference() -> None:
    a = act.hold_for_complete(replace(CASE, allows_partial_ship=False))
    assert (a.cost, a.benefit, a.committed, a.net) == (0, 0, 0, 0)
    assert "does not take partial shipments" in a.explanation
    assert "$1,355" in a.explanation


def test_breach_after_arrival_against_promise() -> None:
    promised = date(2025, 1, 27)
    assert act.breach_after(0.8, promised, date(2025, 1, 28), 0.0, 0.0) == 1.0
    assert act.breach_after(0.8, promised, date(2025, 1, 27), 0.3, 1.0) == 0.3
    assert act.breach_after(0.8, promised, date(2025, 1, 25), 0.3, 2.0) == 0.0  # slack absorbs
    assert act.breach_after(0.2, promised, date(2025, 1, 27), 0.3, 5.0) == 0.2  # never raises


#: A spot market quote that is never late (its benefit is the arrival alone).
SPOT = AlternateSupplier(
    supplier_id=-1,
    code="spot",
    lead_time_days=3,
    cost_ratio=1.0,
    p_delay=0.0,
    days_late_if_delayed=0.0,
)


def _sla_saved(case: Case, supplier: AlternateSupplier = SPOT) -> float:
    a = act.alternate_supplier(case, supplier, POLICY)
    assert a is not None
    return float(a.details["benefit_parts"]["sla"])


def test_an_overdue_line_saves_the_penalty_of_the_days_it_no_longer_waits() -> None:
    # 14 days overdue on 2025-02-10, the PO line due 2025-02-20 (24 days late, no delay risk):
    # 1 % a day of $5,000. A spot buy arriving in 3 days (17 days late) saves 7 days × $50; the
    # 14 days already late are paid either way.
    overdue = replace(
        CASE,
        today=date(2025, 2, 10),
        late_arrival=date(2025, 2, 20),
        po_eta=date(2025, 2, 20),
        po_p_delay=0.0,
        penalty_rate_per_day=0.01,
        penalty_cap_rate=0.5,
    )
    assert overdue.days_overdue == 14
    assert act.expected_loss(overdue)["sla"] == pytest.approx(10 * 50)
    assert _sla_saved(overdue) == pytest.approx(7 * 50)
    # Capped at 20 % ($1,000 = 20 days): the plan accrues only to day 20, the buy to day 17.
    assert _sla_saved(replace(overdue, penalty_cap_rate=0.2)) == pytest.approx(3 * 50)


def test_a_line_whose_penalty_reached_the_cap_saves_no_penalty() -> None:
    # 25 days overdue at 1 % a day with a 20 % cap: the cap was reached 5 days ago.
    capped = replace(
        CASE,
        today=date(2025, 2, 21),
        late_arrival=date(2025, 3, 1),
        po_eta=date(2025, 3, 1),
        penalty_rate_per_day=0.01,
        penalty_cap_rate=0.2,
    )
    assert act.expected_loss(capped)["sla"] == 0.0
    assert _sla_saved(capped) == 0.0
    partial = act.ship_partial(replace(capped, from_stock=4, on_time_units=4), POLICY)
    assert partial is not None and partial.benefit == 0.0


def test_an_action_still_after_the_promise_saves_only_the_days_it_gains() -> None:
    # Not yet due (promised 2025-01-27), the plan delivers 2025-02-10 (14 days late, no delay
    # risk), 1 % a day of $5,000 uncapped: a buy arriving 2025-02-03 (7 days late) saves 7 days.
    late = replace(
        CASE,
        late_arrival=date(2025, 2, 10),
        po_eta=date(2025, 2, 10),
        po_p_delay=0.0,
        penalty_rate_per_day=0.01,
        penalty_cap_rate=1.0,
    )
    a = act.alternate_supplier(late, replace(SPOT, lead_time_days=14), POLICY)
    assert a is not None and a.arrival == date(2025, 2, 3)
    assert a.details["benefit_parts"]["sla"] == pytest.approx(7 * 50)
    assert a.p_breach_after == 0.8  # it still breaches: P(breach) unchanged, no churn benefit
    assert a.details["benefit_parts"]["churn"] == 0.0


def test_expedite_saves_the_expected_days_late_of_the_po_lines_delay_risk() -> None:
    # Uncapped 1 % a day of $5,000: the PO line is 7 days late, 17 with P(delay) 0.4 (11
    # expected days); expedited it is due on the promise with P(delay) 0.2 (2 expected days).
    uncapped = replace(CASE, penalty_rate_per_day=0.01, penalty_cap_rate=1.0)
    a = act.expedite(uncapped, POLICY)
    assert a is not None and a.arrival == date(2025, 1, 27)
    assert a.details["benefit_parts"]["sla"] == pytest.approx((11 - 2) * 50)


def test_no_penalty_terms_no_sla_benefit() -> None:
    free = replace(CASE, penalty_rate_per_day=0.0)
    assert act.expected_loss(free)["sla"] == 0.0
    assert _sla_saved(free) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0, 0.05),
    cap=st.floats(0, 0.5),
    overdue=st.integers(-20, 60),
    plan_days=st.one_of(st.none(), st.integers(-5, 60)),
    po_p_delay=st.floats(0, 1),
    po_late=st.floats(0, 20),
    lead=st.integers(0, 40),
    p_delay=st.floats(0, 1),
    late_if_delayed=st.floats(0, 20),
)
def test_the_penalty_saved_is_never_negative_nor_above_the_capped_exposure(
    rate: float,
    cap: float,
    overdue: int,
    plan_days: int | None,
    po_p_delay: float,
    po_late: float,
    lead: int,
    p_delay: float,
    late_if_delayed: float,
) -> None:
    today = CASE.today
    arrival = None if plan_days is None else today + timedelta(days=plan_days)
    case = replace(
        CASE,
        promised_date=today - timedelta(days=overdue),
        late_arrival=arrival,
        po_eta=arrival,
        po_p_delay=po_p_delay if arrival else 0.0,
        po_days_late_if_delayed=po_late,
        penalty_rate_per_day=rate,
        penalty_cap_rate=cap,
    )
    value = case.value_at_risk
    left = value * (cap - min(rate * case.days_overdue, cap))  # the cap not yet paid
    plan = act.expected_loss(case)["sla"]
    assert -1e-9 <= plan <= left + 1e-9
    supplier = replace(
        SPOT, lead_time_days=lead, p_delay=p_delay, days_late_if_delayed=late_if_delayed
    )
    saved = _sla_saved(case, supplier)
    assert 0.0 <= saved <= plan + 1e-9 <= value * cap + 1e-9


def test_ranked_by_net_value_and_capped() -> None:
    ranked = act.recommend(CASE, OPTIONS, POLICY, limit=10)
    kinds = [a.kind for a in ranked]
    # alternate 825, transfer 801, substitute 513, expedite 325 = outreach 325 (kind order), hold 0.
    assert kinds == [
        Kind.ALTERNATE_SUPPLIER,
        Kind.TRANSFER,
        Kind.SUBSTITUTE,
        Kind.EXPEDITE,
        Kind.OUTREACH,
        Kind.HOLD,
    ]
    nets = [a.net for a in ranked]
    assert nets == sorted(nets, reverse=True)
    assert [a.kind for a in act.recommend(CASE, OPTIONS, POLICY)] == kinds[:4]  # policy: 4


def test_cap_comes_from_the_policy() -> None:
    policy = POLICY.model_copy(
        update={
            "recommendations": POLICY.recommendations.model_copy(update={"max_per_backorder": 2})
        }
    )
    assert len(act.recommend(CASE, OPTIONS, policy)) == 2


def test_only_the_best_of_each_kind_is_kept() -> None:
    far = StockElsewhere(location="WH-C", available=10, cost_per_unit=6.0, lead_time_days=5)
    ranked = act.recommend(CASE, replace(OPTIONS, stock_elsewhere=(TRANSFER, far)), POLICY, 10)
    transfers = [a for a in ranked if a.kind is Kind.TRANSFER]
    assert len(transfers) == 1
    # WH-C covers all 10 units (benefit 1355 − 60) and beats WH-B's 6 units (813 − 12).
    assert transfers[0].details["from_location"] == "WH-C"


def test_actions_that_remove_no_expected_loss_are_not_proposed() -> None:
    slow = replace(SUPPLIER, lead_time_days=30)
    kinds = [a.kind for a in act.candidates(CASE, replace(OPTIONS, suppliers=(slow,)), POLICY)]
    assert Kind.ALTERNATE_SUPPLIER not in kinds
    assert kinds[-1] is Kind.HOLD  # the reference is always there


@settings(max_examples=150, deadline=None)
@given(
    p_sla=st.floats(0, 1),
    p_churn=st.floats(0, 1),
    open_qty=st.integers(1, 50),
    on_time=st.integers(0, 50),
    from_stock=st.integers(0, 50),
    eta_days=st.integers(-5, 40),
    promise_days=st.integers(-10, 30),
    p_delay=st.floats(0, 1),
    partial=st.booleans(),
    consent=st.booleans(),
    lead=st.integers(0, 40),
    premium=st.floats(-0.5, 0.5),
    limit=st.integers(1, 7),
)
def test_valuation_invariants(
    p_sla: float,
    p_churn: float,
    open_qty: int,
    on_time: int,
    from_stock: int,
    eta_days: int,
    promise_days: int,
    p_delay: float,
    partial: bool,
    consent: bool,
    lead: int,
    premium: float,
    limit: int,
) -> None:
    today = CASE.today
    case = replace(
        CASE,
        p_sla_breach=p_sla,
        p_churn=p_churn,
        open_quantity=open_qty,
        on_time_units=min(on_time, open_qty),
        from_stock=min(from_stock, open_qty),
        po_eta=today + timedelta(days=eta_days),
        late_arrival=today + timedelta(days=eta_days),
        promised_date=today + timedelta(days=promise_days),
        po_p_delay=p_delay,
        allows_partial_ship=partial,
        allows_substitution=consent,
    )
    options = replace(
        OPTIONS,
        suppliers=(replace(SUPPLIER, lead_time_days=lead),),
        substitutes=(replace(SUBSTITUTE, premium_rate=premium),),
    )
    found = act.candidates(case, options, POLICY)
    assert found[-1].kind is Kind.HOLD
    for a in found:
        assert a.benefit >= 0 and a.cost >= 0 and a.committed >= 0
        assert a.approval_amount() >= 0
        assert a.net == pytest.approx(a.benefit - a.cost)
        assert a.p_breach_after <= p_sla + 1e-12
        if a.kind is Kind.SUBSTITUTE:
            assert a.needs_consent is (not consent)
        if a.kind is Kind.SHIP_PARTIAL:
            assert partial
    ranked = act.recommend(case, options, POLICY, limit)
    assert 1 <= len(ranked) <= limit
    assert len({a.kind for a in ranked}) == len(ranked)
    nets = [round(a.net, 2) for a in ranked]
    assert nets == sorted(nets, reverse=True)

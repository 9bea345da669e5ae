"""One business rule per test, on instances small enough to check by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from allotment.allocation.baselines import fcfs, greedy
from allotment.allocation.errors import AllocationInputInvalidError
from allotment.allocation.problem import InTransit, OnHand, Substitute, TransferLane
from allotment.allocation.solve import solve
from tests.allocation.helpers import TODAY, line, problem


def test_never_oversells_a_location() -> None:
    a, b = line(quantity=10), line(quantity=10)
    result = solve(problem(a, b, stock=12))
    assert result.status == "optimal"
    assert result.line(a.line_id).allocated + result.line(b.line_id).allocated == 12


def test_never_oversells_a_po_line() -> None:
    a, b = line(quantity=10), line(quantity=10)
    po = InTransit(7, "SKU-A", "DC-East", 6, TODAY + timedelta(days=2))
    result = solve(problem(a, b, in_transit=(po,)))
    assert sum(r.quantity for r in result.plan if r.po_line_id == 7) == 6
    assert {r.arrival for r in result.plan} == {(TODAY + timedelta(days=2)).isoformat()}


def test_all_or_nothing_line_gets_all_or_nothing() -> None:
    whole = line(quantity=10, all_or_nothing=True, priority_weight=50.0)
    result = solve(problem(whole, stock=6))
    assert result.line(whole.line_id).allocated == 0
    assert result.line(whole.line_id).binding == [f"all_or_nothing[{whole.name}]"]
    assert solve(problem(whole, stock=10)).line(whole.line_id).allocated == 10


def test_all_or_nothing_order_spans_skus() -> None:
    # One order, two SKUs: SKU-B is short, so SKU-A's line must not ship either.
    a = line(order_id=99, all_or_nothing=True, quantity=5)
    b = line(order_id=99, all_or_nothing=True, quantity=5, sku="SKU-B")
    p = problem(
        a, b, stock=5, on_hand=(OnHand("SKU-A", "DC-East", 5), OnHand("SKU-B", "DC-East", 4))
    )
    result = solve(p)
    assert (result.line(a.line_id).allocated, result.line(b.line_id).allocated) == (0, 0)
    assert result.stats["components"] == 1


def test_minimum_fill_is_honoured_against_a_higher_priority_line() -> None:
    vip = line(priority_weight=100.0)
    committed = line(priority_weight=1.0, minimum_fill=0.5)
    result = solve(problem(vip, committed, stock=10))
    assert result.line(committed.line_id).allocated == 5
    assert result.line(vip.line_id).allocated == 5


def test_customer_fill_commitment_is_met_over_all_its_lines() -> None:
    # Customer 7 is promised half of its 20 open units, on two SKUs. SKU-B has 6 units for it;
    # the other 4 must come from SKU-A, which a $100 line would otherwise take completely.
    a = line(customer_id=7, quantity=10, priority_weight=1.0)
    b = line(customer_id=7, quantity=10, priority_weight=1.0, sku="SKU-B")
    rival = line(customer_id=8, quantity=10, priority_weight=100.0)
    on_hand = (OnHand("SKU-A", "DC-East", 10), OnHand("SKU-B", "DC-East", 6))
    free = problem(a, b, rival, on_hand=on_hand)
    assert [solve(free).line(x.line_id).allocated for x in (a, b, rival)] == [0, 6, 10]
    committed = replace(free, customer_minimum_fill={7: 0.5})
    result = solve(committed)
    assert [result.line(x.line_id).allocated for x in (a, b, rival)] == [4, 6, 6]
    assert result.stats["components"] == 1  # the commitment links SKU-A and SKU-B
    assert "customer_minimum_fill[customer 7]" in result.binding()
    # Greedy meets it too, with line a first (ties by line id): 10 units of SKU-A the $100 line
    # then misses, $16 in all against $610.
    g = greedy(committed)
    assert (g.unmet, g.objective, result.objective) == (
        [],
        pytest.approx(16.0),
        pytest.approx(610.0),
    )


def test_customer_fill_commitment_supply_cannot_meet_is_infeasible() -> None:
    a = line(customer_id=7, quantity=10)
    b = line(customer_id=7, quantity=10, sku="SKU-B")
    on_hand = (OnHand("SKU-A", "DC-East", 5), OnHand("SKU-B", "DC-East", 4))
    p = problem(a, b, on_hand=on_hand, customer_minimum_fill={7: 0.5})
    result = solve(p)
    assert result.status == "infeasible"
    assert "customer_minimum_fill[customer 7]" in result.conflicts
    relaxed = solve(p, relax_minimum_fill=True)
    assert relaxed.status == "relaxed"
    assert relaxed.line(a.line_id).allocated + relaxed.line(b.line_id).allocated == 9


def test_locked_allocation_is_kept() -> None:
    vip = line(priority_weight=100.0)
    locked = line(priority_weight=1.0, locked_quantity=4)
    result = solve(problem(vip, locked, stock=10))
    assert result.line(locked.line_id).allocated == 4


def test_substitute_only_with_consent() -> None:
    subs = (Substitute("SKU-A", "SKU-A2", 0.05),)
    stock = (OnHand("SKU-A2", "DC-East", 10),)
    refusing = line(substitution_consent=False)
    result = solve(problem(refusing, on_hand=stock, substitutes=subs))
    assert result.line(refusing.line_id).allocated == 0
    assert "SKU-A2 needs the customer's consent" in result.line(refusing.line_id).reason
    consenting = line(substitution_consent=True, priority_weight=20.0)
    result = solve(problem(consenting, on_hand=stock, substitutes=subs))
    (row,) = result.plan
    assert (row.sku, row.substitute, row.quantity) == ("SKU-A2", True, 10)
    assert row.unit_substitution_cost == pytest.approx(5.0)  # 5 % of $100


def test_higher_priority_line_is_never_worse_off_at_equal_cost() -> None:
    high, low = line(priority_weight=20.0, quantity=5), line(priority_weight=10.0, quantity=5)
    result = solve(problem(low, high, stock=7))
    assert result.line(high.line_id).allocated == 5
    assert result.line(low.line_id).allocated == 2


def test_short_line_reason_names_the_binding_supply_and_its_value() -> None:
    high = line(priority_weight=100.0, quantity=40)
    low = line(priority_weight=85.0, quantity=10)
    result = solve(problem(high, low, stock=40))
    outcome = result.line(low.line_id)
    assert outcome.shortfall == 10
    assert outcome.reason == (
        "SKU-A at DC-East: all 40 units went to higher-priority lines;"
        " one more unit is worth $85.00"
    )
    assert outcome.binding == ["supply_on_hand[SKU-A@DC-East]"]
    assert result.shadow_price("SKU-A", "DC-East") == pytest.approx(85.0)


def test_shadow_prices_equal_the_objective_change_of_one_more_unit() -> None:
    lines = (
        line(priority_weight=50.0, quantity=2),
        line(priority_weight=30.0, quantity=2, location="DC-West"),
        line(priority_weight=12.0, quantity=3),
    )
    lanes = (TransferLane("DC-East", "DC-West", 4.0, 2), TransferLane("DC-West", "DC-East", 4.0, 2))
    po = InTransit(
        5, "SKU-A", "DC-West", 1, TODAY + timedelta(days=30), p_delay=0.5, days_late_if_delayed=6
    )
    base = problem(*lines, stock=3, lanes=lanes, in_transit=(po,), lateness_cost_per_unit_day=0.5)
    result = solve(base)
    east = result.shadow_price("SKU-A", "DC-East")
    more = replace(base, on_hand=(OnHand("SKU-A", "DC-East", 4),))
    assert solve(more).objective - result.objective == pytest.approx(east)
    (po_price,) = [s for s in result.shadow_prices if s.po_line_id == 5]
    more_po = replace(base, in_transit=(replace(po, quantity=2),))
    assert solve(more_po).objective - result.objective == pytest.approx(po_price.usd_per_unit)
    # By hand: the West line pays $13/unit expected lateness on the PO line (26 days x $0.50),
    # so one more PO unit frees an East unit for the $12 line: 17 - 26 + 12 = $3.
    assert east == pytest.approx(12.0)
    assert po_price.usd_per_unit == pytest.approx(3.0)


def test_protected_share_reserves_stock_for_a_higher_tier() -> None:
    vip = line(tier="vip", priority_weight=1.0, quantity=5)
    standard = line(tier="standard", priority_weight=100.0, quantity=10)
    result = solve(problem(vip, standard, stock=10, protected_share={"vip": 0.2}))
    assert result.line(standard.line_id).allocated == 8
    assert result.line(vip.line_id).allocated == 2
    assert "reserved for vip lines" in result.line(standard.line_id).reason


def test_transfer_needs_a_lane_and_costs_money_and_days() -> None:
    west = line(location="DC-West", priority_weight=10.0)
    stock = (OnHand("SKU-A", "DC-East", 10),)
    assert solve(problem(west, on_hand=stock)).line(west.line_id).allocated == 0
    lanes = (TransferLane("DC-East", "DC-West", 3.0, 4),)
    result = solve(problem(west, on_hand=stock, lanes=lanes))
    (row,) = result.plan
    assert (row.quantity, row.arrival) == (10, (TODAY + timedelta(days=4)).isoformat())
    assert result.objective == pytest.approx(10 * (10.0 - 3.0))
    assert result.line(west.line_id).from_stock == 10


def test_expected_lateness_prefers_stock_on_hand_over_a_risky_po() -> None:
    due = line(quantity=5, promised_date=TODAY + timedelta(days=1), priority_weight=10.0)
    po = InTransit(
        3, "SKU-A", "DC-East", 5, TODAY + timedelta(days=5), p_delay=1.0, days_late_if_delayed=4
    )
    result = solve(problem(due, stock=5, in_transit=(po,), lateness_cost_per_unit_day=1.0))
    assert {r.source_kind for r in result.plan} == {"on_hand"}
    # The PO line would be 4 + 4 = 8 days late: $8/unit of lateness against $10 of priority.
    po_only = solve(problem(due, in_transit=(po,), lateness_cost_per_unit_day=1.0))
    assert po_only.objective == pytest.approx(5 * (10.0 - 8.0))
    assert po_only.line(due.line_id).in_transit == 5


def test_locked_quantity_larger_than_supply_is_an_infeasible_result() -> None:
    locked = line(locked_quantity=8)
    result = solve(problem(locked, stock=5))
    assert result.status == "infeasible"
    assert f"locked[{locked.name}]" in result.conflicts
    assert "supply_on_hand[SKU-A@DC-East]" in result.conflicts
    assert result.line(locked.line_id).reason.startswith("infeasible:")


def test_minimum_fill_supply_cannot_meet_is_infeasible_or_relaxed_on_request() -> None:
    committed = line(minimum_fill=0.9)
    other = line(sku="SKU-B", quantity=3)
    p = problem(
        committed,
        other,
        stock=5,
        on_hand=(OnHand("SKU-A", "DC-East", 5), OnHand("SKU-B", "DC-East", 3)),
    )
    result = solve(p)
    assert result.status == "infeasible"
    assert f"minimum_fill[{committed.name}]" in result.conflicts
    assert result.line(other.line_id).allocated == 3  # other components keep their plan
    relaxed = solve(p, relax_minimum_fill=True)
    assert relaxed.status == "relaxed"
    assert relaxed.line(committed.line_id).allocated == 5


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"quantity": 0}, "lines[0].quantity"),
        ({"locked_quantity": 11}, "lines[0].locked_quantity"),
        ({"minimum_fill": 1.5}, "lines[0].minimum_fill"),
        ({"tier": "gold"}, "lines[0].tier"),
        ({"priority_weight": float("nan")}, "lines[0].priority_weight"),
    ],
)
def test_invalid_input_names_the_field(bad: dict[str, object], field: str) -> None:
    with pytest.raises(AllocationInputInvalidError) as err:
        solve(problem(line(**bad)))
    assert err.value.field == field
    assert err.value.status_code == 422


@pytest.mark.parametrize(
    ("commitments", "field"),
    [({1: 0.5}, "customer_minimum_fill.1"), ({42: 1.5}, "customer_minimum_fill.42")],
)
def test_invalid_fill_commitment_names_the_customer(
    commitments: dict[int, float], field: str
) -> None:
    with pytest.raises(AllocationInputInvalidError) as err:
        solve(problem(line(customer_id=42), customer_minimum_fill=commitments))
    assert err.value.field == field


def test_greedy_fills_by_priority_and_fcfs_by_order_date() -> None:
    old = line(priority_weight=5.0, ordered_on=TODAY - timedelta(days=30))
    urgent = line(priority_weight=50.0, ordered_on=TODAY - timedelta(days=1))
    p = problem(old, urgent, stock=10)
    g, f = greedy(p), fcfs(p)
    net = g.network
    assert np.dot(net.arc_gain, g.flows) == pytest.approx(500.0) == g.objective
    assert f.objective == pytest.approx(50.0)
    assert g.unmet == [] and f.unmet == []


def test_time_limit_falls_back_to_greedy_and_says_so() -> None:
    high, low = line(priority_weight=20.0, quantity=5), line(priority_weight=10.0, quantity=5)
    p = problem(low, high, stock=7)
    result = solve(p, time_limit=0.0)
    assert result.status == "fallback"
    assert result.issues[0].detail.startswith("solver stopped (time limit reached")
    assert result.objective == pytest.approx(greedy(p).objective)
    assert result.line(high.line_id).reason == ""
    assert result.line(low.line_id).reason.startswith("greedy fallback (solver stopped): ")

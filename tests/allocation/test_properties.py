"""Invariants on random instances (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allotment.allocation.baselines import fcfs, greedy
from allotment.allocation.problem import OnHand
from allotment.allocation.solve import solve
from allotment.allocation.synthetic import random_problem
from tests.allocation.helpers import line, problem

seeds = st.integers(min_value=0, max_value=100_000)
sizes = st.integers(min_value=5, max_value=80)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n_lines=sizes, fix_orders=st.booleans())
def test_plan_never_oversells_and_keeps_orders_whole(
    seed: int, n_lines: int, fix_orders: bool
) -> None:
    p = random_problem(seed, n_lines=n_lines, n_skus=max(2, n_lines // 4), all_or_nothing_share=0.2)
    # mip_max_arcs=0: every component with all-or-nothing orders gets greedy-chosen orders + LP.
    result = solve(p, mip_max_arcs=0 if fix_orders else 20_000)
    net, x = result.network, result.flows
    assert np.all(x >= 0) and np.all(x == np.round(x))
    used = np.bincount(net.arc_node, weights=x, minlength=net.n_nodes)
    assert np.all(used <= net.node_capacity + 1e-9)
    got = np.bincount(net.arc_line, weights=x, minlength=net.n_lines)
    assert np.all(got <= net.line_quantity)
    for g in np.unique(net.line_group[net.line_group >= 0]):
        members = net.line_group == g
        filled = got[members] == net.line_quantity[members]
        empty = got[members] == 0
        assert filled.all() or empty.all()


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n_lines=sizes, fix_orders=st.booleans())
def test_optimizer_objective_is_at_least_greedy_and_fcfs(
    seed: int, n_lines: int, fix_orders: bool
) -> None:
    p = random_problem(seed, n_lines=n_lines, n_skus=max(2, n_lines // 4), all_or_nothing_share=0.2)
    result = solve(p, mip_max_arcs=0 if fix_orders else 20_000)
    assert result.status in ("optimal", "heuristic")
    assert result.objective >= greedy(p).objective - 1e-6
    if not fix_orders:
        # Exact components beat every feasible plan; greedy-chosen orders only beat greedy.
        assert result.objective >= fcfs(p).objective - 1e-6


@settings(max_examples=15, deadline=None)
@given(seed=seeds, n_lines=st.integers(min_value=20, max_value=120))
def test_component_split_gives_the_monolithic_objective(seed: int, n_lines: int) -> None:
    p = random_problem(seed, n_lines=n_lines, n_skus=max(2, n_lines // 5), all_or_nothing_share=0.1)
    split = solve(p, mip_gap=0.0)
    whole = solve(p, mip_gap=0.0, monolithic=True)
    assert split.stats["components"] > 1 or n_lines < 30
    assert split.objective == pytest.approx(whole.objective, rel=1e-9, abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=100), min_size=2, max_size=8),
    quantities=st.lists(st.integers(min_value=1, max_value=9), min_size=8, max_size=8),
    stock=st.integers(min_value=0, max_value=40),
)
def test_a_higher_priority_line_is_never_worse_off(
    weights: list[int], quantities: list[int], stock: int
) -> None:
    lines = [
        line(priority_weight=float(w), quantity=q)
        for w, q in zip(weights, quantities, strict=False)
    ]
    result = solve(problem(*lines, on_hand=(OnHand("SKU-A", "DC-East", stock),)))
    got = {o.line_id: o for o in result.lines}
    for hi in lines:
        for lo in lines:
            if hi.priority_weight > lo.priority_weight and got[lo.line_id].allocated > 0:
                assert got[hi.line_id].shortfall == 0


@settings(max_examples=15, deadline=None)
@given(seed=seeds, n_lines=st.integers(min_value=5, max_value=40))
def test_shadow_price_is_the_value_of_one_more_unit(seed: int, n_lines: int) -> None:
    # LP instances (no all-or-nothing orders, no protected shares whose reserve moves with the
    # supply): the reported price of stock at a location is exactly what one more unit adds.
    p = random_problem(
        seed,
        n_lines=n_lines,
        n_skus=max(2, n_lines // 5),
        all_or_nothing_share=0.0,
        protected=False,
    )
    base = solve(p)
    stock = {(s.sku, s.location): s for s in p.on_hand}
    for price in [s for s in base.shadow_prices if s.kind == "sku_location"][:4]:
        current = stock.get((price.sku, price.location))
        extra = OnHand(price.sku, price.location, (current.quantity if current else 0) + 1)
        more = (*(s for s in p.on_hand if s is not current), extra)
        bumped = solve(replace(p, on_hand=more))
        assert bumped.objective - base.objective == pytest.approx(
            price.usd_per_unit, rel=1e-6, abs=1e-4
        )


@settings(max_examples=15, deadline=None)
@given(
    seed=seeds,
    n_lines=st.integers(min_value=30, max_value=150),
    relax=st.booleans(),
    fix_orders=st.booleans(),
)
def test_plan_is_the_same_whatever_the_number_of_workers(
    seed: int, n_lines: int, relax: bool, fix_orders: bool
) -> None:
    p = random_problem(seed, n_lines=n_lines, n_skus=max(2, n_lines // 6), all_or_nothing_share=0.2)
    # Some contracts ask for full fill (often more than the stock: infeasible components), some
    # lines hold locked units.
    lines = tuple(
        replace(ln, minimum_fill=1.0)
        if k % 9 == 0
        else replace(ln, locked_quantity=1)
        if k % 13 == 0
        else ln
        for k, ln in enumerate(p.lines)
    )
    p = replace(p, lines=lines)
    # Small batches: many independent jobs for the pool (and inline with one worker).
    kwargs = {
        "batch_arcs": 40,
        "relax_minimum_fill": relax,
        "mip_max_arcs": 0 if fix_orders else 20_000,
    }
    one = solve(p, workers=1, **kwargs)
    three = solve(p, workers=3, **kwargs)
    assert three.stats["workers"] > 1 or one.stats["components"] <= 1
    assert three.status == one.status
    assert three.objective == one.objective
    assert np.array_equal(three.flows, one.flows)
    assert three.binding_rows == one.binding_rows
    assert three.shadow_prices == one.shadow_prices
    assert three.lines == one.lines
    assert [(i.kind, i.lines, i.detail, i.conflicts) for i in three.issues] == [
        (i.kind, i.lines, i.detail, i.conflicts) for i in one.issues
    ]

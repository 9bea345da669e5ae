"""How the simulator counts money lost, one business rule per test."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from allotment.policy.documents import shipped_policy
from allotment.simulation.engine import play
from allotment.simulation.ledger import LEVELS, Ledger, accrue_penalty
from allotment.world.model import World


def test_penalties_accrue_per_day_late_at_the_contract_rate_up_to_its_cap() -> None:
    # A $100 line, 1 % a day, capped at 10 % of its value: $1 a day for ten days, then nothing.
    accrued = np.zeros(1)
    history = []
    for _ in range(15):
        accrued = accrue_penalty(accrued, np.array([100.0]), np.array([0.01]), np.array([10.0]))
        history.append(float(accrued[0]))
    assert history[:5] == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0])
    assert history[9:] == pytest.approx([10.0] * 6)


def test_a_churned_customers_lifetime_value_is_counted_once(tiny_world: World) -> None:
    world = copy.deepcopy(tiny_world)
    ledger = Ledger(world, shipped_policy("default"))
    customer = int(np.flatnonzero(world.cust_churn_day < 0)[0])
    world.cust_churn_day[customer] = world.day + 10  # decided today, leaves within the month
    ledger.after_day(world, world.day)
    ledger.after_day(world, world.day + 1)
    outcome = ledger.outcome(world)
    assert outcome.churned_customers == 1
    assert outcome.churn == pytest.approx(world.cust_shipped_cents[customer] / 100.0)


def test_a_cancelled_line_loses_its_open_units_margin(tiny_world: World) -> None:
    world = copy.deepcopy(tiny_world)
    ledger = Ledger(world, shipped_policy("default"))
    line = int(world.waiting[0])
    world.lines["cancel_day"][line] = world.day
    ledger.after_day(world, world.day)
    lines = world.lines
    units = int(lines["qty"][line] - lines["shipped"][line])
    cost = world.prod_cost_cents[world.pair_product[lines["pair"][line]]]
    expected = units * (int(lines["price"][line]) - int(cost)) / 100.0
    assert ledger.outcome(world).cancellations == pytest.approx(expected)


def test_every_spot_buy_needs_exactly_one_approval_level(tiny_world: World) -> None:
    _, outcome = play(tiny_world, "static-tier", 30)
    assert outcome.spot_buys > 0
    assert sum(outcome.approvals[level] for level in LEVELS) == outcome.spot_buys


def test_a_late_line_pays_its_customers_contract_rate_on_its_open_value(tiny_world: World) -> None:
    world = copy.deepcopy(tiny_world)
    ledger = Ledger(world, shipped_policy("default"))
    line = int(world.waiting[0])
    world.waiting = world.waiting[:1]
    world.lines["promised"][line] = world.day - 1
    ledger.after_day(world, world.day)
    lines = world.lines
    contract = world.cust_contract[lines["customer"][line]]
    open_value = (lines["qty"][line] - lines["shipped"][line]) * lines["price"][line] / 100.0
    cap = world.contracts["penalty_cap"][contract] * lines["qty"][line] * lines["price"][line] / 100
    expected = min(world.contracts["penalty_rate"][contract] * open_value, cap)
    assert expected > 0
    assert ledger.outcome(world).penalties == pytest.approx(expected)

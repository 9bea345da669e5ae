"""Which backorders each policy buys from the spot market, one rule per test."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from allotment.policy.documents import shipped_policy
from allotment.scoring.blend import Risks
from allotment.simulation.actions import (
    RankedRescues,
    by_net_value,
    by_order_date,
    by_priority,
    oracle_breach,
)
from allotment.simulation.engine import play, play_run, reference_budget
from allotment.simulation.ledger import Ledger
from allotment.simulation.policies import WorldPricing
from allotment.world.model import World
from allotment.world.policies import DemandLines


@pytest.fixture
def world(tiny_world: World) -> World:
    return copy.deepcopy(tiny_world)


def _two_candidates(world: World) -> np.ndarray:
    """Two backorders the world lets a planner buy today, made alike: standard tier, no
    emergency, 2 units at $1,000 ordered 3 days ago, due in 20 days, waiting on a PO line due in
    30 days."""
    bo = world.rescue_candidates(world.day)[:2]
    assert len(bo) == 2
    lines = world.lines
    line = world.backorders["line"][bo]
    po = int(np.flatnonzero(world.pol["for_line"] < 0)[0])
    lines["tier"][line] = 2
    lines["emergency"][line] = False
    lines["qty"][line] = 2
    lines["shipped"][line] = 0
    lines["price"][line] = 100_000
    lines["day"][line] = world.day - 3
    lines["promised"][line] = world.day + 20
    lines["peg"][line] = po
    world.pol["eta"][po] = world.day + 30
    return bo


def _pricing(world: World) -> WorldPricing:
    return WorldPricing(world, world.cust_shipped_cents / 100.0)


class FixedRisks:
    """P(breach) 0.9, no churn and no supplier-delay risk for every line."""

    def risks(self, lines: DemandLines) -> Risks:
        n = len(lines)
        return Risks(np.full(n, 0.9), np.zeros(n), np.zeros(n))


def test_with_one_action_fcfs_buys_the_oldest_order(world: World) -> None:
    bo = _two_candidates(world)
    world.lines["day"][world.backorders["line"][bo[1]]] = world.day - 9
    planner = RankedRescues("fcfs", by_order_date, {world.day: 1})
    assert planner.choose(world, bo, world.day).tolist() == [bo[1]]


def test_with_one_action_static_tier_buys_the_vip_line(world: World) -> None:
    bo = _two_candidates(world)
    world.lines["tier"][world.backorders["line"][bo[1]]] = 0  # VIP: x5
    rank = by_priority(shipped_policy("static-tier"), _pricing(world))
    planner = RankedRescues("static-tier", rank, {world.day: 1})
    assert planner.choose(world, bo, world.day).tolist() == [bo[1]]


def test_static_tier_ranks_an_emergency_above_a_vip_line(world: World) -> None:
    bo = _two_candidates(world)
    line = world.backorders["line"][bo]
    world.lines["tier"][line[0]] = 0  # VIP x5
    world.lines["emergency"][line[1]] = True  # emergency x10
    score, act = by_priority(shipped_policy("static-tier"), _pricing(world))(world, bo, world.day)
    # $2,000 of value + 3 days x $50: 2,150 x 5 for the VIP line, 2,150 x 10 for the emergency.
    assert score.tolist() == pytest.approx([10750.0, 21500.0])
    assert act.all()


def test_blend_buys_the_line_whose_buy_saves_the_most_penalty_days(world: World) -> None:
    """Both customers' contracts: 0.2 % of the value a day late, capped at 15 %."""
    bo = _two_candidates(world)
    world.lines["promised"][world.backorders["line"][bo[0]]] = world.day - 5  # overdue
    lines = world.lines
    line = world.backorders["line"][bo]
    contract = world.cust_contract[lines["customer"][line]]
    world.contracts["penalty_rate"][contract] = 0.002
    world.contracts["penalty_cap"][contract] = 0.15
    rank = by_net_value(shipped_policy("default"), _pricing(world), FixedRisks())
    net, act = rank(world, bo, world.day)
    # Both pay the spot premium: 15 % of the regular cost of 2 units.
    cost = world.prod_cost_cents[world.pair_product[lines["pair"][line]]] / 100.0
    premium = 0.15 * cost * 2
    lead = world.rescue_lead(bo)
    # The overdue line would wait 30 more days (35 late); bought, 5 + lead days late: the
    # contract's 0.2 % a day of $2,000 ($4 a day, far from the 15 % cap) for the 30 - lead days
    # it no longer waits, and 2 units x (30 - lead) days x $0.50 a unit-day. Its 5 days
    # already late are sunk.
    assert net[0] == pytest.approx((30 - lead[0]) * (4.0 + 1.0) - premium[0])
    # The one due in 20 days would be 10 days late; bought, it arrives in time (every lead is
    # at most 14 days): 10 days x $4 of penalty and 10 days x 2 units x $0.50.
    assert net[1] == pytest.approx(10 * (4.0 + 1.0) - premium[1])
    # 30 - lead >= 16 days saved on the overdue line beat 10 on the other.
    assert net[0] > net[1] and act.all()
    planner = RankedRescues("blend", rank, {world.day: 1})
    assert planner.choose(world, bo, world.day).tolist() == [bo[0]]


def test_blend_leaves_a_slot_unused_when_the_po_line_comes_before_the_spot_buy(
    world: World,
) -> None:
    bo = _two_candidates(world)[:1]
    line = world.backorders["line"][bo]
    po = world.lines["peg"][line[0]]
    world.pol["eta"][po] = world.day + 1  # arrives tomorrow, in time: nothing to buy
    rank = by_net_value(shipped_policy("default"), _pricing(world), FixedRisks())
    net, act = rank(world, bo, world.day)
    assert not act.any() and net[0] <= 0
    planner = RankedRescues("blend", rank, {world.day: 1})
    assert planner.choose(world, bo, world.day).tolist() == []
    assert planner.unused == 1


def test_a_policy_never_buys_more_than_the_days_budget(world: World) -> None:
    bo = world.rescue_candidates(world.day)
    assert len(bo) >= 3
    planner = RankedRescues("fcfs", by_order_date, {world.day: 2})
    assert len(planner.choose(world, bo, world.day)) == 2
    assert len(planner.choose(world, bo, world.day + 1)) == 0  # no budget that day


def test_the_world_refuses_to_buy_a_backorder_that_is_not_a_candidate(world: World) -> None:
    closed = np.flatnonzero(world.backorders["status"] >= 4)[:1]
    assert len(closed)
    with pytest.raises(ValueError, match="not rescue candidates"):
        world.buy_spot(closed, world.day)


def test_a_bought_backorder_is_no_longer_a_candidate_and_arrives_after_its_quoted_lead(
    world: World,
) -> None:
    bo = world.rescue_candidates(world.day)[:1]
    lead = int(world.rescue_lead(bo)[0])
    world.buy_spot(bo, world.day)
    assert bo[0] not in world.rescue_candidates(world.day)
    spot = int(np.flatnonzero(world.pol["for_line"] == world.backorders["line"][bo[0]])[-1])
    assert world.pol["arrival"][spot] == world.day + lead


def test_a_spot_buy_costs_its_units_times_the_spot_premium(world: World) -> None:
    ledger = Ledger(world, shipped_policy("default"))
    bo = world.rescue_candidates(world.day)[:1]
    line = int(world.backorders["line"][bo[0]])
    units = int(world.lines["qty"][line] - world.lines["shipped"][line])
    cost = int(world.prod_cost_cents[world.pair_product[world.lines["pair"][line]]])
    world.buy_spot(bo, world.day)
    ledger.after_day(world, world.day)
    out = ledger.outcome(world)
    spot_cost = round(cost * 1.15)  # the world's spot price, in cents
    assert out.action_cost == pytest.approx(units * (spot_cost - cost) / 100.0)
    assert out.total == pytest.approx(
        out.penalties + out.cancellations + out.churn + out.action_cost
    )


def test_every_policy_gets_the_reference_runs_budget_and_no_more(tiny_world: World) -> None:
    budget = reference_budget(tiny_world, 20)
    _, reference = play(tiny_world, "static-tier", 20)  # the world's own planner
    assert sum(budget.values()) == reference.spot_buys > 0
    for name in ("fcfs", "static-tier", "oracle-blend"):
        _, out = play(tiny_world, name, 20, budget=budget)
        assert out.spot_buys + out.actions_unused == sum(budget.values())


def test_the_same_seed_gives_the_same_action_decisions(tiny_world: World) -> None:
    budget = reference_budget(tiny_world, 15)
    for name in ("static-tier", "oracle-blend"):
        first = play_run(tiny_world, name, 15, budget=budget)
        again = play_run(tiny_world, name, 15, budget=budget)
        assert first.rescuer is not None and again.rescuer is not None
        assert first.rescuer.chosen and first.rescuer.chosen == again.rescuer.chosen
        assert first.outcome == again.outcome


def test_policies_choose_different_backorders_on_the_same_draws(tiny_world: World) -> None:
    budget = reference_budget(tiny_world, 15)
    chosen = {}
    for name in ("fcfs", "static-tier", "oracle-blend"):
        run = play_run(tiny_world, name, 15, budget=budget)
        assert run.rescuer is not None
        chosen[name] = {c.backorder for c in run.rescuer.chosen}
    assert chosen["fcfs"] != chosen["static-tier"] != chosen["oracle-blend"]


def test_the_oracle_prices_an_overdue_or_unsupplied_backorder_as_a_certain_breach(
    world: World,
) -> None:
    bo = _two_candidates(world)
    line = world.backorders["line"][bo]
    world.lines["promised"][line[0]] = world.day - 1  # overdue
    world.lines["peg"][line[1]] = -1  # waits on no PO line
    assert oracle_breach(world, line, world.day).tolist() == [1.0, 1.0]


def test_the_oracle_prices_a_po_line_that_is_due_in_time_as_no_breach(world: World) -> None:
    bo = _two_candidates(world)[:1]
    line = world.backorders["line"][bo]
    po = world.lines["peg"][line[0]]
    # Announced twice: its arrival is known, and it is before the promised day.
    world.pol["noticed"][po] = world.pol["noticed2"][po] = True
    world.pol["arrival"][po] = world.day + 5
    assert oracle_breach(world, line, world.day).tolist() == [0.0]

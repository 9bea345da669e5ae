"""The simulator's policies on instances small enough to check by hand."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from allotment.policy.documents import shipped_policy
from allotment.simulation.policies import (
    RankedPolicy,
    SimulationPolicyUnknownError,
    WorldPricing,
    make_policy,
    parse_policies,
)
from allotment.simulation.risks import OracleRisks
from allotment.world.model import World
from allotment.world.policies import DemandLines


@pytest.fixture
def world(tiny_world: World) -> World:
    """The tiny world with its first two lines due in five days (not yet late)."""
    w = copy.deepcopy(tiny_world)
    w.lines["promised"][:2] = w.day + 5
    return w


def _pricing(world: World) -> WorldPricing:
    return WorldPricing(world, world.cust_shipped_cents / 100.0)


def _lines(world: World, **overrides: Any) -> DemandLines:
    n = len(overrides.get("quantity", [5, 5]))
    values: dict[str, Any] = {
        "line_id": np.arange(n, dtype=np.int64),  # real lines of the world (customers, dates)
        "group": np.zeros(n, dtype=np.int64),
        "quantity": np.full(n, 5, dtype=np.int64),
        "allow_partial": np.ones(n, dtype=bool),
        "unit_price": np.full(n, 10.0),
        "tier": np.full(n, 2, dtype=np.int64),
        "emergency": np.zeros(n, dtype=bool),
        "ordered_day": np.full(n, world.day - 2, dtype=np.int64),
        "day": world.day,
    }
    values.update({k: v if k == "day" else np.asarray(v) for k, v in overrides.items()})
    return DemandLines(**values)


def _supply(world: World, units: int) -> np.ndarray:
    out = np.zeros(world.n_pairs, dtype=np.int64)
    out[0] = units
    return out


def test_an_unknown_policy_name_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(SimulationPolicyUnknownError) as err:
        parse_policies("fcfs,greedy-ish")
    assert "'greedy-ish'" in err.value.message
    assert "fcfs, static-tier, blend" in err.value.message


def test_fcfs_fills_by_order_date(tiny_world: World) -> None:
    policy = make_policy("fcfs", _pricing(tiny_world))
    lines = _lines(tiny_world, ordered_day=[tiny_world.day - 1, tiny_world.day - 6])
    give = policy.allocate(lines, _supply(tiny_world, 5))
    assert give.tolist() == [0, 5]


def test_static_tier_serves_vip_before_standard_at_equal_value_and_age(tiny_world: World) -> None:
    policy = make_policy("static-tier", _pricing(tiny_world))
    lines = _lines(tiny_world, tier=[2, 0])
    assert policy.allocate(lines, _supply(tiny_world, 5)).tolist() == [0, 5]


def test_static_tier_prices_age_at_the_shipped_policys_usd_per_day(tiny_world: World) -> None:
    policy = make_policy("static-tier", _pricing(tiny_world))
    assert isinstance(policy, RankedPolicy)
    lines = _lines(tiny_world, ordered_day=[tiny_world.day, tiny_world.day - 3])
    p = policy.priority(lines)
    # standard tier x1: value $50 each; three days waited at $50 a day (static-tier.yaml).
    assert p.tolist() == pytest.approx([50.0, 50.0 + 3 * 50.0])


def test_blend_lp_gives_a_contested_unit_to_the_higher_priority_line(world: World) -> None:
    policy = RankedPolicy(
        "blend", shipped_policy("default"), "lp", _pricing(world), OracleRisks(world)
    )
    policy.priority = lambda lines: np.array([10.0, 40.0])  # type: ignore[method-assign]
    lines = _lines(world, quantity=[1, 1])
    assert policy.allocate(lines, _supply(world, 1)).tolist() == [0, 1]
    assert policy.lp_calls == 1


def test_blend_lp_leaves_uncontested_stock_to_every_line_without_solving(
    tiny_world: World,
) -> None:
    policy = RankedPolicy(
        "blend", shipped_policy("default"), "lp", _pricing(tiny_world), OracleRisks(tiny_world)
    )
    lines = _lines(tiny_world, quantity=[2, 3])
    assert policy.allocate(lines, _supply(tiny_world, 5)).tolist() == [2, 3]
    assert policy.lp_calls == 0


def test_blend_lp_ships_an_all_or_nothing_line_whole_or_not_at_all(world: World) -> None:
    policy = RankedPolicy(
        "blend", shipped_policy("default"), "lp", _pricing(world), OracleRisks(world)
    )
    # The first line is worth more per unit but wants 3 of the 2 units, and refuses partials.
    policy.priority = lambda lines: np.array([300.0, 20.0])  # type: ignore[method-assign]
    lines = _lines(world, quantity=[3, 2], allow_partial=[False, True])
    assert policy.allocate(lines, _supply(world, 2)).tolist() == [0, 2]


def test_oracle_blend_prices_an_overdue_line_as_a_certain_sla_breach(tiny_world: World) -> None:
    world = copy.deepcopy(tiny_world)
    world.lines["promised"][0] = world.day - 1
    risks = OracleRisks(world).risks(_lines(world, quantity=[1, 1]))
    assert risks.sla_breach[0] == 1.0
    assert 0.0 <= risks.churn[0] <= 1.0

"""Allocation policies on instances small enough to check by hand."""

from __future__ import annotations

from typing import Any

import numpy as np

from allotment.world.policies import DemandLines, FcfsPolicy, StaticTierPolicy, greedy_fill


def _lines(**overrides: Any) -> DemandLines:
    n = len(overrides.get("quantity", [5, 5, 5]))
    values: dict[str, Any] = {
        "line_id": np.arange(n),
        "group": np.zeros(n, dtype=np.int64),
        "quantity": np.array([5, 5, 5]),
        "allow_partial": np.ones(n, dtype=bool),
        "unit_price": np.full(n, 10.0),
        "tier": np.full(n, 2),
        "emergency": np.zeros(n, dtype=bool),
        "ordered_day": np.zeros(n, dtype=np.int64),
        "day": 10,
    }
    values.update({k: np.asarray(v) if k != "day" else v for k, v in overrides.items()})
    return DemandLines(**values)


def test_greedy_fill_never_gives_more_than_the_supply_of_each_group() -> None:
    lines = _lines(group=[0, 0, 1, 1], quantity=[4, 4, 4, 4], line_id=np.arange(4))
    give = greedy_fill(lines, np.array([6, 100]), np.zeros(4))
    assert give.tolist() == [4, 2, 4, 4]


def test_a_line_without_partial_consent_gets_all_or_nothing_and_blocks_the_queue() -> None:
    lines = _lines(quantity=[4, 4, 1], allow_partial=[True, False, True])
    give = greedy_fill(lines, np.array([6]), np.array([3.0, 2.0, 1.0]))
    # 4 to the first; the second wants 4 of the 2 left and may not split; the third waits too.
    assert give.tolist() == [4, 0, 0]


def test_static_rule_serves_vip_before_standard_and_emergency_before_both() -> None:
    lines = _lines(tier=[2, 0, 1], emergency=[False, False, False])
    assert StaticTierPolicy().allocate(lines, np.array([5])).tolist() == [0, 5, 0]
    urgent = _lines(tier=[2, 0, 1], emergency=[True, False, False])
    # Standard x emergency (1 x 10) outranks VIP (5).
    assert StaticTierPolicy().allocate(urgent, np.array([5])).tolist() == [5, 0, 0]


def test_static_rule_values_age_in_usd_per_day() -> None:
    old = _lines(quantity=[5, 5], ordered_day=[0, 10], unit_price=[10.0, 20.0], day=10)
    # Line 0: 50 USD + 10 days x 25 USD = 300; line 1: 100 USD + 0 = 100.
    assert StaticTierPolicy().allocate(old, np.array([5])).tolist() == [5, 0]


def test_fcfs_serves_the_oldest_order_whoever_the_customer() -> None:
    lines = _lines(tier=[0, 2, 1], ordered_day=[5, 1, 3])
    assert FcfsPolicy().allocate(lines, np.array([5])).tolist() == [0, 5, 0]

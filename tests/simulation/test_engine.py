"""The simulator end to end on the tiny world: determinism, common random numbers, intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from allotment.simulation.engine import Interval, play, simulate
from allotment.world.model import World


def _without_timing(result: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in result.items() if k != "seconds"}


def test_the_same_seed_gives_identical_results() -> None:
    first = simulate("fcfs,oracle-blend", [3], 20, scale="tiny").to_dict()
    again = simulate("fcfs,oracle-blend", [3], 20, scale="tiny").to_dict()
    assert _without_timing(first) == _without_timing(again)


def test_every_policy_sees_the_same_demand_and_supplier_draws(tiny_world: World) -> None:
    start = tiny_world.lines.n, tiny_world.pol.n
    a, _ = play(tiny_world, "fcfs", 40)
    b, _ = play(tiny_world, "oracle-blend", 40)

    def placed(w: World) -> dict[int, tuple[int, int, int, int]]:
        lines = w.lines
        new = np.arange(start[0], lines.n)
        return {
            int(k): (int(c), int(p), int(q), int(d))
            for k, c, p, q, d in zip(
                lines["key"][new],
                lines["customer"][new],
                lines["pair"][new],
                lines["qty"][new],
                lines["promised"][new],
                strict=True,
            )
        }

    la, lb = placed(a), placed(b)
    assert la and {k: la[k] for k in la.keys() & lb.keys()} == {
        k: lb[k] for k in la.keys() & lb.keys()
    }
    # Demand differs only by customers who churned in one run and not the other.
    differ = {la[k][0] for k in la.keys() ^ lb.keys() if k in la} | {
        lb[k][0] for k in la.keys() ^ lb.keys() if k in lb
    }
    assert all((a.cust_churn_day[c] >= 0) != (b.cust_churn_day[c] >= 0) for c in differ)

    def supplier(w: World) -> dict[tuple[int, int], tuple[bool, int, int, bool]]:
        pol = w.pol
        new = np.arange(start[1], pol.n)
        new = new[pol["for_line"][new] < 0]  # supplier PO lines, not spot buys
        return {
            (int(p), int(d)): (bool(late), int(delta), int(eps), bool(c))
            for p, d, late, delta, eps, c in zip(
                pol["pair"][new],
                pol["day"][new],
                pol["late"][new],
                pol["delta"][new],
                pol["eps"][new],
                pol["cancelled"][new],
                strict=True,
            )
        }

    sa, sb = supplier(a), supplier(b)
    common = sa.keys() & sb.keys()
    assert common and all(sa[k] == sb[k] for k in common)
    # ...while the policies really did allocate differently.
    n = min(a.lines.n, b.lines.n)
    assert not np.array_equal(a.lines["last_ship_day"][:n], b.lines["last_ship_day"][:n])


def test_the_interval_is_the_mean_plus_or_minus_t_times_the_standard_error() -> None:
    i = Interval.of([1.0, 2.0, 3.0])
    assert i.mean == 2.0
    assert i.high - i.mean == pytest.approx(4.303 / math.sqrt(3))
    assert math.isnan(Interval.of([5.0]).low)

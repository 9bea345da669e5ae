"""Random allocation instances for the benchmark and property tests (seeded, no database)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from allotment.allocation.problem import (
    TIER_ORDER,
    AllocationProblem,
    DemandLine,
    InTransit,
    OnHand,
    Substitute,
    TransferLane,
)


def random_problem(
    seed: int,
    *,
    n_lines: int,
    n_skus: int,
    n_locations: int = 5,
    all_or_nothing_share: float = 0.05,
    substitute_share: float = 0.05,
    supply_ratio: float = 0.7,
    protected: bool = True,
) -> AllocationProblem:
    """A random but realistic instance: demand spread over SKUs and locations, free stock for
    about ``supply_ratio`` of it (half on hand, half on open PO lines), transfer lanes between
    every pair of locations, some substitutes and all-or-nothing orders.
    """
    rng = np.random.default_rng(seed)
    today = date(2026, 11, 1)
    locs = [f"DC-{k}" for k in range(n_locations)]
    skus = [f"SKU-{k:05d}" for k in range(n_skus)]
    # Zipf-like popularity so some SKUs are contested by many lines.
    pop = rng.pareto(1.5, n_skus) + 1
    pop /= pop.sum()
    line_sku = rng.choice(n_skus, size=n_lines, p=pop)
    line_loc = rng.integers(0, n_locations, n_lines)
    qty = rng.integers(1, 40, n_lines)
    price = np.round(rng.uniform(5, 500, n_skus), 2)
    tiers = rng.choice(3, size=n_lines, p=[0.1, 0.3, 0.6])
    mult = np.array([5.0, 3.0, 1.0])[tiers]
    weight = np.round(price[line_sku] * 0.2 * mult * rng.uniform(0.5, 2.0, n_lines), 4)
    promised = rng.integers(-10, 30, n_lines)
    ordered = rng.integers(-60, -1, n_lines)
    n_orders = max(1, n_lines // 2)
    order = rng.integers(0, n_orders, n_lines)
    aon_orders = rng.random(n_orders) < all_or_nothing_share
    consent = rng.random(n_lines) < 0.3
    lines = tuple(
        DemandLine(
            line_id=i + 1,
            order_line_id=i + 1,
            order_id=int(order[i]),
            customer_id=int(order[i]) % max(1, n_lines // 5),
            tier=TIER_ORDER[int(tiers[i])],
            sku=skus[int(line_sku[i])],
            location=locs[int(line_loc[i])],
            quantity=int(qty[i]),
            unit_value=float(price[line_sku[i]]),
            priority_weight=float(weight[i]),
            promised_date=today + timedelta(days=int(promised[i])),
            ordered_on=today + timedelta(days=int(ordered[i])),
            all_or_nothing=bool(aon_orders[order[i]]),
            substitution_consent=bool(consent[i]),
        )
        for i in range(n_lines)
    )
    demand = np.zeros((n_skus, n_locations))
    np.add.at(demand, (line_sku, line_loc), qty)
    stock = np.floor(demand * supply_ratio * 0.5 * rng.uniform(0, 2, demand.shape)).astype(int)
    on_hand = tuple(
        OnHand(skus[s], locs[k], int(stock[s, k])) for s, k in zip(*np.nonzero(stock), strict=True)
    )
    in_transit: list[InTransit] = []
    po_id = 1
    for s in np.flatnonzero(demand.sum(axis=1) > 0):
        total = int(demand[s].sum() * supply_ratio * 0.5 * rng.uniform(0, 2))
        for _ in range(int(rng.integers(1, 3))):
            if total <= 0:
                break
            q = int(rng.integers(1, total + 1))
            total -= q
            in_transit.append(
                InTransit(
                    po_line_id=po_id,
                    sku=skus[int(s)],
                    location=locs[int(rng.integers(0, n_locations))],
                    quantity=q,
                    expected_arrival=today + timedelta(days=int(rng.integers(1, 45))),
                    p_delay=float(np.round(rng.uniform(0, 0.6), 3)),
                    days_late_if_delayed=float(rng.integers(3, 21)),
                )
            )
            po_id += 1
    lanes = tuple(
        TransferLane(a, b, float(np.round(rng.uniform(1, 8), 2)), int(rng.integers(1, 6)))
        for a in locs
        for b in locs
        if a != b
    )
    n_subs = int(substitute_share * n_skus)
    pairs = rng.integers(0, n_skus, size=(n_subs, 2))
    substitutes = tuple(
        Substitute(skus[int(a)], skus[int(b)], float(np.round(rng.uniform(0, 0.15), 3)))
        for a, b in {(int(a), int(b)) for a, b in pairs if a != b}
    )
    return AllocationProblem(
        today=today,
        lines=lines,
        on_hand=on_hand,
        in_transit=tuple(in_transit),
        lanes=lanes,
        substitutes=substitutes,
        protected_share={"vip": 0.2, "premium": 0.1} if protected else {},
        lateness_cost_per_unit_day=0.5,
    )

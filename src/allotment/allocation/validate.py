"""Step 2: refuse input the model cannot represent, naming the field (never a solver crash).

Conflicts between valid inputs (a locked quantity larger than the supply that can reach it, a
minimum fill supply cannot meet) are not validation errors: the solve step reports them as an
infeasible result naming the constraints.
"""

from __future__ import annotations

import math

from allotment.allocation.errors import AllocationInputInvalidError
from allotment.allocation.problem import TIER_ORDER, AllocationProblem


def _finite_nonneg(value: float, field: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise AllocationInputInvalidError(
            f"{field} must be a finite number >= 0, got {value!r}", field=field
        )


def validate(problem: AllocationProblem) -> AllocationProblem:
    """Check ``problem`` and return it unchanged.

    Raises
    ------
    AllocationInputInvalidError
        The first invalid field, e.g. ``lines[3].locked_quantity``.
    """
    seen_lines: set[int] = set()
    for i, line in enumerate(problem.lines):
        at = f"lines[{i}]"
        if line.line_id in seen_lines:
            raise AllocationInputInvalidError(
                f"line id {line.line_id} appears twice", field=f"{at}.line_id"
            )
        seen_lines.add(line.line_id)
        if line.tier not in TIER_ORDER:
            raise AllocationInputInvalidError(
                f"unknown tier {line.tier!r} (expected one of {', '.join(TIER_ORDER)})",
                field=f"{at}.tier",
            )
        if line.quantity <= 0:
            raise AllocationInputInvalidError(
                f"open quantity must be > 0, got {line.quantity}", field=f"{at}.quantity"
            )
        _finite_nonneg(line.unit_value, f"{at}.unit_value")
        _finite_nonneg(line.priority_weight, f"{at}.priority_weight")
        if not 0 <= line.locked_quantity <= line.quantity:
            raise AllocationInputInvalidError(
                f"locked quantity must be between 0 and the open quantity {line.quantity},"
                f" got {line.locked_quantity}",
                field=f"{at}.locked_quantity",
            )
        if not (math.isfinite(line.minimum_fill) and 0 <= line.minimum_fill <= 1):
            raise AllocationInputInvalidError(
                f"minimum fill must be a share between 0 and 1, got {line.minimum_fill!r}",
                field=f"{at}.minimum_fill",
            )
    seen_stock: set[tuple[str, str]] = set()
    for i, stock in enumerate(problem.on_hand):
        key = (stock.sku, stock.location)
        if key in seen_stock:
            raise AllocationInputInvalidError(
                f"on-hand stock of {stock.sku} at {stock.location} appears twice",
                field=f"on_hand[{i}]",
            )
        seen_stock.add(key)
        if stock.quantity < 0:
            raise AllocationInputInvalidError(
                f"on-hand quantity must be >= 0, got {stock.quantity}",
                field=f"on_hand[{i}].quantity",
            )
    seen_po: set[int] = set()
    for i, po in enumerate(problem.in_transit):
        at = f"in_transit[{i}]"
        if po.po_line_id in seen_po:
            raise AllocationInputInvalidError(
                f"PO line {po.po_line_id} appears twice", field=f"{at}.po_line_id"
            )
        seen_po.add(po.po_line_id)
        if po.quantity < 0:
            raise AllocationInputInvalidError(
                f"in-transit quantity must be >= 0, got {po.quantity}", field=f"{at}.quantity"
            )
        if not (math.isfinite(po.p_delay) and 0 <= po.p_delay <= 1):
            raise AllocationInputInvalidError(
                f"P(delay) must be between 0 and 1, got {po.p_delay!r}", field=f"{at}.p_delay"
            )
        _finite_nonneg(po.days_late_if_delayed, f"{at}.days_late_if_delayed")
    for i, lane in enumerate(problem.lanes):
        _finite_nonneg(lane.cost_per_unit, f"lanes[{i}].cost_per_unit")
        if lane.lead_time_days < 0:
            raise AllocationInputInvalidError(
                f"lead time must be >= 0 days, got {lane.lead_time_days}",
                field=f"lanes[{i}].lead_time_days",
            )
        if lane.origin == lane.destination:
            raise AllocationInputInvalidError(
                f"a transfer lane needs two locations, got {lane.origin} twice",
                field=f"lanes[{i}].destination",
            )
    for i, sub in enumerate(problem.substitutes):
        if sub.sku == sub.substitute_sku:
            raise AllocationInputInvalidError(
                f"{sub.sku} cannot substitute itself", field=f"substitutes[{i}].substitute_sku"
            )
        if not math.isfinite(sub.premium_rate) or sub.premium_rate <= -1:
            raise AllocationInputInvalidError(
                f"premium rate must be > -1, got {sub.premium_rate!r}",
                field=f"substitutes[{i}].premium_rate",
            )
    for tier, share in problem.protected_share.items():
        if tier not in TIER_ORDER:
            raise AllocationInputInvalidError(
                f"unknown tier {tier!r}", field=f"protected_share.{tier}"
            )
        if not (math.isfinite(share) and 0 <= share <= 1):
            raise AllocationInputInvalidError(
                f"protected share must be between 0 and 1, got {share!r}",
                field=f"protected_share.{tier}",
            )
    if sum(problem.protected_share.values()) > 1 + 1e-9:
        raise AllocationInputInvalidError(
            "protected shares add up to more than 1", field="protected_share"
        )
    customers = (
        {line.customer_id for line in problem.lines} if problem.customer_minimum_fill else set()
    )
    for customer, share in problem.customer_minimum_fill.items():
        at = f"customer_minimum_fill.{customer}"
        if customer not in customers:
            raise AllocationInputInvalidError(f"customer {customer} has no open line", field=at)
        if not (math.isfinite(share) and 0 <= share <= 1):
            raise AllocationInputInvalidError(
                f"a fill commitment must be a share between 0 and 1, got {share!r}", field=at
            )
    _finite_nonneg(problem.lateness_cost_per_unit_day, "lateness_cost_per_unit_day")
    if not (
        math.isfinite(problem.waiting_discount_per_day)
        and 0 <= problem.waiting_discount_per_day < 0.01
    ):
        raise AllocationInputInvalidError(
            "waiting discount must be a share per day in [0, 0.01)",
            field="waiting_discount_per_day",
        )
    return problem

"""Tiny hand-checkable allocation instances."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from allotment.allocation.problem import AllocationProblem, DemandLine, OnHand

TODAY = date(2026, 11, 1)
_ids = itertools.count(1)


def line(**overrides: Any) -> DemandLine:
    """A standard-tier line for 10 units of SKU-A at DC-East, due in a week, $10/unit priority."""
    n = next(_ids)
    fields: dict[str, Any] = {
        "line_id": n,
        "order_line_id": n,
        "order_id": n,
        "customer_id": n,
        "tier": "standard",
        "sku": "SKU-A",
        "location": "DC-East",
        "quantity": 10,
        "unit_value": 100.0,
        "priority_weight": 10.0,
        "promised_date": TODAY + timedelta(days=7),
        "ordered_on": TODAY - timedelta(days=10),
        "label": f"BO-{n}",
    }
    fields.update(overrides)
    return DemandLine(**fields)


def problem(*lines: DemandLine, stock: int = 0, **overrides: Any) -> AllocationProblem:
    """The lines, ``stock`` units of SKU-A free at DC-East; no protected shares, no lateness or
    waiting costs (so objectives are round numbers)."""
    fields: dict[str, Any] = {
        "today": TODAY,
        "lines": tuple(lines),
        "on_hand": (OnHand("SKU-A", "DC-East", stock),) if stock else (),
        "lateness_cost_per_unit_day": 0.0,
        "waiting_discount_per_day": 0.0,
    }
    fields.update(overrides)
    return AllocationProblem(**fields)

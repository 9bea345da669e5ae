"""Allocation policies the world can run under.

A policy answers one question, for many SKU-locations at once: given the open demand lines
competing for the stock available at their SKU-location, how many units does each line get?
The world calls it for on-hand stock every day and to decide which waiting lines are pegged to
inbound purchase-order quantity. Everything is vectorized: ``group`` says which SKU-location a
line competes in, and ``supply`` is indexed by group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from allotment.world.model import World

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

#: Tier codes used in the world's arrays (0 = VIP, 1 = premium, 2 = standard).
TIER_CODES = ("vip", "premium", "standard")
#: The handbook's static rule: VIP x5, premium x3, standard x1, emergency x10.
TIER_MULTIPLIER = np.array([5.0, 3.0, 1.0])
EMERGENCY_MULTIPLIER = 10.0
#: Ageing term of the static rule, in USD of priority per day since the order was placed.
AGE_USD_PER_DAY = 25.0


@dataclass(frozen=True)
class DemandLines:
    """Open demand lines competing for stock (one element per order line).

    Attributes
    ----------
    line_id
        World index of the order line (stable; used to break ties).
    group
        SKU-location index the line draws from.
    quantity
        Units still wanted.
    allow_partial
        Whether the line may receive less than ``quantity`` (customer consent).
    unit_price
        USD per unit.
    tier
        0 = VIP, 1 = premium, 2 = standard.
    emergency
        Emergency order flag.
    ordered_day
        Day index the order was placed.
    day
        Today's day index.
    """

    line_id: I64
    group: I64
    quantity: I64
    allow_partial: B
    unit_price: F64
    tier: I64
    emergency: B
    ordered_day: I64
    day: int

    def __len__(self) -> int:
        return len(self.line_id)


class AllocationPolicy(Protocol):
    """Decides how much of the available stock each competing line receives."""

    name: str

    def allocate(self, lines: DemandLines, supply: I64) -> I64:
        """Units given to each line; per group the total never exceeds ``supply[group]``.

        A line with ``allow_partial`` false receives all of its quantity or nothing.
        """
        ...


class RescuePlanner(Protocol):
    """Chooses which backorders a planner buys from the spot market today (the world's step 6).

    Without one the world's own planner decides by a keyed draw on tier, emergency and value
    (:meth:`allotment.world.model.World._plan_rescue`).
    """

    def choose(self, world: World, candidates: I64, day: int) -> I64:
        """The backorders (a subset of ``candidates``, world indexes) to buy today."""
        ...


def greedy_fill(lines: DemandLines, supply: I64, priority: F64) -> I64:
    """Serve lines in descending ``priority`` within each group until the supply runs out.

    Parameters
    ----------
    lines
        The competing lines.
    supply
        Units available per group (indexed by ``lines.group``).
    priority
        Higher is served first; ties go to the lower ``line_id``.

    Returns
    -------
    numpy.ndarray
        Units per line (same order as ``lines``). Lines without partial-ship consent get all or
        nothing; once a line cannot be served, lines behind it in the same group get nothing
        either (no skipping ahead, so a low-priority small line never jumps the queue).
    """
    n = len(lines)
    out = np.zeros(n, dtype=np.int64)
    if n == 0:
        return out
    order = np.lexsort((lines.line_id, -priority, lines.group))
    group = lines.group[order]
    qty = lines.quantity[order]
    cum = np.cumsum(qty)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    run_len = np.diff(np.r_[starts, n])
    offset = np.repeat(cum[starts] - qty[starts], run_len)
    before = cum - qty - offset
    give = np.clip(supply[group] - before, 0, qty)
    whole_only = ~lines.allow_partial[order]
    give[whole_only & (give < qty)] = 0
    out[order] = give
    return out


class StaticTierPolicy:
    """The handbook's rule: tier x emergency x (line value + ageing term), highest first."""

    name = "static_tier"

    def priority(self, lines: DemandLines) -> F64:
        """Priority in USD-equivalent units (see :data:`AGE_USD_PER_DAY`)."""
        value = lines.unit_price * lines.quantity
        age = (lines.day - lines.ordered_day).astype(np.float64)
        mult = TIER_MULTIPLIER[lines.tier] * np.where(lines.emergency, EMERGENCY_MULTIPLIER, 1.0)
        return np.asarray(mult * (value + AGE_USD_PER_DAY * age), dtype=np.float64)

    def allocate(self, lines: DemandLines, supply: I64) -> I64:
        return greedy_fill(lines, supply, self.priority(lines))


class FcfsPolicy:
    """First come, first served: the oldest order first, whoever the customer is."""

    name = "fcfs"

    def allocate(self, lines: DemandLines, supply: I64) -> I64:
        return greedy_fill(lines, supply, -lines.ordered_day.astype(np.float64))


POLICIES: dict[str, type[StaticTierPolicy] | type[FcfsPolicy]] = {
    StaticTierPolicy.name: StaticTierPolicy,
    FcfsPolicy.name: FcfsPolicy,
}

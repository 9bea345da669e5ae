"""What a policy costs, counted day by day from the world's own state (USD, days, units).

The money lost
--------------
``penalties``
    SLA penalties paid: every day a line is still open after its promised day, its open value
    (open units × unit price) times the contract's penalty rate per day, until the line's
    penalties reach the contract's cap (cap rate × the line's value). Rate and cap are those of
    the customer's contract in force that day.
``cancellations``
    Margin lost to cancellations: when a customer cancels a late line, its open units × (unit
    price − unit cost).
``churn``
    Customer lifetime value lost to churn: when the world decides a customer churns, its lifetime
    value (revenue shipped to it before the simulated window, frozen at the window's start), once
    per customer.
``action_cost``
    What the actions cost beyond the goods: every spot buy placed in the window, its units ×
    (spot unit price − regular unit cost) — the spot premium (the units themselves replace
    units of the PO line the backorder waited on, which then go to stock).

``total`` is the sum of the four.

Diagnostics
-----------
``churn_expected``
    The expected lifetime value lost at each churn decision: Σ over customers still active of the
    world's true P(churn) × lifetime value. The same quantity as ``churn`` without the luck of the
    draw (with common random numbers a policy moves realized churn only when a customer's draw
    falls between the two policies' probabilities), so it shows small policy effects.
``withheld_units``
    Units a policy left unallocated where lines competing for them went short (stock on hand
    stays for the next day; room on a PO line for the next pegging): an all-or-nothing line too
    big for what is left, greedy's no-skipping-ahead, or, for the LP, a line worth less per unit
    than the allocation model's lateness cost. ``lp_calls`` counts optimizer calls.
``decided`` / ``degraded`` / ``rescores``
    Line decisions a blend priced, those scored on the policy's fallback weights because a
    risk it needs had no prediction (see :mod:`allotment.simulation.risks`), and how many
    times the champions re-scored the world.
``contested_lines`` / ``contested_penalties``
    Lines that, some day, competed for stock with more demand than supply at their SKU-location
    and got less than they asked, and the penalties they accrued: the part of the penalties a
    different allocation could have moved at all (the rest waited for stock nobody had).

Service
-------
``fill_rate``
    Units shipped by their promised day ÷ units ordered, over lines ordered in the window whose
    promised day falls in it.
``days_waiting`` / ``vip_days_waiting``
    Mean days from order to the last unit shipped, over lines ordered in the window (all, VIP);
    a line cancelled counts until its cancellation, one still open until the window's end.

Actions and approvals
---------------------
Some backordered lines are bought from the spot market (an alternate source): by the world's own
planners, or by the policy (:mod:`allotment.simulation.actions`). Each spot buy is routed like a
recommendation (:mod:`allotment.recommend.approval`): its amount is the money it commits (the whole
spot purchase) plus the value at stake (the line's penalty exposure under the policy: open value ×
min(rate × exposure days, cap)), summed with the same customer's spot buys of the same SKU within
the policy's window. Counted by the level the amount needs (``auto``, ``supervisor``, ``manager``,
``director``), and how many also needed the account manager (VIP). ``spot_in_time``: spot buys that
arrive by their line's promised day (a breach avoided unless the PO came first); ``spot_overdue``:
spot buys placed for a line already past its promised day (they can only shorten the lateness).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, time
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from allotment.domain.enums import Tier
from allotment.policy.schema import Policy
from allotment.recommend.approval import Earlier, route_amount
from allotment.world.model import HOUR_BACKORDER, World
from allotment.world.policies import AllocationPolicy, DemandLines

I64 = npt.NDArray[np.int64]

F64 = npt.NDArray[np.float64]

#: Approval levels in the order they are reported.
LEVELS: tuple[str, ...] = ("auto", "supervisor", "manager", "director")
#: The role a VIP customer's action always adds (reported beside the levels).
VIP_ROLE = "account_manager"


def accrue_penalty(accrued: F64, open_value: F64, rate: F64, cap: F64) -> F64:
    """Penalties of lines after one more day late (USD).

    Parameters
    ----------
    accrued
        Penalties each line has accrued so far (USD).
    open_value
        Open units × unit price today (USD).
    rate
        Contract penalty per day late, as a share of the open value.
    cap
        The most a line can accrue (USD): cap rate × the line's value.

    Returns
    -------
    numpy.ndarray
        ``min(accrued + rate × open_value, cap)`` (never below what was already accrued).
    """
    return np.maximum(accrued, np.minimum(accrued + rate * open_value, cap))


@dataclass(frozen=True)
class Outcome:
    """The result of one policy on one seed (money in USD, waits in days)."""

    penalties: float
    cancellations: float
    churn: float
    churn_expected: float
    contested_lines: int
    contested_penalties: float
    fill_rate: float
    days_waiting: float
    vip_days_waiting: float
    approvals: dict[str, int]
    spot_buys: int
    spot_spend: float
    backorders: int
    cancelled_lines: int
    churned_customers: int
    withheld_units: int = 0
    action_cost: float = 0.0
    spot_in_time: int = 0
    spot_overdue: int = 0
    actions_unused: int = 0
    lp_calls: int = 0
    decided: int = 0
    degraded: int = 0
    rescores: int = 0
    total: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "total", self.penalties + self.cancellations + self.churn + self.action_cost
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Ledger:
    """Counts a world's losses, service and approvals from the day it is created on.

    Call :meth:`after_day` after each simulated day and :meth:`outcome` at the end.

    Parameters
    ----------
    world
        The world at the start of the window (its lifetime values are frozen now).
    policy
        The policy whose approval routing and penalty exposure days apply to actions.
    """

    def __init__(self, world: World, policy: Policy) -> None:
        self.policy = policy
        self.start = world.day
        self.lifetime_value: F64 = world.cust_shipped_cents / 100.0
        self.penalty: F64 = np.zeros(world.lines.n)
        self.counted = world.cust_churn_day >= 0
        self.pol_seen = world.pol.n
        self.bo_start = world.backorders.n
        self.cancel_margin = 0.0
        self.cancelled = 0
        self.churn_loss = 0.0
        self.churn_expected = 0.0
        self.churned = 0
        self.lost: set[int] = set()
        self.withheld = [0]  # one cell, shared with the tracked policy
        self.due_units = 0
        self.on_time_units = 0
        self.approvals = dict.fromkeys((*LEVELS, VIP_ROLE), 0)
        self.spot_buys = 0
        self.spot_spend = 0.0
        self.action_cost = 0.0
        self.spot_in_time = 0
        self.spot_overdue = 0
        self._recent: defaultdict[tuple[int, int], list[Earlier]] = defaultdict(list)

    def after_day(self, world: World, d: int) -> None:
        """Count day ``d`` (just simulated): penalties, cancellations, churn, due units, actions."""
        lines = world.lines
        if len(self.penalty) < lines.n:
            self.penalty = np.concatenate([self.penalty, np.zeros(lines.n - len(self.penalty))])
        price = lines["price"] / 100.0
        w = world.waiting
        late = w[lines["promised"][w] < d]
        if len(late):
            contract = world.cust_contract[lines["customer"][late]]
            c = world.contracts
            open_value = (lines["qty"][late] - lines["shipped"][late]) * price[late]
            cap = c["penalty_cap"][contract] * lines["qty"][late] * price[late]
            self.penalty[late] = accrue_penalty(
                self.penalty[late], open_value, c["penalty_rate"][contract], cap
            )
        gone = np.flatnonzero(lines["cancel_day"] == d)
        if len(gone):
            cost = world.prod_cost_cents[world.pair_product[lines["pair"][gone]]] / 100.0
            units = lines["qty"][gone] - lines["shipped"][gone]
            self.cancel_margin += float(np.sum(units * np.maximum(price[gone] - cost, 0.0)))
            self.cancelled += len(gone)
        if world.date_of(d).day == 1:  # the world's churn decisions happen on month starts
            decided = world.churn_log.column("day") == d
            cust = world.churn_log.column("customer")[decided]
            p = world.churn_log.column("p")[decided]
            self.churn_expected += float(np.sum(p * self.lifetime_value[cust]))
        new = (world.cust_churn_day >= 0) & ~self.counted
        self.churn_loss += float(self.lifetime_value[new].sum())
        self.churned += int(new.sum())
        self.counted |= new
        due = np.flatnonzero((lines["promised"] == d) & (lines["day"] >= self.start))
        self.due_units += int(lines["qty"][due].sum())
        self.on_time_units += int(lines["shipped"][due].sum())
        self._route_spot_buys(world, d)

    def track(self, policy: AllocationPolicy) -> AllocationPolicy:
        """``policy`` as the world sees it, recording the lines that lose a contest for stock."""
        return _Tracked(policy, self.lost, self.withheld)

    def _route_spot_buys(self, world: World, d: int) -> None:
        pol, lines = world.pol, world.lines
        new = np.arange(self.pol_seen, pol.n)
        self.pol_seen = pol.n
        spot = new[pol["for_line"][new] >= 0]
        if not len(spot):
            return
        at = datetime.combine(world.date_of(d), time(HOUR_BACKORDER))
        days = float(self.policy.blend.penalty_exposure_days)
        for po_line in spot.tolist():
            line = int(pol["for_line"][po_line])
            cust = int(lines["customer"][line])
            product = int(world.pair_product[lines["pair"][line]])
            contract = int(world.cust_contract[cust])
            committed = int(pol["qty"][po_line]) * int(pol["cost"][po_line]) / 100.0
            open_value = (
                (int(lines["qty"][line]) - int(lines["shipped"][line]))
                * int(lines["price"][line])
                / 100.0
            )
            rate = float(world.contracts["penalty_rate"][contract]) * days
            at_stake = open_value * min(rate, float(world.contracts["penalty_cap"][contract]))
            amount = Decimal(str(round(committed + at_stake, 2)))
            tier = Tier(("vip", "premium", "standard")[int(world.cust_tier[cust])])
            key = (cust, product)
            found = route_amount(
                self.policy,
                amount,
                tier=tier,
                customer_id=cust,
                sku=str(product),
                at=at,
                earlier=self._recent[key],
            )
            self._recent[key].append(Earlier(cust, str(product), at, amount))
            self.approvals[found.band_role] += 1
            if VIP_ROLE in found.chain:
                self.approvals[VIP_ROLE] += 1
            self.spot_buys += 1
            self.spot_spend += committed
            regular = int(pol["qty"][po_line]) * int(world.prod_cost_cents[product]) / 100.0
            self.action_cost += committed - regular
            promised = int(lines["promised"][line])
            self.spot_in_time += int(pol["arrival"][po_line]) <= promised
            self.spot_overdue += d > promised

    def outcome(
        self,
        world: World,
        *,
        lp_calls: int = 0,
        decided: int = 0,
        degraded: int = 0,
        rescores: int = 0,
        actions_unused: int = 0,
    ) -> Outcome:
        """The totals so far (waits counted up to ``world.day``); the policy's own counters
        (optimizer calls, blend decisions, re-scores, unused action slots) are passed through."""
        lines = world.lines
        mine = np.flatnonzero(lines["day"] >= self.start)
        end = np.where(
            lines["done_day"][mine] >= 0,
            lines["done_day"][mine],
            np.where(lines["cancel_day"][mine] >= 0, lines["cancel_day"][mine], world.day),
        )
        wait = (end - lines["day"][mine]).astype(np.float64)
        vip = lines["tier"][mine] == 0
        lost = np.fromiter(self.lost, dtype=np.int64, count=len(self.lost))
        return Outcome(
            penalties=float(self.penalty.sum()),
            cancellations=self.cancel_margin,
            churn=self.churn_loss,
            churn_expected=self.churn_expected,
            contested_lines=len(lost),
            contested_penalties=float(self.penalty[lost].sum()),
            fill_rate=self.on_time_units / self.due_units if self.due_units else float("nan"),
            days_waiting=float(wait.mean()) if len(wait) else float("nan"),
            vip_days_waiting=float(wait[vip].mean()) if vip.any() else float("nan"),
            approvals=dict(self.approvals),
            spot_buys=self.spot_buys,
            spot_spend=self.spot_spend,
            backorders=world.backorders.n - self.bo_start,
            cancelled_lines=self.cancelled,
            churned_customers=self.churned,
            withheld_units=self.withheld[0],
            action_cost=self.action_cost,
            spot_in_time=self.spot_in_time,
            spot_overdue=self.spot_overdue,
            actions_unused=actions_unused,
            lp_calls=lp_calls,
            decided=decided,
            degraded=degraded,
            rescores=rescores,
        )


class _Tracked:
    """Forwards to a policy and notes every line left short where demand exceeded supply."""

    def __init__(self, policy: AllocationPolicy, lost: set[int], withheld: list[int]) -> None:
        self.policy = policy
        self.name = policy.name
        self.lost = lost
        self.withheld = withheld

    def allocate(self, lines: DemandLines, supply: I64) -> I64:
        give = np.asarray(self.policy.allocate(lines, supply), dtype=np.int64)
        demand = np.bincount(lines.group, weights=lines.quantity, minlength=len(supply))
        contested = demand[lines.group] > supply[lines.group]
        short = contested & (give < lines.quantity)
        self.lost.update(lines.line_id[short].tolist())
        groups = np.unique(lines.group[contested])
        given = np.bincount(lines.group, weights=give, minlength=len(supply))
        self.withheld[0] += int(np.sum(supply[groups] - given[groups]))
        return give

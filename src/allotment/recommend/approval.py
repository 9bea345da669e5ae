"""The approval amount of a recommendation and its route, summed over a 24-hour window.

Pure functions; the service reads the earlier recommendations from the database.

The amount
----------
The amount a recommendation is routed on is **the value at stake in the decision plus the money
it commits** (USD, rounded to the cent):

- *value at stake*: the expected loss the action claims to remove (its benefit) — the approver
  vouches for that figure as much as for the spend;
- *money committed*: what signing it spends or commits — the expedite fee, the whole spot
  purchase from an alternate supplier (not only its premium), the transfer cost, the substitute's
  premium, the second shipment, the outreach credit. Hold for complete commits nothing.

Splitting does not dodge a threshold: a recommendation is routed on its own amount plus the
amounts of the other live recommendations (``proposed``, ``pending_approval``, ``approved``,
``executed``) for the **same customer and SKU** created within the window before it (24 hours by
default, both ends included). Two $6,000 expedites for one customer and SKU an hour apart: the
second routes on $12,000 (manager), not $6,000 (supervisor).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from allotment.domain.enums import Tier
from allotment.policy.routing import Route, route, to_cents
from allotment.policy.schema import Policy

#: Statuses of recommendations that count towards the window (a rejected or superseded one
#: commits nothing).
LIVE_STATUSES: tuple[str, ...] = ("proposed", "pending_approval", "approved", "executed")


@dataclass(frozen=True)
class Earlier:
    """An earlier recommendation's own amount (USD), for whom, for what, and when."""

    customer_id: int
    sku: str
    created_at: datetime
    amount: Decimal


def window_total(
    amount: Decimal,
    *,
    customer_id: int,
    sku: str,
    at: datetime,
    earlier: Iterable[Earlier],
    window: timedelta = timedelta(hours=24),
) -> tuple[Decimal, list[Earlier]]:
    """``amount`` plus the earlier amounts of the same customer and SKU within ``window``.

    Returns the total (USD, in cents) and the earlier recommendations counted. An earlier one
    counts when it was created at most ``window`` before ``at`` and not after it.
    """
    counted = [
        e
        for e in earlier
        if e.customer_id == customer_id and e.sku == sku and at - window <= e.created_at <= at
    ]
    total = to_cents(amount) + sum((to_cents(e.amount) for e in counted), Decimal("0"))
    return total, counted


def route_amount(
    policy: Policy,
    amount: Decimal,
    *,
    tier: Tier,
    customer_id: int,
    sku: str,
    at: datetime,
    earlier: Iterable[Earlier],
    requested_by: str | None = None,
) -> Route:
    """The route of a recommendation of ``amount`` USD, summed over the policy's window."""
    hours = policy.recommendations.split_window_hours
    total, counted = window_total(
        amount,
        customer_id=customer_id,
        sku=sku,
        at=at,
        earlier=earlier,
        window=timedelta(hours=hours),
    )
    found = route(policy, total, tier=tier, requested_by=requested_by)
    if not counted:
        return found
    why = (
        f"{to_cents(amount)} USD plus {len(counted)} other recommendation(s) for the same"
        f" customer and SKU within {hours} h = {total} USD (splitting does not dodge a threshold)"
    )
    return Route(
        amount=found.amount,
        tier=found.tier,
        band_role=found.band_role,
        chain=found.chain,
        auto=found.auto,
        notify=found.notify,
        reasons=(why, *found.reasons),
        requested_by=found.requested_by,
    )

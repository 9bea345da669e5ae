"""The allocation problem: demand lines and supplies, as plain frozen data.

Step 1 of the pipeline ``problem → validate → model → solve → readback``. Everything here is
data the caller builds (from the database in :mod:`allotment.allocation.service`, or by hand in
tests and the benchmark). Quantities are units, money is USD, durations are days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

#: Tiers from the most to the least protected (protected shares cascade in this order).
TIER_ORDER: tuple[str, ...] = ("vip", "premium", "standard")


@dataclass(frozen=True)
class DemandLine:
    """One backorder line asking for units.

    Parameters
    ----------
    line_id
        The backorder id (the line's key everywhere in the result).
    order_line_id, order_id, customer_id
        Where the line comes from; ``order_id`` groups all-or-nothing lines.
    tier
        Customer tier (``vip``, ``premium``, ``standard``).
    sku, location
        The product asked for and the location it ships from (the order's warehouse).
    quantity
        Open quantity (units).
    unit_value
        Revenue per unit (USD), used to report value moved.
    priority_weight
        Value of filling one unit on time (USD-equivalent per unit): the blend's priority
        divided by the open quantity.
    promised_date
        The date promised to the customer; arrival after it costs lateness.
    ordered_on
        Order date (the first-come-first-served baseline's order).
    all_or_nothing
        The customer does not accept partial shipments: every all-or-nothing line of the same
        order is filled completely or not at all.
    substitution_consent
        The contract lets us ship an approved substitute without asking.
    locked_quantity
        Units already committed to this line that the plan must keep (a lower bound).
    minimum_fill
        Share of ``quantity`` (0..1) the contract commits to fill (a lower bound; 0: none).
    """

    line_id: int
    order_line_id: int
    order_id: int
    customer_id: int
    tier: str
    sku: str
    location: str
    quantity: int
    unit_value: float
    priority_weight: float
    promised_date: date
    ordered_on: date
    all_or_nothing: bool = False
    substitution_consent: bool = False
    locked_quantity: int = 0
    minimum_fill: float = 0.0
    label: str = ""

    @property
    def name(self) -> str:
        """How a person refers to the line (the backorder number when known)."""
        return self.label or f"line {self.line_id}"


@dataclass(frozen=True)
class OnHand:
    """Free stock of a SKU at a location now: on hand minus committed (units)."""

    sku: str
    location: str
    quantity: int


@dataclass(frozen=True)
class InTransit:
    """The open quantity of a purchase order line, arriving at ``location``.

    ``p_delay`` is the supplier-delay model's probability that the line arrives late;
    ``days_late_if_delayed`` is how late it then is (days), so the expected arrival is
    ``expected_arrival + p_delay × days_late_if_delayed``.
    """

    po_line_id: int
    sku: str
    location: str
    quantity: int
    expected_arrival: date
    p_delay: float = 0.0
    days_late_if_delayed: float = 0.0


@dataclass(frozen=True)
class TransferLane:
    """Moving stock from ``origin`` to ``destination`` costs this much and takes this long."""

    origin: str
    destination: str
    cost_per_unit: float  # USD per unit
    lead_time_days: int


@dataclass(frozen=True)
class Substitute:
    """``substitute_sku`` may replace ``sku``; shipping it costs ``premium_rate`` × unit value."""

    sku: str
    substitute_sku: str
    premium_rate: float


@dataclass(frozen=True)
class AllocationProblem:
    """Everything the optimizer needs, as of ``today``.

    ``protected_share`` maps a tier to the share of each supply reserved for it before lower
    tiers are served (from the policy's ``allocation`` section); ``lateness_cost_per_unit_day``
    is charged per unit per expected day late (USD). ``waiting_discount_per_day`` is the share of
    a line's priority weight lost per day its units are still on the way (before or after the
    promised date): it breaks ties between sources that are all on time in favour of the one
    that ships sooner, and gives that one to the higher-priority line.

    ``customer_minimum_fill`` maps a customer id to its contract's fill-rate commitment (0..1):
    together, that customer's lines must get at least this share of their open quantity (one
    row per customer; a line's own ``minimum_fill`` is the stricter per-line form).
    """

    today: date
    lines: tuple[DemandLine, ...]
    on_hand: tuple[OnHand, ...] = ()
    in_transit: tuple[InTransit, ...] = ()
    lanes: tuple[TransferLane, ...] = ()
    substitutes: tuple[Substitute, ...] = ()
    protected_share: Mapping[str, float] = field(default_factory=dict)
    lateness_cost_per_unit_day: float = 0.5
    waiting_discount_per_day: float = 1e-4
    customer_minimum_fill: Mapping[int, float] = field(default_factory=dict)

"""Candidate actions for a backorder the plan cannot resolve in time, and their value.

Pure functions: a :class:`Case` (one backorder, what the plan gives it, its risks and exposures)
and its :class:`Options` (stock elsewhere, alternate suppliers, substitutes) in; valued
:class:`Action` s out, ranked by net value. Nothing here reads the database.

How an action is valued
-----------------------
Every action is judged by how much *expected loss* it removes. The expected loss of a backorder
has three parts, all in USD:

- SLA: the contract's penalty still to accrue (:func:`expected_penalty`). The contract charges
  ``penalty_rate_per_day`` × the line's open value for every day it is late, up to
  ``penalty_cap_rate`` × that value, so a path on which the late units arrive ``d`` days after
  the promise costs ``value × min(rate × d, cap)``. The days already past the promise are sunk:
  what a path still costs is that minus ``value × min(rate × days overdue, cap)`` (nothing once
  the cap is reached). A delivery with delay risk ``p_delay`` arrives ``d`` days late with
  probability ``1 − p_delay`` and ``d + days_late_if_delayed`` with ``p_delay``; the expected
  penalty weighs the two (the cap applies to each, so a delay past the cap costs no more);
- churn: ``P(churn) × relationship value at risk × BREACH_SHARE_OF_CHURN_RISK × P(breach)``,
  the part of the churn risk a breach of this order drives;
- lateness: ``units late × expected days late × lateness cost`` (the allocation policy's USD per
  unit per day late).

The plan's path: the late units arrive on ``late_arrival`` with the PO line's ``po_p_delay`` and
``po_days_late_if_delayed`` (``NO_SUPPLY_DAYS_LATE`` days after the later of today and the
promise when nothing is arriving). An action that delivers the late units on ``arrival`` with its
own delay risk ``p_delay`` (days late if delayed ``days_late_if_delayed``) saves the penalty
between the two paths, on the share of the late units it covers: an overdue line saves
``rate × days gained × value`` until the cap, an action that still arrives after the promise
saves only the days it gains. It changes P(breach) to ``min(P_model, p_delay)`` when it arrives
in time (0 when even a delay keeps it in time), and to 1 when it arrives after the promise (see
:func:`breach_after`), which moves the churn part. The benefit is the drop in expected loss; it
is never negative (an action that makes things worse is simply not proposed). Outreach does not
move the arrival: it lowers P(churn) by ``OUTREACH_CHURN_DROP``. Shipping the available part now
removes the penalty still to accrue on the units that ship. Cost is what the action spends (USD);
net value = benefit − cost.

Every assumption is a named constant below with its reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from allotment.policy.schema import Policy

#: Days after the later of today and the promise that units with no supply in sight (no PO line,
#: no stock) are assumed to arrive: the horizon over which their lateness and penalty are counted.
NO_SUPPLY_DAYS_LATE = 30.0
#: Share of a customer's churn risk on one backorder that a breach of that backorder drives
#: (the rest comes from price, competition and other orders): avoiding the breach removes this
#: share, in proportion to the drop in P(breach).
BREACH_SHARE_OF_CHURN_RISK = 0.3
#: Relative drop in P(churn) from a proactive call with an offer before the delay hits
#: (customer-service experience in the handbook: most customers stay when told early).
OUTREACH_CHURN_DROP = 0.3
#: Fixed cost of one outreach call (customer-service time, USD).
OUTREACH_CALL_COST = 25.0
#: Probability that a customer without substitution consent accepts a proposed substitute: the
#: benefit of a "propose to customer" substitute is discounted by it.
SUBSTITUTE_ACCEPTANCE = 0.6
#: Share of a PO line's delay risk left after an expedite (an expedited shipment is tracked and
#: flown, so it slips less often).
EXPEDITE_RESIDUAL_DELAY_SHARE = 0.5
#: Delay risk of a warehouse transfer (own trucks; rarely late).
TRANSFER_DELAY_RISK = 0.02
#: Days late of a transfer that slips.
TRANSFER_DAYS_LATE_IF_DELAYED = 2.0
#: Delay risk of shipping a substitute from stock at the order's own warehouse.
STOCK_DELAY_RISK = 0.0


class Kind(StrEnum):
    """The kinds of action, in the order they are listed when net values tie."""

    EXPEDITE = "expedite"
    ALTERNATE_SUPPLIER = "alternate_supplier"
    TRANSFER = "transfer"
    SUBSTITUTE = "substitute"
    SHIP_PARTIAL = "ship_partial"
    OUTREACH = "outreach"
    HOLD = "hold_for_complete"


@dataclass(frozen=True)
class Case:
    """One backorder the plan leaves short or late, with what the models say about it.

    Parameters
    ----------
    backorder_id, number, customer_id, tier, sku, location
        Which backorder, for whom, of what, shipping from where.
    today
        The planning day.
    promised_date
        The date promised to the customer.
    open_quantity
        Units still open.
    unit_price, unit_cost
        USD per unit (the order line's price; the product's cost).
    on_time_units
        Units the plan delivers on or before the promised date.
    from_stock
        Units the plan ships from stock now (can go today if partial shipments are allowed).
    late_arrival
        When the plan's late units arrive (None: the plan has no supply for them).
    po_line_id, po_eta, po_unit_cost, po_p_delay, po_days_late_if_delayed
        The open PO line the backorder waits on (None when there is none), its ETA, its unit
        cost (USD), P(delay) from the supplier-delay model and days late when delayed.
    p_sla_breach, p_churn
        Model risks (the latest score snapshot; see ``scored``).
    penalty_rate_per_day, penalty_cap_rate
        The customer's contract: penalty per day late and its cap, as shares of the line's
        open value.
    relationship_value
        USD at stake: the relationship value at risk.
    lateness_cost_per_unit_day
        USD per unit per day late (the allocation policy's).
    allows_partial_ship, allows_substitution
        From the customer's contract.
    scored
        False when the backorder has no score snapshot: P(breach) is then 1 (the plan is late
        for sure) and P(churn) 0, and the recommendation says so.
    """

    backorder_id: int
    number: str
    customer_id: int
    tier: str
    sku: str
    location: str
    today: date
    promised_date: date
    open_quantity: int
    unit_price: float
    unit_cost: float
    on_time_units: int
    from_stock: int
    late_arrival: date | None
    p_sla_breach: float
    p_churn: float
    penalty_rate_per_day: float
    penalty_cap_rate: float
    relationship_value: float
    lateness_cost_per_unit_day: float = 0.5
    po_line_id: int | None = None
    po_eta: date | None = None
    po_unit_cost: float = 0.0
    po_p_delay: float = 0.0
    po_days_late_if_delayed: float = 0.0
    allows_partial_ship: bool = True
    allows_substitution: bool = False
    scored: bool = True

    @property
    def late_units(self) -> int:
        """Units the plan does not deliver by the promised date."""
        return max(0, self.open_quantity - self.on_time_units)

    @property
    def days_overdue(self) -> int:
        """Days already past the promised date (0 before it): their penalty is sunk."""
        return max(0, (self.today - self.promised_date).days)

    @property
    def value_at_risk(self) -> float:
        """Open units × unit price (USD): what the contract's penalty runs on."""
        return self.open_quantity * self.unit_price


@dataclass(frozen=True)
class StockElsewhere:
    """Free stock of the SKU at another location, after the plan (units, USD per unit, days)."""

    location: str
    available: int
    cost_per_unit: float
    lead_time_days: int


@dataclass(frozen=True)
class AlternateSupplier:
    """Another supplier of the product's category.

    ``cost_ratio`` is its usual PO unit cost over the product's list cost (1.0: at list cost);
    ``p_delay`` its share of late receipts; ``days_late_if_delayed`` its median lateness.
    """

    supplier_id: int
    code: str
    lead_time_days: int
    cost_ratio: float
    p_delay: float
    days_late_if_delayed: float


@dataclass(frozen=True)
class SubstituteStock:
    """Free stock of an approved substitute (``premium_rate``: its price premium share)."""

    sku: str
    location: str
    available: int
    premium_rate: float
    cost_per_unit: float = 0.0  # transfer cost when the stock is elsewhere (USD per unit)
    lead_time_days: int = 0


@dataclass(frozen=True)
class Options:
    """What could be done for a case, beyond its own PO line."""

    stock_elsewhere: tuple[StockElsewhere, ...] = ()
    suppliers: tuple[AlternateSupplier, ...] = ()
    substitutes: tuple[SubstituteStock, ...] = ()
    current_cost_ratio: float = 1.0  # the current supplier's usual cost over list cost


@dataclass(frozen=True)
class Action:
    """One valued candidate action (money in USD).

    ``committed`` is the money the action commits (the fee, the purchase, the credit);
    ``cost`` what it costs us beyond what the backorder costs anyway (a spot buy's premium, not
    the units); ``benefit`` the drop in expected loss; ``net`` = benefit − cost.
    ``needs_consent``: the customer must agree first ("propose to customer", not "do").
    """

    kind: Kind
    backorder_id: int
    units: int
    cost: float
    committed: float
    benefit: float
    arrival: date | None
    p_breach_after: float
    explanation: str
    needs_consent: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def net(self) -> float:
        """Benefit minus cost (USD)."""
        return self.benefit - self.cost

    def approval_amount(self) -> Decimal:
        """Amount routed for approval: value at stake (the benefit claimed) + money committed."""
        return money(max(0.0, self.benefit) + max(0.0, self.committed))


def money(value: float) -> Decimal:
    """USD rounded to the cent."""
    return Decimal(repr(round(value, 2))).quantize(Decimal("0.01"))


def _usd(v: float) -> str:
    return f"${v:,.0f}" if abs(v) >= 100 else f"${v:,.2f}"


def breach_after(
    p_model: float, promised: date, arrival: date, p_delay: float, days_late_if_delayed: float
) -> float:
    """P(SLA breach) if the late units arrive on ``arrival`` from a source with ``p_delay``.

    1 when ``arrival`` is after the promise; when it is in time, the source's delay risk if a
    delay would push it past the promise (0 when even a delay keeps it in time), never more
    than the model's current P(breach) (an earlier arrival never raises the risk).
    """
    if arrival > promised:
        return 1.0
    slack = (promised - arrival).days
    risk = p_delay if days_late_if_delayed > slack else 0.0
    return min(p_model, risk)


def _days_late(case: Case, arrival: date | None) -> float:
    """Days after the promise the late units arrive on ``arrival`` (not before today)."""
    if arrival is None:
        return case.days_overdue + NO_SUPPLY_DAYS_LATE
    return float(max(case.days_overdue, (arrival - case.promised_date).days))


def expected_days_late(
    case: Case, arrival: date | None, p_delay: float, days_late_if_delayed: float
) -> float:
    """Expected days after the promise of units arriving on ``arrival`` from a source with
    ``p_delay`` (``NO_SUPPLY_DAYS_LATE`` after the later of today and the promise with no
    arrival in sight; never fewer than the days already overdue)."""
    if arrival is None:
        return _days_late(case, None)
    mean = (arrival - case.promised_date).days + p_delay * days_late_if_delayed
    return max(float(case.days_overdue), mean)


def expected_penalty(
    case: Case, arrival: date | None, p_delay: float, days_late_if_delayed: float
) -> float:
    """The contract's penalty still to accrue on the case's value at risk (USD, ≥ 0).

    ``value × (min(rate × d, cap) − min(rate × days overdue, cap))`` for the late units arriving
    ``d`` days after the promise, weighed over the source's delay: ``d`` with probability
    ``1 − p_delay``, ``d + days_late_if_delayed`` with ``p_delay``. The penalty of the days
    already overdue is sunk (paid whatever is done now); past the cap nothing more accrues.
    """
    rate = max(0.0, case.penalty_rate_per_day)
    cap = max(0.0, case.penalty_cap_rate)
    sunk = min(rate * case.days_overdue, cap)
    days = _days_late(case, arrival)
    if arrival is None or p_delay <= 0 or days_late_if_delayed <= 0:
        outcomes = [(1.0, days)]
    else:
        p = min(1.0, p_delay)
        delayed = max(days, (arrival - case.promised_date).days + days_late_if_delayed)
        outcomes = [(1.0 - p, days), (p, delayed)]
    share = sum(p * (min(rate * d, cap) - sunk) for p, d in outcomes)
    return case.value_at_risk * max(0.0, share)


def _plan_penalty(case: Case) -> float:
    """:func:`expected_penalty` on the plan's path (its late arrival, the PO line's delay)."""
    return expected_penalty(case, case.late_arrival, case.po_p_delay, case.po_days_late_if_delayed)


def expected_loss(case: Case) -> dict[str, float]:
    """The case's expected loss by part (USD) under the plan, and its total."""
    sla = _plan_penalty(case)
    churn = case.p_churn * case.relationship_value * BREACH_SHARE_OF_CHURN_RISK
    churn *= case.p_sla_breach
    days = expected_days_late(
        case, case.late_arrival, case.po_p_delay, case.po_days_late_if_delayed
    )
    lateness = case.late_units * days * case.lateness_cost_per_unit_day
    return {"sla": sla, "churn": churn, "lateness": lateness, "total": sla + churn + lateness}


def arrival_benefit(
    case: Case, *, units: int, arrival: date, p_delay: float, days_late_if_delayed: float
) -> tuple[float, float, dict[str, float]]:
    """Drop in expected loss when ``units`` of the late units arrive on ``arrival``.

    Returns the benefit (USD, ≥ 0), P(breach) after, and the benefit by part.
    """
    late = case.late_units
    if late <= 0 or units <= 0:
        return 0.0, case.p_sla_breach, {"sla": 0.0, "churn": 0.0, "lateness": 0.0}
    share = min(units, late) / late
    p_after = breach_after(
        case.p_sla_breach, case.promised_date, arrival, p_delay, days_late_if_delayed
    )
    drop = max(0.0, case.p_sla_breach - p_after) * share
    penalty_after = expected_penalty(case, arrival, p_delay, days_late_if_delayed)
    before_days = expected_days_late(
        case, case.late_arrival, case.po_p_delay, case.po_days_late_if_delayed
    )
    after_days = expected_days_late(case, arrival, p_delay, days_late_if_delayed)
    parts = {
        "sla": max(0.0, _plan_penalty(case) - penalty_after) * share,
        "churn": case.p_churn * case.relationship_value * BREACH_SHARE_OF_CHURN_RISK * drop,
        "lateness": min(units, late)
        * max(0.0, before_days - after_days)
        * case.lateness_cost_per_unit_day,
    }
    p_line = case.p_sla_breach - drop
    return sum(parts.values()), p_line, parts


def _when(case: Case, arrival: date) -> str:
    days = (arrival - case.promised_date).days
    if days > 0:
        return f"arrives {arrival} ({days} day(s) after the promised {case.promised_date})"
    return f"arrives {arrival}, on time for the promised {case.promised_date}"


def expedite(case: Case, policy: Policy) -> Action | None:
    """Expedite the PO line the backorder waits on: a fee for an earlier ETA."""
    if case.po_line_id is None or case.po_eta is None or case.late_units <= 0:
        return None
    rec = policy.recommendations
    to_go = max(0, (case.po_eta - case.today).days)
    saved = math.ceil(to_go * rec.expedite_time_saved_share)
    if saved <= 0:
        return None
    new_eta = max(case.today + timedelta(days=1), case.po_eta - timedelta(days=saved))
    units = case.late_units
    unit_cost = case.po_unit_cost or case.unit_cost
    fee = float(rec.expedite_fee_rate) * unit_cost * units + float(rec.expedite_fixed_fee)
    p_delay = case.po_p_delay * EXPEDITE_RESIDUAL_DELAY_SHARE
    benefit, p_after, parts = arrival_benefit(
        case,
        units=units,
        arrival=new_eta,
        p_delay=p_delay,
        days_late_if_delayed=case.po_days_late_if_delayed,
    )
    text = (
        f"Expedite PO line {case.po_line_id} ({units} unit(s)): ETA {case.po_eta} → {new_eta},"
        f" {saved} day(s) sooner; {_when(case, new_eta)}. Fee {_usd(fee)}; P(breach)"
        f" {case.p_sla_breach:.0%} → {p_after:.0%}, expected loss down {_usd(benefit)}."
    )
    return Action(
        kind=Kind.EXPEDITE,
        backorder_id=case.backorder_id,
        units=units,
        cost=fee,
        committed=fee,
        benefit=benefit,
        arrival=new_eta,
        p_breach_after=p_after,
        explanation=text,
        details={
            "po_line_id": case.po_line_id,
            "eta_before": case.po_eta.isoformat(),
            "eta_after": new_eta.isoformat(),
            "days_saved": saved,
            "p_delay_after": p_delay,
            "benefit_parts": parts,
        },
    )


def alternate_supplier(
    case: Case, supplier: AlternateSupplier, policy: Policy, current_cost_ratio: float = 1.0
) -> Action | None:
    """Buy the late units from another supplier of the category (a spot buy at a premium).

    The premium over the product's list cost is the policy's spot-buy premium plus how much
    dearer the supplier usually is than the current one (``cost_ratio − current_cost_ratio``).
    """
    units = case.late_units
    if units <= 0:
        return None
    rec = policy.recommendations
    arrival = case.today + timedelta(days=supplier.lead_time_days)
    premium_rate = float(rec.spot_buy_premium_rate) + max(
        0.0, supplier.cost_ratio - current_cost_ratio
    )
    unit_cost = case.unit_cost * (1.0 + premium_rate)
    purchase = unit_cost * units
    premium = case.unit_cost * premium_rate * units
    benefit, p_after, parts = arrival_benefit(
        case,
        units=units,
        arrival=arrival,
        p_delay=supplier.p_delay,
        days_late_if_delayed=supplier.days_late_if_delayed,
    )
    text = (
        f"Buy {units} unit(s) from {supplier.code} (lead time {supplier.lead_time_days} days,"
        f" late on {supplier.p_delay:.0%} of its deliveries): {_when(case, arrival)}."
        f" Purchase {_usd(purchase)} at a {premium_rate:.0%} premium ({_usd(premium)});"
        f" P(breach) {case.p_sla_breach:.0%} → {p_after:.0%}, expected loss down"
        f" {_usd(benefit)}. The units on the current PO then go to stock."
    )
    return Action(
        kind=Kind.ALTERNATE_SUPPLIER,
        backorder_id=case.backorder_id,
        units=units,
        cost=premium,
        committed=purchase,
        benefit=benefit,
        arrival=arrival,
        p_breach_after=p_after,
        explanation=text,
        details={
            "supplier_id": supplier.supplier_id,
            "supplier": supplier.code,
            "lead_time_days": supplier.lead_time_days,
            "supplier_p_delay": supplier.p_delay,
            "premium_rate": premium_rate,
            "unit_cost": unit_cost,
            "benefit_parts": parts,
        },
    )


def transfer(case: Case, stock: StockElsewhere) -> Action | None:
    """Move free stock from another warehouse (lane cost and lead time as allocation assumes)."""
    units = min(case.late_units, stock.available)
    if units <= 0:
        return None
    arrival = case.today + timedelta(days=stock.lead_time_days)
    cost = stock.cost_per_unit * units
    benefit, p_after, parts = arrival_benefit(
        case,
        units=units,
        arrival=arrival,
        p_delay=TRANSFER_DELAY_RISK,
        days_late_if_delayed=TRANSFER_DAYS_LATE_IF_DELAYED,
    )
    text = (
        f"Transfer {units} of the {case.late_units} late unit(s) from {stock.location}"
        f" ({stock.available} free there): {_when(case, arrival)}. Transfer cost {_usd(cost)};"
        f" P(breach) {case.p_sla_breach:.0%} → {p_after:.0%}, expected loss down"
        f" {_usd(benefit)}."
    )
    return Action(
        kind=Kind.TRANSFER,
        backorder_id=case.backorder_id,
        units=units,
        cost=cost,
        committed=cost,
        benefit=benefit,
        arrival=arrival,
        p_breach_after=p_after,
        explanation=text,
        details={
            "from_location": stock.location,
            "to_location": case.location,
            "available": stock.available,
            "cost_per_unit": stock.cost_per_unit,
            "lead_time_days": stock.lead_time_days,
            "benefit_parts": parts,
        },
    )


def substitute(case: Case, sub: SubstituteStock) -> Action | None:
    """Ship an approved substitute: "do" with the contract's consent, else propose it."""
    units = min(case.late_units, sub.available)
    if units <= 0:
        return None
    arrival = case.today + timedelta(days=sub.lead_time_days)
    # We absorb the substitute's price premium (the customer pays the ordered SKU's price); a
    # cheaper substitute is passed on to the customer at no gain to us.
    committed = (max(0.0, sub.premium_rate) * case.unit_price + sub.cost_per_unit) * units
    cost = committed
    benefit, p_after, parts = arrival_benefit(
        case,
        units=units,
        arrival=arrival,
        p_delay=STOCK_DELAY_RISK if not sub.lead_time_days else TRANSFER_DELAY_RISK,
        days_late_if_delayed=TRANSFER_DAYS_LATE_IF_DELAYED,
    )
    consent = not case.allows_substitution
    if consent:
        # Only worth what it brings if the customer says yes; the cost is only spent then too.
        benefit *= SUBSTITUTE_ACCEPTANCE
        cost *= SUBSTITUTE_ACCEPTANCE
        parts = {k: v * SUBSTITUTE_ACCEPTANCE for k, v in parts.items()}
        p_after = case.p_sla_breach - (case.p_sla_breach - p_after) * SUBSTITUTE_ACCEPTANCE
    verb = (
        "Propose to the customer (their contract needs consent for substitutes): ship"
        if consent
        else "Ship (the contract allows substitutes)"
    )
    text = (
        f"{verb} {units} unit(s) of {sub.sku} from {sub.location} instead of {case.sku}:"
        f" {_when(case, arrival)}. Premium and transfer {_usd(cost)}; expected loss down"
        f" {_usd(benefit)}"
        + (f" (×{SUBSTITUTE_ACCEPTANCE:.0%} chance the customer accepts)." if consent else ".")
    )
    return Action(
        kind=Kind.SUBSTITUTE,
        backorder_id=case.backorder_id,
        units=units,
        cost=cost,
        committed=committed,
        benefit=benefit,
        arrival=arrival,
        p_breach_after=p_after,
        explanation=text,
        needs_consent=consent,
        details={
            "substitute_sku": sub.sku,
            "from_location": sub.location,
            "premium_rate": sub.premium_rate,
            "acceptance": SUBSTITUTE_ACCEPTANCE if consent else 1.0,
            "benefit_parts": parts,
        },
    )


def ship_partial(case: Case, policy: Policy) -> Action | None:
    """Ship what is in stock now (only when the contract allows partial shipments)."""
    units = min(case.from_stock, case.open_quantity)
    if not case.allows_partial_ship or units <= 0 or units >= case.open_quantity:
        return None
    if case.late_arrival is not None and case.late_arrival <= case.today:
        return None
    cost = float(policy.recommendations.partial_shipment_cost)
    # The penalty runs on the value still open: the shipped units stop accruing today, so their
    # share of the penalty still to accrue on the plan's path goes away.
    share = units / case.open_quantity
    benefit = _plan_penalty(case) * share
    text = (
        f"Ship the {units} unit(s) in stock now and the other {case.open_quantity - units}"
        f" when they arrive: the customer has {share:.0%} of the line now, and the penalty runs"
        f" only on the rest (expected loss down {_usd(benefit)}); second shipment"
        f" {_usd(cost)}."
    )
    return Action(
        kind=Kind.SHIP_PARTIAL,
        backorder_id=case.backorder_id,
        units=units,
        cost=cost,
        committed=cost,
        benefit=benefit,
        arrival=case.today,
        p_breach_after=case.p_sla_breach,
        explanation=text,
        details={"units_now": units, "units_later": case.open_quantity - units, "share": share},
    )


def hold_for_complete(case: Case) -> Action:
    """Wait for the plan's arrival and ship complete: no cost, no benefit (the reference)."""
    loss = expected_loss(case)
    when = (
        f"the late units arrive {case.late_arrival}"
        if case.late_arrival is not None
        else "no supply is in sight for the late units"
    )
    partial = "" if case.allows_partial_ship else " (the customer does not take partial shipments)"
    text = (
        f"Hold and ship complete{partial}: {when}; the expected loss of"
        f" {_usd(loss['total'])} stays (SLA {_usd(loss['sla'])}, churn {_usd(loss['churn'])},"
        f" lateness {_usd(loss['lateness'])})."
    )
    return Action(
        kind=Kind.HOLD,
        backorder_id=case.backorder_id,
        units=case.open_quantity,
        cost=0.0,
        committed=0.0,
        benefit=0.0,
        arrival=case.late_arrival,
        p_breach_after=case.p_sla_breach,
        explanation=text,
        details={"expected_loss": loss},
    )


def outreach(case: Case, policy: Policy) -> Action | None:
    """Call the customer before the delay hits, with a credit on the late units."""
    if case.p_churn <= 0 or case.relationship_value <= 0:
        return None
    credit = (
        float(policy.recommendations.outreach_credit_rate)
        * case.unit_price
        * max(1, case.late_units)
    )
    cost = credit + OUTREACH_CALL_COST
    benefit = case.p_churn * OUTREACH_CHURN_DROP * case.relationship_value
    text = (
        f"Call the customer now with a {_usd(credit)} credit on the late units: P(churn)"
        f" {case.p_churn:.1%} → {case.p_churn * (1 - OUTREACH_CHURN_DROP):.1%} on a relationship"
        f" value of {_usd(case.relationship_value)} (expected loss down {_usd(benefit)});"
        f" call and credit {_usd(cost)}."
    )
    return Action(
        kind=Kind.OUTREACH,
        backorder_id=case.backorder_id,
        units=case.late_units,
        cost=cost,
        committed=credit,
        benefit=benefit,
        arrival=case.late_arrival,
        p_breach_after=case.p_sla_breach,
        explanation=text,
        details={
            "credit": credit,
            "call_cost": OUTREACH_CALL_COST,
            "p_churn_after": case.p_churn * (1 - OUTREACH_CHURN_DROP),
        },
    )


def candidates(case: Case, options: Options, policy: Policy) -> list[Action]:
    """Every action that applies to ``case`` and removes some expected loss, plus "hold"."""
    found: list[Action | None] = [expedite(case, policy)]
    found += [
        alternate_supplier(case, s, policy, options.current_cost_ratio) for s in options.suppliers
    ]
    found += [transfer(case, s) for s in options.stock_elsewhere]
    found += [substitute(case, s) for s in options.substitutes]
    found += [ship_partial(case, policy), outreach(case, policy)]
    # An action that removes no expected loss is noise beside "hold", the free reference.
    useful = [a for a in found if a is not None and a.benefit > 0]
    return [*useful, hold_for_complete(case)]


def rank(actions: Sequence[Action], limit: int) -> list[Action]:
    """Best net value first (ties: kind order, then cheaper); at most ``limit``.

    Only the best of each kind is kept (three transfers from three warehouses are one choice).
    """
    order = list(Kind)
    ranked = sorted(actions, key=lambda a: (-round(a.net, 2), order.index(a.kind), a.cost))
    best: list[Action] = []
    seen: set[Kind] = set()
    for a in ranked:
        if a.kind in seen:
            continue
        seen.add(a.kind)
        best.append(a)
    return best[:limit]


def recommend(
    case: Case, options: Options, policy: Policy, limit: int | None = None
) -> list[Action]:
    """The ranked candidate actions of one case (``limit`` defaults to the policy's)."""
    cap = limit if limit is not None else policy.recommendations.max_per_backorder
    return rank(candidates(case, options, policy), cap)

"""Approval routing: which roles must sign off a recommendation of a given amount, and why.

Pure functions of the policy; nothing here reads the database.

How amounts are classified
--------------------------
The amount (USD) is first rounded to the cent (banker's rounding, as money is stored), then falls
in the band of the last approval step whose ``min_amount`` (an inclusive lower bound) it reaches.
With the default policy (steps at $0 auto, $1,000 supervisor, $10,000 manager, $50,000.01
director) that reads exactly as the handbook:

===============  ==========================
amount           band
===============  ==========================
$0 – $999.99     automatic (notification only)
$1,000.00        supervisor ("$1,000 – $10,000": the lower bound is included)
$9,999.99        supervisor
$10,000.00       manager ("$10,000 – $50,000": both bounds included)
$50,000.00       manager
$50,000.01       director ("over $50,000")
===============  ==========================

With ``approvals.chain: cumulative`` the chain is every non-automatic band up to the amount's, in
order (a $12,500 recommendation: supervisor, then manager); with ``single`` only the amount's band.
A tier listed in ``approvals.always_add`` (VIP → account manager) adds that role last, whatever
the amount, so a VIP recommendation is never automatic. Nobody fills two steps of one chain and the
requester approves none of them; :class:`Route` carries ``requested_by`` for the workflow to
enforce that.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from allotment.domain.enums import Tier
from allotment.errors import AppError
from allotment.policy.schema import ApprovalStep, Policy

CENT = Decimal("0.01")


class ApprovalAmountInvalidError(AppError):
    """An amount that cannot be routed (negative, not a number)."""

    status_code = 422
    code = "approval_amount_invalid"


@dataclass(frozen=True)
class Route:
    """The approval route of one recommendation.

    Attributes
    ----------
    amount
        The routed amount, rounded to the cent (USD).
    tier
        The customer's tier.
    band_role
        The role of the amount's band (``"auto"`` below the first threshold).
    chain
        The roles that must approve, in order; empty when the recommendation is automatic.
    auto
        True when no approval is needed (only ``notify`` hears about it).
    notify
        Roles notified of an automatic approval.
    reasons
        The route in words, one sentence per rule applied.
    requested_by
        Who asked for the recommendation; they may approve no step of this chain.
    """

    amount: Decimal
    tier: Tier
    band_role: str
    chain: tuple[str, ...]
    auto: bool
    notify: tuple[str, ...]
    reasons: tuple[str, ...]
    requested_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "amount": str(self.amount),
            "tier": self.tier.value,
            "band_role": self.band_role,
            "chain": list(self.chain),
            "auto": self.auto,
            "notify": list(self.notify),
            "reasons": list(self.reasons),
            "requested_by": self.requested_by,
        }


def usd(amount: Decimal) -> str:
    """``$12,500`` for whole dollars, ``$9,999.99`` otherwise."""
    if amount == amount.to_integral_value():
        return f"${amount:,.0f}"
    return f"${amount:,.2f}"


def role_label(role: str) -> str:
    return role.replace("_", " ")


def tier_label(tier: Tier) -> str:
    return "VIP" if tier is Tier.VIP else tier.value


def to_cents(amount: Decimal | int | str) -> Decimal:
    """``amount`` rounded to the cent (banker's rounding), refusing negatives and non-numbers."""
    try:
        value = Decimal(amount)
    except (InvalidOperation, ValueError, TypeError):
        raise ApprovalAmountInvalidError(f"{amount!r} is not an amount", field="amount") from None
    if not value.is_finite():
        raise ApprovalAmountInvalidError(f"{amount!r} is not an amount", field="amount")
    value = value.quantize(CENT, rounding=ROUND_HALF_EVEN)
    if value < 0:
        raise ApprovalAmountInvalidError(f"amount {amount} is negative", field="amount")
    return value


def band_index(steps: tuple[ApprovalStep, ...], amount: Decimal) -> int:
    """Index of the step whose band holds ``amount`` (already in cents)."""
    index = 0
    for i, step in enumerate(steps):
        if amount >= step.min_amount:
            index = i
    return index


def band_text(steps: tuple[ApprovalStep, ...], index: int) -> str:
    """The band in words: "under $1,000", "in the $10,000–$50,000 band", "over $50,000"."""
    low = steps[index].min_amount
    if index + 1 < len(steps):
        high = steps[index + 1].min_amount - CENT
        if index == 0:
            return f"under {usd(high + CENT)}"
        return f"in the {usd(low)}–{usd(high)} band"
    if index == 0:
        return "any amount"
    below = low - CENT
    if below == below.to_integral_value():
        return f"over {usd(below)}"
    return f"{usd(low)} or more"


def route(policy: Policy, amount: Decimal, *, tier: Tier, requested_by: str | None = None) -> Route:
    """The approval chain a recommendation of ``amount`` USD for a ``tier`` customer needs.

    Parameters
    ----------
    policy
        The policy whose ``approvals`` apply.
    amount
        The recommendation's amount in USD; rounded to the cent before routing (see the module
        docstring for how boundary amounts are classified).
    tier
        The customer's tier (``always_add`` may add a role).
    requested_by
        Who asked; carried on the route so the workflow refuses them as an approver.

    Returns
    -------
    Route
        The ordered chain, whether it is automatic, and the reasons in words.

    Raises
    ------
    ApprovalAmountInvalidError
        ``amount`` is negative or not a finite number.
    """
    approvals = policy.approvals
    steps = approvals.steps
    cents = to_cents(amount)
    index = band_index(steps, cents)
    band = steps[index]
    where = f"{usd(cents)} is {band_text(steps, index)}"
    reasons: list[str] = []
    chain: list[str] = []
    extra = approvals.always_add.get(tier)
    if band.role == "auto":
        if extra is None:
            reasons.append(f"{where} → automatic approval (notification only)")
        else:
            reasons.append(f"{where} → no approval needed for the amount")
    else:
        reasons.append(f"{where} → {role_label(band.role)}")
        if approvals.chain == "cumulative":
            chain = [s.role for s in steps[: index + 1] if s.role != "auto"]
            if len(chain) > 1:
                reasons.append(
                    "cumulative chain: every band up to it signs off, in order → "
                    + " → ".join(role_label(r) for r in chain)
                )
        else:
            chain = [band.role]
    if extra is not None:
        if extra in chain:
            reasons.append(
                f"{tier_label(tier)} customer → {role_label(extra)} always (already in the chain)"
            )
        else:
            chain.append(extra)
            reasons.append(f"{tier_label(tier)} customer → {role_label(extra)} always")
    auto = not chain
    notify = tuple(approvals.notify_on_auto) if auto else ()
    if auto and notify:
        reasons.append("notify " + ", ".join(role_label(r) for r in notify))
    if requested_by and not auto:
        reasons.append(f"requested by {requested_by}, who may approve no step of this chain")
    return Route(
        amount=cents,
        tier=tier,
        band_role=band.role,
        chain=tuple(chain),
        auto=auto,
        notify=notify,
        reasons=tuple(reasons),
        requested_by=requested_by,
    )

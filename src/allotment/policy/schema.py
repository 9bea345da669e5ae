"""The policy document: what the organisation decides, as data.

A policy holds the priority multipliers and blend weights, the approval thresholds and chain,
escalation triggers, notification rules, outreach thresholds and allocation settings. It is
versioned in the database (``policy_versions``); exactly one version is active at a time. Two
policies ship with the package (``defaults/``): ``default`` (the ML blend with the handbook's
multipliers, thresholds and escalations) and ``static-tier`` (the handbook's static rule:
multipliers on value and age, no models).

Unknown keys are refused everywhere, so a typo never silently falls back to a default. Money is
USD; durations are days.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from allotment.domain.enums import Tier

#: Roles that can appear in an approval chain, escalation or notification rule.
Role = Literal[
    "planner",
    "customer_service",
    "supervisor",
    "manager",
    "director",
    "executive",
    "account_manager",
    "purchasing_manager",
    "operations_director",
    "sales_rep",
    "data_scientist",
    "admin",
]


#: The role of an approval step: a role, or ``auto`` (approved automatically, notify only). One
#: Literal (not a union) so that a wrong value gets one error naming every allowed value.
StepRole = Literal[Role, "auto"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Multipliers(_Strict):
    """Multipliers applied to the whole blend (the handbook's "priority scoring")."""

    tier: dict[Tier, float] = Field(
        default_factory=lambda: {Tier.VIP: 5.0, Tier.PREMIUM: 3.0, Tier.STANDARD: 1.0}
    )
    emergency: float = Field(10.0, ge=1.0)

    @field_validator("tier")
    @classmethod
    def _every_tier_positive(cls, value: dict[Tier, float]) -> dict[Tier, float]:
        missing = [t.value for t in Tier if t not in value]
        if missing:
            raise ValueError(f"missing tier multiplier(s): {', '.join(missing)}")
        bad = [t.value for t, m in value.items() if not m > 0]
        if bad:
            raise ValueError(f"tier multipliers must be > 0: {', '.join(bad)}")
        return value


class BlendWeights(_Strict):
    """Weights of the blend components (dimensionless; components are in USD-equivalent).

    - ``sla``: P(SLA breach) × penalty exposure (USD)
    - ``churn``: P(churn) × relationship value at risk (USD)
    - ``delay``: P(supplier delay) × value waiting on that supply (USD)
    - ``value``: revenue at risk (USD)
    - ``margin``: margin at risk (USD)
    - ``age``: days waiting × ``age_usd_per_day`` (USD)
    """

    sla: float = Field(1.0, ge=0)
    churn: float = Field(1.0, ge=0)
    delay: float = Field(1.0, ge=0)
    value: float = Field(0.1, ge=0)
    margin: float = Field(0.0, ge=0)
    age: float = Field(1.0, ge=0)


class Blend(_Strict):
    """How the priority is computed from risks and exposures."""

    @model_validator(mode="after")
    def _fallback_is_rule_only(self) -> Blend:
        w = self.fallback_weights
        if w.sla or w.churn or w.delay:
            raise ValueError("fallback_weights may only weigh value, margin and age")
        if not self.use_models and (self.weights.sla or self.weights.churn or self.weights.delay):
            # A model-free policy that weighs a risk would silently score it as zero.
            raise ValueError("with use_models false, weights.sla, churn and delay must be 0")
        return self

    use_models: bool = True
    weights: BlendWeights = Field(default_factory=BlendWeights)
    # Used for a backorder whose model inputs are unavailable (a model missing or refused):
    # only the rule terms (value, margin, age) count, and the result is flagged ``degraded``.
    fallback_weights: BlendWeights = Field(
        default_factory=lambda: BlendWeights(sla=0, churn=0, delay=0, value=1, margin=0, age=1)
    )
    # USD-equivalent of one day a backorder has waited (the ageing term's unit price).
    age_usd_per_day: float = Field(50.0, ge=0)
    # Penalty exposure = value at risk × min(penalty_rate_per_day × exposure_days, penalty cap).
    penalty_exposure_days: float = Field(14.0, ge=0)
    # Share of a customer's lifetime value at stake when they churn, spread over their open
    # backorders in proportion to each backorder's value.
    relationship_value_share: float = Field(1.0, ge=0, le=1)


class ApprovalStep(_Strict):
    """An amount band and the role that must approve a recommendation in it."""

    # Lower bound, inclusive (USD). The first step starts at 0.
    min_amount: Decimal = Field(ge=0)
    # ``auto``: approved automatically, the listed roles are notified only.
    role: StepRole


def _vip_adds_account_manager() -> dict[Tier, Role]:
    return {Tier.VIP: "account_manager"}


class Approvals(_Strict):
    """Approval thresholds and chain.

    Handbook: under $1,000 automatic; $1,000 to under $10,000 supervisor; $10,000 to $50,000
    manager; over $50,000 director (a step's ``min_amount`` is inclusive and amounts route by the
    cent, so "over $50,000" is the step at $50,000.01). See :mod:`allotment.policy.routing`.
    """

    steps: tuple[ApprovalStep, ...] = (
        ApprovalStep(min_amount=Decimal("0"), role="auto"),
        ApprovalStep(min_amount=Decimal("1000"), role="supervisor"),
        ApprovalStep(min_amount=Decimal("10000"), role="manager"),
        ApprovalStep(min_amount=Decimal("50000.01"), role="director"),
    )
    # The chain includes every step up to the amount's band ("cumulative") or only that band's
    # role ("single").
    chain: Literal["cumulative", "single"] = "cumulative"
    # Tiers whose recommendations always add this role, whatever the amount.
    always_add: dict[Tier, Role] = Field(default_factory=lambda: _vip_adds_account_manager())
    notify_on_auto: tuple[Role, ...] = ("planner",)
    # A recommendation waiting in ``pending_approval`` longer than this (hours since it was
    # created) gets a reminder to its approval chain, and another each further period
    # (``allotment escalate``).
    remind_after_hours: int = Field(24, ge=1)

    @field_validator("steps")
    @classmethod
    def _ordered_from_zero(cls, steps: tuple[ApprovalStep, ...]) -> tuple[ApprovalStep, ...]:
        if not steps or steps[0].min_amount != 0:
            raise ValueError("the first approval step must start at min_amount 0")
        amounts = [s.min_amount for s in steps]
        if any(b <= a for a, b in itertools.pairwise(amounts)):
            raise ValueError("approval steps must have strictly increasing min_amount")
        if any(a != a.quantize(Decimal("0.01")) for a in amounts):
            raise ValueError("approval step amounts must be whole cents (amounts route by cent)")
        if any(s.role == "auto" for s in steps[1:]):
            raise ValueError("only the first approval step can be 'auto'")
        roles = [s.role for s in steps]
        if len(set(roles)) != len(roles):
            # One person never fills two steps of a chain, so a role twice could never be met.
            raise ValueError("each role can appear in only one approval step")
        return steps


class EscalationTrigger(_Strict):
    """Days overdue (past the promised date) at which a backorder escalates."""

    days_overdue: int = Field(ge=0)
    role: Role
    action: Literal["notify", "escalate", "involve", "review"]


def _default_escalations() -> tuple[EscalationTrigger, ...]:
    return (
        EscalationTrigger(days_overdue=3, role="supervisor", action="notify"),
        EscalationTrigger(days_overdue=7, role="manager", action="escalate"),
        EscalationTrigger(days_overdue=14, role="director", action="involve"),
        EscalationTrigger(days_overdue=21, role="executive", action="review"),
    )


class NotificationRule(_Strict):
    """Who hears about what, and how soon."""

    event: Literal["backorder_created", "eta_updated", "escalated", "approval_needed", "resolved"]
    roles: tuple[Role, ...]
    cadence: Literal["immediate", "daily_digest", "weekly_summary"] = "immediate"
    # Restrict the rule to these tiers (empty: every tier).
    tiers: tuple[Tier, ...] = ()


def _default_notifications() -> tuple[NotificationRule, ...]:
    return (
        NotificationRule(
            event="backorder_created", roles=("customer_service", "sales_rep"), cadence="immediate"
        ),
        NotificationRule(
            event="backorder_created", roles=("purchasing_manager",), cadence="daily_digest"
        ),
        NotificationRule(
            event="backorder_created", roles=("operations_director",), cadence="weekly_summary"
        ),
        NotificationRule(
            event="escalated", roles=("account_manager",), cadence="immediate", tiers=(Tier.VIP,)
        ),
    )


class Outreach(_Strict):
    """When customer service should call a customer before a delay becomes a lost account."""

    min_churn_risk: float = Field(0.2, ge=0, le=1)
    min_sla_breach_risk: float = Field(0.5, ge=0, le=1)
    # Expected relationship value at risk (USD) below which a customer is not listed.
    min_value_at_risk: Decimal = Field(Decimal("500"), ge=0)
    max_customers: int = Field(200, ge=1)


class Allocation(_Strict):
    """Allocation settings read by the optimizer."""

    # Share of each SKU-location's supply reserved for a tier before lower tiers are served.
    protected_share: dict[Tier, float] = Field(
        default_factory=lambda: {Tier.VIP: 0.2, Tier.PREMIUM: 0.1, Tier.STANDARD: 0.0}
    )
    enforce_contract_minimum_fill: bool = True
    # USD per unit per day late, charged in the objective for lateness.
    lateness_cost_per_unit_day: Decimal = Field(Decimal("0.50"), ge=0)

    @model_validator(mode="after")
    def _shares_fit(self) -> Allocation:
        if any(not 0 <= s <= 1 for s in self.protected_share.values()):
            raise ValueError("protected_share values must be between 0 and 1")
        if sum(self.protected_share.values()) > 1:
            raise ValueError("protected_share values must add up to at most 1")
        return self


class Recommendations(_Strict):
    """Fees and limits of recommended actions (see :mod:`allotment.recommend.actions`).

    Rates are shares of a money amount; fees are USD; durations are days.
    """

    # Recommendations kept per backorder, best net value first.
    max_per_backorder: int = Field(4, ge=1, le=7)
    # Expediting a PO line costs this share of the value of the units expedited (at PO cost)...
    expedite_fee_rate: Decimal = Field(Decimal("0.15"), ge=0)
    # ...plus this fixed fee per expedite (USD).
    expedite_fixed_fee: Decimal = Field(Decimal("250"), ge=0)
    # Share of the days still to go that an expedite saves (air instead of ocean, priority).
    expedite_time_saved_share: float = Field(0.5, ge=0, le=1)
    # Premium over the product's cost of a spot buy from an alternate supplier.
    spot_buy_premium_rate: Decimal = Field(Decimal("0.10"), ge=0)
    # Outreach offer: a credit of this share of the late units' value (USD).
    outreach_credit_rate: Decimal = Field(Decimal("0.05"), ge=0, le=1)
    # Extra freight and handling of a second shipment when the available part ships now (USD).
    partial_shipment_cost: Decimal = Field(Decimal("75"), ge=0)
    # Window (hours) within which recommendations for the same customer and SKU are summed
    # for routing, so splitting an action does not dodge an approval threshold.
    split_window_hours: int = Field(24, ge=0)


class Policy(_Strict):
    """A complete policy document."""

    name: str = Field(min_length=1, max_length=120, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    multipliers: Multipliers = Field(default_factory=Multipliers)
    blend: Blend = Field(default_factory=Blend)
    approvals: Approvals = Field(default_factory=Approvals)
    escalations: tuple[EscalationTrigger, ...] = Field(default_factory=_default_escalations)
    notifications: tuple[NotificationRule, ...] = Field(default_factory=_default_notifications)
    outreach: Outreach = Field(default_factory=Outreach)
    allocation: Allocation = Field(default_factory=Allocation)
    recommendations: Recommendations = Field(default_factory=Recommendations)

    @field_validator("escalations")
    @classmethod
    def _increasing_days(
        cls, value: tuple[EscalationTrigger, ...]
    ) -> tuple[EscalationTrigger, ...]:
        days = [t.days_overdue for t in value]
        if days != sorted(set(days)):
            raise ValueError("escalation days_overdue must be strictly increasing")
        return value

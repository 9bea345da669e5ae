"""The priority blend: a backorder's priority as a sum of named, money-equivalent components.

The formula
-----------
Every component is a product of four non-negative factors::

    component_k = M · w_k · R_k · E_k          priority = Σ_k component_k

``M`` (dimensionless)
    The tier multiplier times the emergency multiplier when the order is an emergency (else 1).
``w_k`` (dimensionless)
    The policy's weight of component ``k`` (``policy.blend.weights``; ``fallback_weights`` for a
    degraded backorder).
``R_k`` (probability)
    The risk behind the component: P(SLA breach) of the backorder's order line, P(churn) of its
    customer, P(supplier delay) of the PO line it waits on; 1 for the rule terms.
``E_k`` (USD)
    The money exposed to that risk:

    ============ ==========================================================================
    ``sla``      penalty exposure = value at risk × min(penalty_rate_per_day ×
                 penalty_exposure_days, penalty_cap_rate) (contract in force that day)
    ``churn``    relationship value at risk = lifetime value × relationship_value_share × this
                 backorder's share of the customer's open backorder value
    ``delay``    value at risk when the backorder waits on a PO line, else 0
    ``value``    value at risk = open quantity × unit price
    ``margin``   margin at risk = open quantity × max(unit price − unit cost, 0)
    ``age``      days waiting × ``age_usd_per_day``
    ============ ==========================================================================

Why this shape: each model-driven term is an expected loss (probability × money lost if it
happens), so terms in different units become comparable in USD, and the weights only say how
much the organisation cares about each kind of loss. Multiplying the whole sum by ``M`` keeps
the handbook's static rule (VIP ×5, premium ×3, standard ×1, emergency ×10 on value and age)
expressible as a policy: weights 0 on the model terms, ``value`` and ``age`` on.

Guarantees
----------
* **Exact additivity.** ``priority`` is computed as the sum of the components, so they add up
  to it up to float rounding (≤ 1e-6 × max(1, priority); in practice a few ulps).
* **Monotone.** All factors are non-negative and every exposure is non-decreasing in its inputs
  (penalty rate and cap, value, margin, days waiting, lifetime value; a backorder's share
  ``v / (v + others)`` grows with its own value ``v``), so raising a penalty, tier multiplier,
  age, value or any risk never lowers the priority.
* **Degraded, never guessed.** A backorder whose model input is unavailable (no model, a
  refused model, no feature row) while the policy weighs that risk is scored on the rule
  terms only, with ``fallback_weights``,
  and carries ``degraded = True`` with the reason. A policy with ``use_models: false`` (such
  as ``static-tier``) is rule-only by design: its own ``weights`` (which the policy schema
  restricts to value, margin and age) apply, no model is read, and nothing is degraded.
* **Deterministic.** Pure functions of the inputs and the policy.

Feature attributions (the second level)
---------------------------------------
A model-driven component is ``c = K · p`` with ``K = M · w · E`` (USD) and ``p`` the model's
probability. An explanation of ``p`` in probability space is ``p = base + Σ_j φ_j`` (see
:mod:`allotment.explain`), so ``c = K·base + Σ_j K·φ_j``: the feature parts (USD) plus a
``baseline`` part add up to the component. :func:`split_component` returns them, with the
baseline part taking the float remainder so the sum is the stored component exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from allotment.domain.enums import Tier
from allotment.policy.schema import Blend, BlendWeights, Multipliers, Policy

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Component names, in the order of the columns of :attr:`BlendResult.components`.
COMPONENTS: tuple[str, ...] = ("sla", "churn", "delay", "value", "margin", "age")
#: Components driven by a risk model, and the model (task) behind each.
MODEL_COMPONENTS: dict[str, str] = {
    "sla": "sla_breach",
    "churn": "churn",
    "delay": "supplier_delay",
}
RULE_COMPONENTS: tuple[str, ...] = ("value", "margin", "age")
#: Name of the part of a model-driven component not attributed to any feature.
BASELINE = "baseline"

_SLA, _CHURN, _DELAY = 0, 1, 2


@dataclass(frozen=True)
class Exposures:
    """What a batch of ``n`` backorders puts at stake (one array element per backorder).

    Parameters
    ----------
    tier
        Customer tier per backorder.
    is_emergency
        The order is an emergency.
    value_at_risk
        Open quantity × unit price (USD).
    margin_at_risk
        Open quantity × (unit price − unit cost) (USD); negative margins count as 0.
    penalty_rate_per_day
        Contract penalty as a share of the line's value per day late.
    penalty_cap_rate
        Contract cap of the penalty as a share of the line's value.
    lifetime_value
        The customer's lifetime value (USD).
    customer_open_value
        Value at risk of all the customer's open backorders, this one included (USD).
    has_supply
        The backorder waits on a PO line.
    days_waiting
        Days since the backorder was created (days; negative counts as 0).
    """

    tier: Sequence[Tier | str]
    is_emergency: BoolArray
    value_at_risk: FloatArray
    margin_at_risk: FloatArray
    penalty_rate_per_day: FloatArray
    penalty_cap_rate: FloatArray
    lifetime_value: FloatArray
    customer_open_value: FloatArray
    has_supply: BoolArray
    days_waiting: FloatArray

    def __len__(self) -> int:
        return len(self.value_at_risk)


@dataclass(frozen=True)
class Risks:
    """Model probabilities per backorder; NaN where the model or its row is unavailable."""

    sla_breach: FloatArray
    churn: FloatArray
    supplier_delay: FloatArray

    def matrix(self) -> FloatArray:
        """``(n, 3)`` probabilities in the order sla, churn, delay."""
        return np.column_stack([self.sla_breach, self.churn, self.supplier_delay]).astype(
            np.float64
        )


@dataclass(frozen=True)
class BlendResult:
    """The blend of ``n`` backorders.

    ``components`` is ``(n, 6)`` USD in :data:`COMPONENTS` order and ``priority`` its row sum;
    ``factors`` is ``(n, 6)`` ``K = M · w · E`` (USD), so ``components = factors · risk``
    (risk 1 for rule terms); ``rule_only`` marks rows scored without models (a rule-only
    policy, or degraded); ``degraded`` marks rows that fell back to ``fallback_weights``
    because a model input was unavailable.
    """

    components: FloatArray
    priority: FloatArray
    multiplier: FloatArray
    exposure: FloatArray
    factors: FloatArray
    rule_only: BoolArray
    degraded: BoolArray

    def row(self, i: int) -> dict[str, float]:
        """Component name → USD of row ``i``."""
        return {name: float(v) for name, v in zip(COMPONENTS, self.components[i], strict=True)}


def _weights(w: BlendWeights) -> FloatArray:
    return np.array([getattr(w, name) for name in COMPONENTS], dtype=np.float64)


def _nonneg(a: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64)
    # NaN inputs would poison the sum: a missing amount counts as nothing at stake.
    return np.where(np.isnan(arr), 0.0, np.maximum(arr, 0.0))


def multiplier(
    tier: Sequence[Tier | str], is_emergency: npt.ArrayLike, multipliers: Multipliers
) -> FloatArray:
    """``M`` per backorder: tier multiplier × (emergency multiplier if an emergency else 1)."""
    by_tier = {Tier(k).value: float(v) for k, v in multipliers.tier.items()}
    m_tier = np.array([by_tier[Tier(t).value] for t in tier], dtype=np.float64)
    emergency = np.asarray(is_emergency, dtype=bool)
    return m_tier * np.where(emergency, float(multipliers.emergency), 1.0)


def exposure_matrix(x: Exposures, blend: Blend) -> FloatArray:
    """``(n, 6)`` exposures ``E_k`` (USD) in :data:`COMPONENTS` order."""
    value = _nonneg(x.value_at_risk)
    rate = _nonneg(x.penalty_rate_per_day) * float(blend.penalty_exposure_days)
    penalty = value * np.minimum(rate, _nonneg(x.penalty_cap_rate))
    others = np.maximum(_nonneg(x.customer_open_value) - value, 0.0)
    total = value + others
    share = np.divide(value, total, out=np.zeros_like(value), where=total > 0)
    relationship = _nonneg(x.lifetime_value) * float(blend.relationship_value_share) * share
    delay = np.where(np.asarray(x.has_supply, dtype=bool), value, 0.0)
    margin = _nonneg(x.margin_at_risk)
    age = _nonneg(x.days_waiting) * float(blend.age_usd_per_day)
    return np.column_stack([penalty, relationship, delay, value, margin, age])


def needed_models(policy: Policy, has_supply: npt.ArrayLike) -> list[BoolArray]:
    """Per model (sla, churn, delay): which backorders need its probability.

    A model the policy does not use (``use_models: false``) or weighs 0 is not needed, and the
    delay model is needed only for backorders that wait on a PO line.
    """
    supply = np.asarray(has_supply, dtype=bool)
    w = policy.blend.weights
    use = policy.blend.use_models
    return [
        np.full(len(supply), use and w.sla > 0),
        np.full(len(supply), use and w.churn > 0),
        supply & (use and w.delay > 0),
    ]


def blend(
    exposures: Exposures,
    risks: Risks,
    policy: Policy,
    *,
    unavailable: BoolArray | None = None,
) -> BlendResult:
    """Blend ``n`` backorders' risks and exposures into components and priorities.

    Parameters
    ----------
    exposures
        What each backorder puts at stake.
    risks
        Model probabilities; NaN where unavailable.
    policy
        Multipliers and blend settings.
    unavailable
        ``(n,)`` rows whose model inputs are unavailable for a reason the caller knows (a
        missing model, a refused signature). Rows with a NaN risk that the blend needs (see
        :func:`needed_models`) are unavailable too.

    Returns
    -------
    BlendResult
    """
    n = len(exposures)
    m = multiplier(exposures.tier, exposures.is_emergency, policy.multipliers)
    e = exposure_matrix(exposures, policy.blend)
    p = risks.matrix()
    if p.shape != (n, 3):
        raise ValueError(f"risks have shape {p.shape}, expected ({n}, 3)")
    needed = np.column_stack(needed_models(policy, exposures.has_supply))
    missing: BoolArray = np.asarray((np.isnan(p) & needed).any(axis=1), dtype=bool)
    if unavailable is not None:
        missing |= np.asarray(unavailable, dtype=bool)
    use_models = policy.blend.use_models
    rule_only: BoolArray = missing | np.full(n, not use_models)
    degraded: BoolArray = missing & np.full(n, use_models)
    w = np.where(
        degraded[:, None],
        _weights(policy.blend.fallback_weights)[None, :],
        _weights(policy.blend.weights)[None, :],
    )
    risk = np.ones((n, len(COMPONENTS)), dtype=np.float64)
    # A probability outside [0, 1] is not one; clip so a buggy model cannot flip a sign.
    risk[:, :3] = np.where(rule_only[:, None], 0.0, np.clip(np.nan_to_num(p, nan=0.0), 0, 1))
    factors = m[:, None] * w * e
    components = factors * risk
    return BlendResult(
        components=components,
        priority=components.sum(axis=1),
        multiplier=m,
        exposure=e,
        factors=factors,
        rule_only=rule_only,
        degraded=degraded,
    )


@dataclass(frozen=True)
class OneBackorder:
    """One backorder's inputs for :func:`blend_one` (amounts in USD, days in days)."""

    tier: Tier | str
    is_emergency: bool
    value_at_risk: float
    margin_at_risk: float
    penalty_rate_per_day: float
    penalty_cap_rate: float
    lifetime_value: float
    customer_open_value: float
    has_supply: bool
    days_waiting: float
    p_sla_breach: float | None = None
    p_churn: float | None = None
    p_supplier_delay: float | None = None


@dataclass(frozen=True)
class OneBlend:
    """One backorder's blend: components (USD) that add up to ``priority``."""

    components: dict[str, float]
    priority: float
    multiplier: float
    exposures: dict[str, float]
    factors: dict[str, float]
    rule_only: bool
    degraded: bool
    reasons: list[str] = field(default_factory=list)


def blend_one(b: OneBackorder, policy: Policy) -> OneBlend:
    """Blend one backorder (the same arithmetic as :func:`blend`, on a batch of one)."""

    def arr(v: float | None) -> FloatArray:
        return np.array([np.nan if v is None else v], dtype=np.float64)

    x = Exposures(
        tier=[b.tier],
        is_emergency=np.array([b.is_emergency]),
        value_at_risk=arr(b.value_at_risk),
        margin_at_risk=arr(b.margin_at_risk),
        penalty_rate_per_day=arr(b.penalty_rate_per_day),
        penalty_cap_rate=arr(b.penalty_cap_rate),
        lifetime_value=arr(b.lifetime_value),
        customer_open_value=arr(b.customer_open_value),
        has_supply=np.array([b.has_supply]),
        days_waiting=arr(b.days_waiting),
    )
    r = Risks(arr(b.p_sla_breach), arr(b.p_churn), arr(b.p_supplier_delay))
    res = blend(x, r, policy)
    reasons = []
    if res.degraded[0]:
        for name, p in (
            ("sla_breach", b.p_sla_breach),
            ("churn", b.p_churn),
            ("supplier_delay", b.p_supplier_delay if b.has_supply else 0.0),
        ):
            if p is None or np.isnan(p):
                reasons.append(f"no {name} probability: scored on the rule terms only")
    return OneBlend(
        components=res.row(0),
        priority=float(res.priority[0]),
        multiplier=float(res.multiplier[0]),
        exposures=dict(zip(COMPONENTS, map(float, res.exposure[0]), strict=True)),
        factors=dict(zip(COMPONENTS, map(float, res.factors[0]), strict=True)),
        rule_only=bool(res.rule_only[0]),
        degraded=bool(res.degraded[0]),
        reasons=reasons,
    )


def split_component(
    component: float,
    factor: float,
    base: float,
    contributions: Mapping[str, float] | Sequence[tuple[str, float]],
) -> dict[str, float]:
    """Split a model-driven component (USD) into feature parts and a baseline part.

    Parameters
    ----------
    component
        The component as blended, ``factor · p`` (USD).
    factor
        ``K = M · w · E`` (USD per unit of probability).
    base, contributions
        An explanation of ``p`` in probability space: ``p = base + Σ contributions``.

    Returns
    -------
    dict
        Feature → USD (``factor · φ_j``) and :data:`BASELINE` → the rest, so the values add up
        to ``component`` exactly (the baseline absorbs float rounding and any tiny difference
        between the explained and the scored probability).
    """
    items = list(contributions.items()) if isinstance(contributions, Mapping) else contributions
    parts = {name: float(factor * phi) for name, phi in items}
    del base  # the baseline part is the remainder: factor · base up to rounding
    parts[BASELINE] = float(component - sum(parts.values()))
    return parts


def split_components(
    components: FloatArray, factors: FloatArray, contributions: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Vectorised :func:`split_component` for ``n`` rows of one model-driven component.

    Parameters
    ----------
    components, factors
        ``(n,)`` components (USD) and their factors ``K`` (USD).
    contributions
        ``(n, k)`` probability-space attributions.

    Returns
    -------
    parts, baseline
        ``(n, k)`` feature parts (USD) and ``(n,)`` baseline parts; each row adds up to its
        component.
    """
    parts = factors[:, None] * contributions
    baseline = components - parts.sum(axis=1)
    return parts, baseline


def as_jsonable(values: Mapping[str, Any]) -> dict[str, float]:
    """Plain floats for JSON columns."""
    return {k: float(v) for k, v in values.items()}

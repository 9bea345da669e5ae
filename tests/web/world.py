"""A small prepared database for the dashboard: a few backorders, scores, explanations, users.

Scores are written as the blend would write them with the default policy (components =
multiplier × weight × exposure × risk), and each model-driven component's feature attributions
sit in the explanation cache, so explanations need no trained model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from allotment.domain.enums import Tier
from allotment.domain.models import (
    Backorder,
    CustomerOrderLine,
    ExplanationCache,
    Recommendation,
    ScoreRun,
    ScoreSnapshot,
)
from allotment.policy import service as policy_service
from allotment.users.roles import Role
from allotment.users.service import create_user
from tests import factories

PASSWORD = "correct horse battery staple"
SLA_MODEL, CHURN_MODEL = "allotment-sla-breach", "allotment-churn"

# (tier, quantity, emergency, p_sla, p_churn, p_delay, days waiting)
ROWS: tuple[tuple[Tier, int, bool, float, float, float, int], ...] = (
    (Tier.VIP, 20, False, 0.82, 0.71, 0.64, 12),
    (Tier.PREMIUM, 12, False, 0.55, 0.66, 0.40, 5),
    (Tier.STANDARD, 40, True, 0.35, 0.12, 0.22, 18),
    (Tier.STANDARD, 8, False, 0.10, 0.08, 0.15, 2),
    (Tier.PREMIUM, 30, False, 0.62, 0.20, 0.51, 9),
    (Tier.VIP, 5, False, 0.25, 0.30, 0.18, 1),
)


@dataclass
class World:
    users: dict[str, str] = field(default_factory=dict)  # role -> user name
    backorders: list[Backorder] = field(default_factory=list)
    priorities: dict[int, float] = field(default_factory=dict)
    recommendations: list[Recommendation] = field(default_factory=list)


def _route(amount: Decimal, chain: list[str], tier: Tier) -> dict[str, Any]:
    return {
        "amount": str(amount),
        "tier": tier.value,
        "band_role": chain[-1] if chain else "auto",
        "chain": chain,
        "auto": not chain,
        "notify": [] if chain else ["planner"],
        "reasons": [f"${amount:,.0f} falls in the {chain[-1] if chain else 'automatic'} band"],
        "requested_by": None,
    }


def build(session: Session, *, now: datetime | None = None) -> World:
    """Users (one per role, password :data:`PASSWORD`), scored backorders, recommendations."""
    now = now or datetime.now(UTC)
    world = World()
    for role in Role:
        name = f"{role.value.replace('_', '-')}-1"
        create_user(session, name=name, role=role, password=PASSWORD)
        world.users[role.value] = name
    create_user(session, name="supervisor-2", role=Role.SUPERVISOR, password=PASSWORD)
    row, policy = policy_service.active_policy(session)
    weights = policy.blend.weights
    run = ScoreRun(
        trigger="test",
        policy_version_id=row.id,
        model_versions={SLA_MODEL: 1, CHURN_MODEL: 1},
        started_at=now,
        finished_at=now,
        as_of=now.date(),
    )
    session.add(run)
    session.flush()
    spare = factories.location(session, code="WH-SPARE", name="Spare warehouse")
    for i, (tier, qty, emergency, p_sla, p_churn, p_delay, age) in enumerate(ROWS):
        cust = factories.customer(session, tier=tier, name=f"{tier.value.title()} Co {i + 1}")
        bo = factories.backorder(
            session, customer_id=cust.id, quantity=qty, created_at=now - timedelta(days=age)
        )
        line = session.get(CustomerOrderLine, bo.order_line_id)
        assert line is not None
        line.order.is_emergency = emergency
        line.order.promised_date = (now - timedelta(days=age - 3)).date()
        # Stock for the first three in another warehouse: "can be filled from another location".
        factories.inventory(
            session,
            product_id=line.product_id,
            location_id=spare.id,
            on_hand=qty + 5 if i < 3 else 0,
        )
        value = float(bo.value_at_risk)
        mult = float(policy.multipliers.tier[tier]) * (
            float(policy.multipliers.emergency) if emergency else 1.0
        )
        exposures = {
            "sla": value * 0.07,
            "churn": float(cust.lifetime_value) * 0.05,
            "delay": value,
            "value": value,
            "margin": value * 0.36,
            "age": age * float(policy.blend.age_usd_per_day),
        }
        risks = {"sla": p_sla, "churn": p_churn, "delay": p_delay}
        components = {
            name: mult * float(getattr(weights, name)) * exposures[name] * risks.get(name, 1.0)
            for name in exposures
        }
        priority = sum(components.values())
        digests = {SLA_MODEL: f"sla-{i}", CHURN_MODEL: f"churn-{i}"}
        for model, p, feats in (
            (SLA_MODEL, p_sla, {"sup_ontime_rate_90d": 0.55, "sup_mean_days_late_90d": 9.5}),
            (CHURN_MODEL, p_churn, {"sla_days": 5, "days_to_renewal": 40}),
        ):
            # Attributions in probability space: base + Σ φ = p.
            base = 0.2
            phis = dict(zip(feats, ((p - base) * 0.7, (p - base) * 0.3), strict=True))
            session.add(
                ExplanationCache(
                    model_name=model,
                    model_version=1,
                    feature_digest=digests[model],
                    payload={"base": base, "contributions": phis, "values": feats, "flags": []},
                )
            )
        session.add(
            ScoreSnapshot(
                run_id=run.id,
                backorder_id=bo.id,
                scored_at=now,
                policy_version_id=row.id,
                model_versions={SLA_MODEL: 1, CHURN_MODEL: 1},
                p_supplier_delay=p_delay,
                p_sla_breach=p_sla,
                p_churn=p_churn,
                components=components,
                priority=priority,
                degraded=False,
                flags=[],
                feature_digests=digests,
                inputs={
                    "multiplier": mult,
                    "exposures": exposures,
                    "eta": {
                        "p50": (now + timedelta(days=6)).date().isoformat(),
                        "p90": (now + timedelta(days=15)).date().isoformat(),
                    },
                },
            )
        )
        bo.priority = priority
        world.backorders.append(bo)
        world.priorities[bo.id] = priority
        for rank, (kind, cost, benefit, chain) in enumerate(
            (
                ("expedite", Decimal("850.00"), Decimal("4200.00"), ["supervisor"]),
                ("transfer", Decimal("12500.00"), Decimal("30000.00"), ["supervisor", "manager"]),
            ),
            start=1,
        ):
            amount = cost + Decimal(value).quantize(Decimal("0.01"))
            rec = Recommendation(
                backorder_id=bo.id,
                customer_id=cust.id,
                product_id=line.product_id,
                kind=kind,
                status="proposed",
                rank=rank,
                cost=cost,
                benefit=benefit,
                net_value=benefit - cost,
                committed=cost,
                amount=amount,
                routed_amount=amount,
                route=_route(amount, chain + (["account_manager"] if tier is Tier.VIP else []), tier),
                needs_consent=False,
                explanation=f"{kind} to protect the promised date",
                details={},
                created_at=now,
                created_by="planner-1",
                policy_version_id=row.id,
                model_versions={},
            )
            session.add(rec)
            world.recommendations.append(rec)
    session.flush()
    return world


def today() -> date:
    return datetime.now(UTC).date()

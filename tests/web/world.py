"""A small prepared database for the dashboard: a few backorders, scores, explanations, users.

Scores are written as the blend would write them with the default policy (components =
multiplier × weight × exposure × risk), and each model-driven component's feature attributions
sit in the explanation cache, so explanations need no trained model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
DELAY_MODEL = "allotment-supplier-delay"

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


def _route(amount: Decimal, chain: list[str]) -> dict[str, Any]:
    band = [r for r in chain if r != "account_manager"]
    reasons = [f"${amount:,.0f} needs {' then '.join(band) or 'no approval'}"]
    if "account_manager" in chain:
        reasons.append("VIP customer: the account manager approves too")
    return {
        "amount": str(amount),
        "band_role": band[-1] if band else "auto",
        "chain": chain,
        "auto": not chain,
        "notify": [] if chain else ["planner"],
        "reasons": reasons,
        "requested_by": None,
    }


def build(session: Session, *, now: datetime | None = None) -> World:
    """Users (one per role, password :data:`PASSWORD`), scored backorders, recommendations."""
    import numpy as np

    from allotment.scoring import repository as scoring_repo
    from allotment.scoring.blend import COMPONENTS, Risks, blend
    from allotment.scoring.service import exposures_of

    now = now or datetime.now(UTC)
    world = World()
    for role in Role:
        name = f"{role.value.replace('_', '-')}-1"
        create_user(session, name=name, role=role, password=PASSWORD)
        world.users[role.value] = name
    create_user(session, name="supervisor-2", role=Role.SUPERVISOR, password=PASSWORD)
    row, policy = policy_service.active_policy(session)
    versions = {SLA_MODEL: 1, CHURN_MODEL: 1, DELAY_MODEL: 1}
    run = ScoreRun(
        trigger="test",
        policy_version_id=row.id,
        model_versions=versions,
        started_at=now,
        finished_at=now,
        as_of=now.date(),
    )
    session.add(run)
    session.flush()
    spare = factories.location(session, code="WH-SPARE", name="Spare warehouse")
    customers = []
    for i, (tier, qty, emergency, _, _, _, age) in enumerate(ROWS):
        cust = factories.customer(session, tier=tier, name=f"{tier.value.title()} Co {i + 1}")
        customers.append(cust)
        bo = factories.backorder(
            session, customer_id=cust.id, quantity=qty, created_at=now - timedelta(days=age)
        )
        line = session.get(CustomerOrderLine, bo.order_line_id)
        assert line is not None
        line.order.is_emergency = emergency
        line.order.promised_date = (now - timedelta(days=age - 3)).date()
        # The first four wait on a late PO line of their product (a handful of units).
        if i < 4:
            po = factories.po_line(
                session,
                product_id=line.product_id,
                location_id=line.order.location_id,
                quantity=2,
                promised_date=(now - timedelta(days=2)).date(),
                current_eta=(now + timedelta(days=6)).date(),
            )
            bo.po_line_id = po.id
        # Stock for the first three in another warehouse: "can be filled from another location".
        factories.inventory(
            session,
            product_id=line.product_id,
            location_id=spare.id,
            on_hand=qty + 5 if i < 3 else 0,
        )
        world.backorders.append(bo)
    session.flush()
    # Priorities as scoring computes them: today's exposures, the risks above, the policy.
    bos = scoring_repo.open_backorders(session=session)
    cust_ids = bos["customer_id"].astype(int).tolist()
    day = int((np.datetime64(now.date(), "D") - np.datetime64("1970-01-01", "D")).astype(int))
    exposures = exposures_of(
        bos,
        scoring_repo.contracts_at(session=session, customer_ids=cust_ids, on=now.date()),
        scoring_repo.customer_open_value(session=session, customer_ids=cust_ids),
        day,
    )
    by_id = {bo.id: i for i, bo in enumerate(world.backorders)}
    order = [by_id[int(b)] for b in bos["backorder_id"]]
    risks = Risks(
        sla_breach=np.array([ROWS[i][3] for i in order]),
        churn=np.array([ROWS[i][4] for i in order]),
        supplier_delay=np.array([ROWS[i][5] for i in order]),
    )
    scored = blend(exposures, risks, policy)
    for j, i in enumerate(order):
        bo, cust = world.backorders[i], customers[i]
        tier, p_sla, p_churn, p_delay = ROWS[i][0], ROWS[i][3], ROWS[i][4], ROWS[i][5]
        priority = float(scored.priority[j])
        digests = {SLA_MODEL: f"sla-{i}", CHURN_MODEL: f"churn-{i}", DELAY_MODEL: f"delay-{i}"}
        for model, p, feats in (
            (SLA_MODEL, p_sla, {"sup_ontime_rate_90d": 0.55, "sup_mean_days_late_90d": 9.5}),
            (CHURN_MODEL, p_churn, {"sla_days": 5, "days_to_renewal": 40}),
            (DELAY_MODEL, p_delay, {"sup_ontime_rate_30d": 0.6, "sup_mean_days_late_365d": 7.0}),
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
                model_versions=versions,
                p_supplier_delay=p_delay,
                p_sla_breach=p_sla,
                p_churn=p_churn,
                components=scored.row(j),
                priority=priority,
                degraded=False,
                flags=[],
                feature_digests=digests,
                inputs={
                    "multiplier": float(scored.multiplier[j]),
                    "exposures": {
                        name: float(scored.exposure[j, k]) for k, name in enumerate(COMPONENTS)
                    },
                    "eta": {
                        "p50": (now + timedelta(days=6)).date().isoformat(),
                        "p90": (now + timedelta(days=15)).date().isoformat(),
                    },
                },
            )
        )
        bo.priority = priority
        world.priorities[bo.id] = priority
        value = float(bo.value_at_risk)
        line = session.get(CustomerOrderLine, bo.order_line_id)
        assert line is not None
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
                route=_route(amount, chain + (["account_manager"] if tier is Tier.VIP else [])),
                needs_consent=False,
                explanation=f"{kind} to protect the promised date",
                details={
                    "units": bo.open_quantity,
                    "arrival": (now + timedelta(days=3 * rank)).date().isoformat(),
                },
                created_at=now,
                created_by="planner-1",
                policy_version_id=row.id,
                model_versions={},
            )
            session.add(rec)
            world.recommendations.append(rec)
    session.flush()
    return world

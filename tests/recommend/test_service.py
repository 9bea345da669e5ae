"""Recommendations against the database, on SQLite and PostgreSQL: generate, save, supersede."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain import backorders as bo_svc
from allotment.domain.enums import Tier
from allotment.domain.models import (
    AuditRecord,
    Backorder,
    Location,
    Product,
    Recommendation,
    ScoreRun,
    ScoreSnapshot,
)
from allotment.recommend import service
from allotment.recommend.actions import OUTREACH_CHURN_DROP, Kind
from tests import factories

AS_OF = date(2025, 1, 20)
NOW = datetime(2025, 1, 20, 9, 0, tzinfo=UTC)


def _world(session: Session, *, backorders: int = 1) -> list[Backorder]:
    """SKU-A short at WH-A: its PO line arrives 2025-02-10, after the promised 2025-02-01.

    SKU-B (same category) comes from another supplier, the alternate.
    """
    loc = factories.location(session, code="WH-A")
    prod = factories.product(session, sku="SKU-A")
    other = factories.supplier(session, code="SUP-ALT", lead_time_days=5)
    factories.product(session, sku="SKU-B", supplier_id=other.id)
    factories.po_line(
        session,
        product_id=prod.id,
        location_id=loc.id,
        supplier_id=prod.supplier_id,
        quantity=10 * backorders,
        promised_date=date(2025, 2, 10),
        current_eta=date(2025, 2, 10),
    )
    cust = factories.customer(session, tier=Tier.STANDARD)
    out = []
    for _ in range(backorders):
        line = factories.order_line(
            session,
            customer_id=cust.id,
            product_id=prod.id,
            location_id=loc.id,
            quantity=10,
            unit_price=Decimal("5000.00"),  # $50,000, 9 days late at 0.5 % a day: $2,250
            promised_date=date(2025, 2, 1),
        )
        out.append(
            bo_svc.create_manual(
                session, order_line_id=line.id, quantity=10, actor="t", reason="short"
            )
        )
    session.commit()
    return out


def test_late_backorder_gets_ranked_routed_actions_and_nothing_is_written(
    session: Session,
) -> None:
    (bo,) = _world(session)
    recs = service.generate(session, as_of=AS_OF, now=NOW)
    (item,) = recs.items
    assert item.case.backorder_id == bo.id
    assert item.case.late_units == 10 and not item.case.scored
    kinds = [r.action.kind for r in item.actions]
    assert Kind.EXPEDITE in kinds and Kind.ALTERNATE_SUPPLIER in kinds and Kind.HOLD in kinds
    nets = [r.action.net for r in item.actions]
    assert nets == sorted(nets, reverse=True)
    assert [r.rank for r in item.actions] == list(range(1, len(kinds) + 1))
    alt = next(r for r in item.actions if r.action.kind is Kind.ALTERNATE_SUPPLIER)
    assert alt.action.details["supplier"] == "SUP-ALT"
    for r in item.actions:
        assert r.route.amount == r.amount  # nothing earlier in the window
    assert session.scalars(select(Recommendation)).all() == []


def test_backorder_the_plan_resolves_in_time_gets_none(session: Session) -> None:
    _world(session)
    factories.inventory(
        session,
        product_id=session.scalars(select(Product.id).where(Product.sku == "SKU-A")).one(),
        location_id=session.scalars(select(Location.id).where(Location.code == "WH-A")).one(),
        on_hand=10,
    )
    session.commit()
    recs = service.generate(session, as_of=AS_OF, now=NOW)
    assert recs.items == [] and recs.considered == 1


def test_save_round_trips_and_generating_again_supersedes_proposed(session: Session) -> None:
    (bo,) = _world(session)
    first = service.save(
        session, recs=service.generate(session, as_of=AS_OF, now=NOW), actor="planner1"
    )
    session.commit()
    session.expire_all()
    rows = session.scalars(select(Recommendation).order_by(Recommendation.rank)).all()
    assert [r.id for r in rows] == sorted(r.id for r in first)
    top = rows[0]
    assert top.backorder_id == bo.id and top.status == "proposed" and top.rank == 1
    assert isinstance(top.cost, Decimal) and top.net_value == top.benefit - top.cost
    assert top.created_by == "planner1" and top.policy_version_id is not None
    assert top.route["amount"] == str(top.routed_amount)
    assert top.details["plan"]["as_of"] == "2025-01-20"
    audits = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "recommendations.generated")
    ).all()
    assert len(audits) == 1 and audits[0].entity_id == str(bo.id)

    later = NOW + timedelta(hours=1)
    service.save(session, recs=service.generate(session, as_of=AS_OF, now=later), actor="p2")
    session.commit()
    session.expire_all()
    by_status: dict[str, int] = {}
    for r in session.scalars(select(Recommendation)):
        by_status[r.status] = by_status.get(r.status, 0) + 1
    assert by_status == {"superseded": len(first), "proposed": len(first)}


def test_saved_recommendation_counts_for_the_same_customer_and_sku_within_24h(
    session: Session,
) -> None:
    b1, b2 = _world(session, backorders=2)
    first = service.generate(session, ids=[b1.id], as_of=AS_OF, now=NOW)
    service.save(session, recs=first, actor="p1")
    session.commit()
    lead = first.items[0].actions[0]
    assert lead.action.committed > 0
    soon = service.generate(session, ids=[b2.id], as_of=AS_OF, now=NOW + timedelta(hours=23))
    own = soon.items[0].actions[0]
    assert own.action.committed > 0
    assert own.route.amount == own.amount + lead.amount
    late = service.generate(session, ids=[b2.id], as_of=AS_OF, now=NOW + timedelta(hours=25))
    assert late.items[0].actions[0].route.amount == late.items[0].actions[0].amount


def test_within_one_generation_the_first_backorders_lead_counts_for_the_next(
    session: Session,
) -> None:
    _world(session, backorders=2)
    recs = service.generate(session, as_of=AS_OF, now=NOW)
    first, second = recs.items
    assert first.actions[0].route.amount == first.actions[0].amount
    assert second.actions[0].route.amount == second.actions[0].amount + first.actions[0].amount


def test_model_risks_and_exposures_come_from_the_latest_snapshot(session: Session) -> None:
    from allotment.policy import service as policy_service

    (bo,) = _world(session)
    version, _ = policy_service.active_policy(session)
    versions = {"allotment-sla-breach": 3, "allotment-churn": 2}
    run = ScoreRun(trigger="test", policy_version_id=version.id, model_versions=versions)
    session.add(run)
    session.flush()
    session.add(
        ScoreSnapshot(
            run_id=run.id,
            backorder_id=bo.id,
            scored_at=NOW,
            policy_version_id=version.id,
            model_versions=versions,
            p_supplier_delay=0.1,
            p_sla_breach=0.9,
            p_churn=0.5,
            components={"sla": 1.0},
            priority=1.0,
            flags=[],
            feature_digests={},
            inputs={"multiplier": 1.0, "exposures": {"sla": 2000.0, "churn": 20000.0}},
        )
    )
    session.commit()
    recs = service.generate(session, as_of=AS_OF, now=NOW)
    (item,) = recs.items
    c = item.case
    assert c.scored and (c.p_sla_breach, c.p_churn) == (0.9, 0.5)
    assert c.relationship_value == 20000.0
    # The penalty is priced by the contract's terms, not the blend's exposure in the snapshot.
    assert (c.penalty_rate_per_day, c.penalty_cap_rate) == (0.005, 0.1)
    assert item.expected_loss["sla"] == pytest.approx(50000 * 0.005 * 9)
    outreach = next(r for r in item.actions if r.action.kind is Kind.OUTREACH)
    assert outreach.action.benefit == pytest.approx(0.5 * OUTREACH_CHURN_DROP * 20000)
    rows = service.save(session, recs=recs, actor="p1")
    assert all(r.model_versions == versions for r in rows)

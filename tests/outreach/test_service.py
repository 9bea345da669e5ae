"""The outreach list: ranked by expected relationship value at risk, with reasons and facts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from allotment.domain.enums import Tier
from allotment.domain.models import Backorder, ScoreRun, ScoreSnapshot
from allotment.outreach.service import outreach_list
from allotment.policy import service as policy_service
from allotment.policy.schema import Outreach
from tests import factories

TODAY = date(2025, 2, 10)


def _backorder(
    session: Session,
    *,
    customer_id: int,
    po_line_id: int | None = None,
    created: date = date(2025, 2, 1),
) -> Backorder:
    return factories.backorder(  # type: ignore[no-any-return]
        session,
        customer_id=customer_id,
        po_line_id=po_line_id,
        created_at=datetime.combine(created, datetime.min.time(), tzinfo=UTC),
    )


def _score(
    session: Session,
    bo: Backorder,
    *,
    p_churn: float,
    p_sla: float,
    churn_usd: float,
    sla_usd: float,
    eta: tuple[str, str] | None = None,
) -> None:
    version, _ = policy_service.active_policy(session)
    run = ScoreRun(trigger="test", policy_version_id=version.id, model_versions={}, as_of=TODAY)
    session.add(run)
    session.flush()
    inputs: dict[str, Any] = {"exposures": {"churn": churn_usd, "sla": sla_usd}}
    if eta:
        inputs["eta"] = {"p50": eta[0], "p90": eta[1]}
    session.add(
        ScoreSnapshot(
            run_id=run.id,
            backorder_id=bo.id,
            scored_at=datetime(2025, 2, 10, tzinfo=UTC),
            policy_version_id=version.id,
            model_versions={},
            p_churn=p_churn,
            p_sla_breach=p_sla,
            components={},
            priority=1.0,
            degraded=False,
            flags=[],
            feature_digests={},
            inputs=inputs,
        )
    )
    session.flush()


def _list(session: Session, **outreach: Any) -> Any:
    _, policy = policy_service.active_policy(session)
    if outreach:
        policy = policy.model_copy(update={"outreach": Outreach(**outreach)})
    return outreach_list(session, policy=policy, policy_label="test", today=TODAY)


def test_ranked_by_expected_value_at_risk_with_reasons(session: Session) -> None:
    vip = factories.customer(session, tier=Tier.VIP, name="Metro Manufacturing")
    standard = factories.customer(session, name="Industrial Services")
    calm = factories.customer(session, name="Calm Co")
    a = _backorder(session, customer_id=vip.id)
    _score(session, a, p_churn=0.4, p_sla=0.1, churn_usd=50_000, sla_usd=1_000)
    b1 = _backorder(session, customer_id=standard.id)
    b2 = _backorder(session, customer_id=standard.id, created=date(2025, 1, 20))
    _score(session, b1, p_churn=0.05, p_sla=0.9, churn_usd=5_000, sla_usd=20_000)
    _score(session, b2, p_churn=0.05, p_sla=0.7, churn_usd=5_000, sla_usd=10_000)
    c = _backorder(session, customer_id=calm.id)
    _score(session, c, p_churn=0.05, p_sla=0.1, churn_usd=50_000, sla_usd=50_000)

    result = _list(session)
    ranked = [(e.customer, round(e.expected_value_at_risk)) for e in result.entries]
    # VIP: 0.4 × 50,000 + 0.1 × 1,000; standard: 0.05 × 10,000 + 0.9 × 20,000 + 0.7 × 10,000.
    assert ranked == [("Industrial Services", 25_500), ("Metro Manufacturing", 20_100)]
    first, second = result.entries
    assert first.rank == 1 and second.rank == 2
    assert any("2 of 2 open backorder(s) likely to miss" in r for r in first.reasons)
    assert any("waiting up to 21 days" in r for r in first.reasons)
    assert any("churn risk 40%" in r for r in second.reasons)
    assert any("VIP" in r for r in second.reasons)
    assert result.customers_considered == 3


def test_thresholds_and_limit_come_from_the_policy(session: Session) -> None:
    for churn in (0.3, 0.5, 0.7):
        bo = _backorder(session, customer_id=factories.customer(session).id)
        _score(session, bo, p_churn=churn, p_sla=0.0, churn_usd=10_000, sla_usd=0)
    assert len(_list(session).entries) == 3
    assert [e.p_churn for e in _list(session, max_customers=2).entries] == [0.7, 0.5]
    assert [e.p_churn for e in _list(session, min_churn_risk=0.6).entries] == [0.7]
    # 0.3 × 10,000 = 3,000 is below a $4,000 floor.
    floor = _list(session, min_value_at_risk=Decimal("4000"))
    assert [e.p_churn for e in floor.entries] == [0.7, 0.5]


def test_facts_carry_eta_from_the_model_or_the_supplier(session: Session) -> None:
    cust = factories.customer(session)
    po = factories.po_line(session, current_eta=date(2025, 2, 20))
    modelled = _backorder(session, customer_id=cust.id, po_line_id=po.id)
    _score(
        session,
        modelled,
        p_churn=0.5,
        p_sla=0.5,
        churn_usd=1e4,
        sla_usd=1e3,
        eta=("2025-02-22", "2025-03-01"),
    )
    supplier = _backorder(session, customer_id=cust.id, po_line_id=po.id)
    _score(session, supplier, p_churn=0.5, p_sla=0.5, churn_usd=0, sla_usd=0)
    unscored = _backorder(session, customer_id=cust.id)
    (entry,) = _list(session).entries
    facts = {f.backorder: f for f in entry.orders}
    assert (facts[modelled.number].eta_p50, facts[modelled.number].eta_p90) == (
        date(2025, 2, 22),
        date(2025, 3, 1),
    )
    assert facts[modelled.number].eta_source == "model"
    assert facts[supplier.number].eta_source == "supplier"
    assert facts[supplier.number].eta_p50 == date(2025, 2, 20)
    assert facts[unscored.number].eta_source == "unknown"
    assert facts[modelled.number].value == 5_000.0  # 10 units × $500
    assert _list(session).unscored_backorders == 1
    payload = entry.to_dict()
    assert payload["orders"][0]["promised"] == "2025-01-27"


def test_options_follow_the_contract(session: Session) -> None:
    strict = factories.customer(session)
    strict.contracts[0].allows_partial_ship = False
    bo = _backorder(session, customer_id=strict.id)
    _score(session, bo, p_churn=0.5, p_sla=0.0, churn_usd=10_000, sla_usd=0)
    (entry,) = _list(session).entries
    assert any("hold for a complete shipment" in o for o in entry.options)
    assert any("needs the customer's consent" in o for o in entry.options)
    assert any("goodwill credit" in o for o in entry.options)


def test_customers_without_scores_are_not_guessed(session: Session) -> None:
    _backorder(session, customer_id=factories.customer(session).id)
    result = _list(session)
    assert result.entries == [] and result.unscored_backorders == 1

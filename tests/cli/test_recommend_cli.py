"""``allotment recommend``: simulation, JSON, --ids, --save, on both backends."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.domain import backorders as bo_svc
from allotment.domain.models import AuditRecord, Recommendation
from tests import factories

runner = CliRunner()


def _setup(session: Session) -> list[int]:
    """Two backorders for SKU-A at WH-A, waiting on a PO line due after their promise."""
    loc = factories.location(session, code="WH-A")
    prod = factories.product(session, sku="SKU-A")
    factories.po_line(
        session,
        product_id=prod.id,
        location_id=loc.id,
        quantity=20,
        promised_date=date(2025, 2, 10),
        current_eta=date(2025, 2, 10),
    )
    ids = []
    for _ in range(2):
        cust = factories.customer(session)
        line = factories.order_line(
            session,
            customer_id=cust.id,
            product_id=prod.id,
            location_id=loc.id,
            quantity=10,
            unit_price=Decimal("5000.00"),
            promised_date=date(2025, 2, 1),
        )
        ids.append(
            bo_svc.create_manual(
                session, order_line_id=line.id, quantity=10, actor="t", reason="short"
            ).id
        )
    session.commit()
    return ids


def test_simulation_prints_ranked_actions_and_writes_nothing(session: Session) -> None:
    _setup(session)
    result = runner.invoke(app, ["recommend", "--as-of", "2025-01-20"])
    assert result.exit_code == 0, result.output
    assert "2 of 2 backorder(s) cannot be resolved" in result.output
    assert "expedite" in result.output and "hold_for_complete" in result.output
    assert "Simulation only" in result.output
    assert session.scalars(select(Recommendation)).all() == []


def test_json_with_ids_lists_only_those_backorders(session: Session) -> None:
    first, _ = _setup(session)
    result = runner.invoke(
        app, ["recommend", "--json", "--ids", str(first), "--top", "2", "--as-of", "2025-01-20"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    (bo,) = payload["backorders"]
    assert bo["backorder_id"] == first
    assert len(bo["actions"]) == 2
    top = bo["actions"][0]
    assert top["net_value_usd"] == round(top["benefit_usd"] - top["cost_usd"], 2)
    assert top["route"]["chain"] is not None and payload["saved_ids"] is None


def test_save_stores_and_audits(session: Session) -> None:
    _setup(session)
    result = runner.invoke(app, ["recommend", "--save", "--as-of", "2025-01-20", "--actor", "amy"])
    assert result.exit_code == 0, result.output
    assert "saved" in result.output
    session.expire_all()
    rows = session.scalars(select(Recommendation)).all()
    assert rows and {r.created_by for r in rows} == {"amy"}
    assert {r.status for r in rows} == {"proposed"}
    actions = session.scalars(select(AuditRecord.action)).all()
    assert actions.count("recommendations.generated") == 2


def test_bad_ids_are_refused() -> None:
    result = runner.invoke(app, ["recommend", "--ids", "1,x"])
    assert result.exit_code == 2

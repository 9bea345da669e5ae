"""``allotment allocate``: simulation, JSON, commit, on both backends."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.domain import backorders as bo_svc
from allotment.domain.enums import BackorderStatus, Tier
from allotment.domain.models import AllocationRun, Backorder
from tests import factories

runner = CliRunner()


def _setup(session: Session) -> tuple[int, int]:
    loc = factories.location(session, code="WH-East")
    prod = factories.product(session, sku="SKU-A")
    factories.inventory(session, product_id=prod.id, location_id=loc.id, on_hand=12)
    ids = []
    for tier in (Tier.VIP, Tier.STANDARD):
        cust = factories.customer(session, tier=tier, contract=False)
        line = factories.order_line(
            session, customer_id=cust.id, product_id=prod.id, location_id=loc.id, quantity=10
        )
        ids.append(
            bo_svc.create_manual(
                session, order_line_id=line.id, quantity=10, actor="t", reason="short"
            ).id
        )
    session.commit()
    return ids[0], ids[1]


def test_simulation_prints_status_greedy_reasons_and_writes_nothing(session: Session) -> None:
    _setup(session)
    result = runner.invoke(app, ["allocate", "--as-of", "2025-01-20"])
    assert result.exit_code == 0, result.output
    assert "status optimal" in result.output
    assert "greedy on the same input" in result.output
    assert "Lines short" in result.output and "Top shadow prices" in result.output
    assert "Simulation only" in result.output
    assert session.scalars(select(AllocationRun)).all() == []


def test_json_lists_short_lines_and_shadow_prices(session: Session) -> None:
    _, std = _setup(session)
    result = runner.invoke(app, ["allocate", "--json", "--as-of", "2025-01-20"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["status"] == "optimal"
    assert payload["objective_usd"] >= payload["greedy_objective_usd"]
    (short,) = payload["lines_short"]
    assert (short["line_id"], short["allocated"]) == (std, 2)
    assert short["reason"].startswith("SKU-A at WH-East: all 12 units went to higher-priority")
    assert payload["shadow_prices"][0]["sku"] == "SKU-A"
    assert payload["committed_run_id"] is None


def test_commit_needs_a_reason_then_moves_backorders(session: Session) -> None:
    vip, std = _setup(session)
    refused = runner.invoke(app, ["allocate", "--commit"])
    assert refused.exit_code == 2
    done = runner.invoke(
        app, ["allocate", "--commit", "--reason", "weekly", "--as-of", "2025-01-20"]
    )
    assert done.exit_code == 0, done.output
    assert "committed" in done.output
    session.expire_all()
    got = {b.id: b.status for b in session.scalars(select(Backorder))}
    assert got == {vip: BackorderStatus.RESOLVED, std: BackorderStatus.PARTIALLY_RESOLVED}
    session.rollback()  # release SQLite's write lock before the next command
    again = runner.invoke(app, ["allocate", "--as-of", str(date(2025, 1, 20))])
    assert "Against committed run" in again.output

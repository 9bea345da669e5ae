"""The backorder commands, end to end on both backends."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.domain.enums import BackorderStatus, Tier
from allotment.domain.models import Backorder
from tests import factories

runner = CliRunner()


def _delayed_setup(session: Session) -> tuple[int, int]:
    pol = factories.po_line(session)
    vip = factories.customer(session, name="Metro Manufacturing", tier=Tier.VIP)
    line = factories.order_line(
        session, customer_id=vip.id, po_line_id=pol.id, promised_date=date(2025, 1, 27)
    )
    session.commit()
    return pol.id, line.id


def test_delay_command_reports_impact_and_creates_backorder(session: Session) -> None:
    po_line_id, line_id = _delayed_setup(session)
    result = runner.invoke(
        app,
        ["backorders", "delay", str(po_line_id), "--eta", "2025-02-15", "--reason", "late"],
    )
    assert result.exit_code == 0, result.output
    assert "backordered 50 units for 1 customer(s); revenue at risk $25,000.00" in result.output
    as_json = runner.invoke(
        app,
        [
            "backorders",
            "delay",
            str(po_line_id),
            "--eta",
            "2025-02-20",
            "--reason",
            "again",
            "--json",
        ],
    )
    assert '"customer_name": "Metro Manufacturing"' in as_json.output
    assert '"action": "eta_updated"' in as_json.output
    session.expire_all()
    bo = session.scalars(select(Backorder)).one()
    assert (bo.order_line_id, bo.status) == (line_id, BackorderStatus.ETA_UPDATED)


def test_refused_transition_is_one_clear_line_and_exit_1(session: Session) -> None:
    po_line_id, _ = _delayed_setup(session)
    runner.invoke(
        app, ["backorders", "delay", str(po_line_id), "--eta", "2025-03-01", "--reason", "late"]
    )
    bo_id = session.scalars(select(Backorder.id)).one()
    session.commit()  # end the read transaction before another process writes
    ok = runner.invoke(app, ["backorders", "transition", str(bo_id), "resolved", "--reason", "in"])
    assert ok.exit_code == 0, ok.output
    refused = runner.invoke(
        app, ["backorders", "transition", str(bo_id), "open", "--reason", "reopen"]
    )
    assert refused.exit_code == 1
    assert "cannot go from 'resolved' to 'open'" in refused.output
    assert "Traceback" not in refused.output
    shown = runner.invoke(app, ["backorders", "show", str(bo_id), "--json"])
    assert '"status": "resolved"' in shown.output


def test_bad_date_names_the_option(session: Session) -> None:
    po_line_id, _ = _delayed_setup(session)
    result = runner.invoke(
        app, ["backorders", "delay", str(po_line_id), "--eta", "15/02/2025", "--reason", "x"]
    )
    assert result.exit_code == 2
    assert "--eta" in result.output and "not a date" in result.output


def test_unknown_backorder_is_not_found(db_url: str) -> None:
    result = runner.invoke(app, ["backorders", "show", "4242"])
    assert result.exit_code == 1
    assert "backorder 4242 does not exist" in result.output

"""The command center on a backlog of four active backorders (and two closed ones)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from allotment.domain.enums import BackorderStatus, RootCause, Tier
from allotment.domain.models import Backorder
from allotment.insights import command_center as cc
from tests import factories
from tests.insights.helpers import at, backorder, recommendation

AS_OF = date(2025, 2, 20)


@pytest.fixture
def backlog(session: Session) -> dict[str, Backorder]:
    """b1 VIP 10 units, 2 days old; b2 emergency 4 units, 8 days old (created 23:00);
    b3 1 of 2 units open, 19 days old, same customer as b2; b4 escalated 6 units, 7 days old;
    a resolved and a cancelled one that no figure counts."""
    vip = factories.customer(session, tier=Tier.VIP)
    std = factories.customer(session)
    po = factories.po_line(session, current_eta=date(2025, 2, 23))
    b1 = backorder(
        session, created=at(date(2025, 2, 18)), customer_id=vip.id, priority=300.0,
        expected_fulfillment_date=date(2025, 2, 21),
    )  # fmt: skip
    b2 = backorder(
        session, created=at(date(2025, 2, 12), 23), quantity=4, customer_id=std.id,
        is_emergency=True, po_line_id=po.id,
    )  # fmt: skip
    b3 = backorder(
        session, created=at(date(2025, 2, 1)), quantity=2, open_quantity=1, customer_id=std.id,
        status=BackorderStatus.PARTIALLY_RESOLVED, root_cause=RootCause.QUALITY, priority=100.0,
        expected_fulfillment_date=date(2025, 2, 19),
    )  # fmt: skip
    b4 = backorder(
        session, created=at(date(2025, 2, 13)), quantity=6, status=BackorderStatus.ESCALATED,
        root_cause=RootCause.LOGISTICS, priority=200.0,
    )  # fmt: skip
    backorder(session, created=at(date(2025, 2, 1)), quantity=8, status=BackorderStatus.RESOLVED)
    backorder(session, created=at(date(2025, 2, 1)), status=BackorderStatus.CANCELLED)
    return {"b1": b1, "b2": b2, "b3": b3, "b4": b4}


def test_summary_counts_active_backorders_their_open_value_and_customers(
    session: Session, backlog: dict[str, Backorder]
) -> None:
    s = cc.summary(session)
    assert s.open_backorders == 4
    assert s.value_at_risk == Decimal("10500.00")  # 5000 + 2000 + 500 (1 unit open) + 3000
    assert s.customers_affected == 3


def test_high_priority_is_vip_or_emergency_or_escalated(
    session: Session, backlog: dict[str, Backorder]
) -> None:
    s = cc.summary(session)
    assert (s.high_priority, s.high_priority_value) == (3, Decimal("10000.00"))


def test_aging_buckets_count_whole_days_at_their_boundaries(
    session: Session, backlog: dict[str, Backorder]
) -> None:
    got = {g.key: (g.backorders, g.value_at_risk, g.share) for g in cc.aging(session, as_of=AS_OF)}
    assert got == {
        "0-7": (2, Decimal("8000.00"), 0.5),  # 2 and exactly 7 days old
        "8-14": (1, Decimal("2000.00"), 0.25),  # 8 days old although created late in the day
        "15+": (1, Decimal("500.00"), 0.25),
    }


def test_pipeline_uses_the_expected_date_else_the_po_eta_else_unknown(
    session: Session, backlog: dict[str, Backorder]
) -> None:
    got = {g.key: g.backorders for g in cc.pipeline(session, as_of=AS_OF)}
    assert got == {
        "overdue": 1,  # b3: expected 02-19
        "next_24_hours": 1,  # b1: expected 02-21
        "next_3_days": 1,  # b2: its PO line's ETA 02-23
        "next_7_days": 0,
        "later": 0,
        "unknown": 1,  # b4
    }


def test_root_causes_list_every_cause_most_frequent_first(
    session: Session, backlog: dict[str, Backorder]
) -> None:
    got = [(g.key, g.backorders) for g in cc.root_causes(session)]
    assert got[:3] == [("supplier_delay", 2), ("logistics", 1), ("quality", 1)]
    assert {k for k, _ in got} == {c.value for c in RootCause}


def test_critical_backorders_by_priority_with_the_best_live_recommendation(
    session: Session, backlog: dict[str, Backorder]
) -> None:
    b1, b4 = backlog["b1"], backlog["b4"]
    recommendation(session, b4, kind="transfer", rank=2)
    best = recommendation(session, b4, kind="expedite", rank=1)
    recommendation(session, b1, kind="expedite", rank=1, status="superseded")
    got = cc.critical(session, as_of=AS_OF, limit=3)
    assert [c.number for c in got] == [b1.number, b4.number, backlog["b3"].number]
    assert got[0].next_action is None  # only a superseded one
    assert got[1].next_action is not None
    assert (got[1].next_action.recommendation_id, got[1].next_action.kind) == (best.id, "expedite")
    assert (got[1].age_days, got[1].value_at_risk) == (7, Decimal("3000.00"))


def test_unscored_backorders_come_last_among_the_critical(
    session: Session, backlog: dict[str, Backorder]
) -> None:
    got = cc.critical(session, as_of=AS_OF, limit=10)
    assert got[-1].number == backlog["b2"].number


def test_supplier_performance_in_the_window(session: Session) -> None:
    sup = factories.supplier(session, name="Global Manufacturing")
    promised = date(2025, 2, 1)
    for received in (date(2025, 2, 1), date(2025, 2, 4), date(2025, 2, 8), date(2024, 10, 1)):
        factories.po_line(session, supplier_id=sup.id, promised_date=promised, received_on=received)
    waiting = factories.po_line(session, supplier_id=sup.id)
    backorder(session, created=at(date(2025, 2, 10)), po_line_id=waiting.id)
    backorder(session, created=at(date(2025, 2, 10)))  # another supplier's
    got = {s.supplier_id: s for s in cc.suppliers(session, as_of=AS_OF, window_days=90)}
    mine = got[sup.id]
    assert mine.supplier == "Global Manufacturing"
    # 2024-10-01 is outside the 90 days before 2025-02-20.
    assert (mine.received_lines, mine.on_time_lines, mine.on_time_rate) == (3, 1, 0.3333)
    assert mine.average_delay_days == 5.0  # (3 + 7) / 2 late lines
    assert (mine.open_backorders, mine.backorder_share) == (1, 0.5)
    assert mine.value_at_risk == Decimal("5000.00")


def test_an_empty_backlog_has_zero_figures(session: Session) -> None:
    view = cc.command_center(session, as_of=AS_OF)
    assert view.summary.open_backorders == 0
    assert view.summary.value_at_risk == Decimal("0")
    assert [g.backorders for g in view.aging] == [0, 0, 0]
    assert view.critical == [] and view.suppliers == []

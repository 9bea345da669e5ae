"""Digests: UTC periods (pure), and the daily digest / weekly summary on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain import backorders as svc
from allotment.domain.enums import BackorderStatus, RootCause, Tier
from allotment.domain.models import Backorder, CustomerOrder, CustomerOrderLine, Notification
from allotment.notify import digest
from allotment.notify.digest import last_complete, period_of
from allotment.policy import service as policies
from allotment.policy.documents import shipped_policy
from allotment.policy.schema import NotificationRule
from tests import factories


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --- periods ---------------------------------------------------------------------------------


def test_a_day_is_midnight_to_midnight_utc() -> None:
    p = period_of("daily_digest", _utc(2026, 12, 6, 23, 59, 59, 999999))
    assert (p.start, p.end, p.label) == (_utc(2026, 12, 6), _utc(2026, 12, 7), "2026-12-06")
    assert period_of("daily_digest", _utc(2026, 12, 7)).label == "2026-12-07"
    # 01:30 in UTC+02:00 is still the previous day in UTC.
    plus_two = datetime(2026, 12, 7, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert period_of("daily_digest", plus_two).label == "2026-12-06"
    # Naive times are UTC.
    assert period_of("daily_digest", datetime(2026, 12, 7, 0, 0)).label == "2026-12-07"


def test_a_run_reports_the_last_complete_day() -> None:
    assert last_complete("daily_digest", _utc(2026, 12, 7)).label == "2026-12-06"  # at midnight
    assert last_complete("daily_digest", _utc(2026, 12, 6, 23, 59, 59)).label == "2026-12-05"
    assert last_complete("daily_digest", _utc(2027, 1, 1, 0, 5)).label == "2026-12-31"


def test_a_week_is_an_iso_week_monday_to_monday() -> None:
    # 2026-12-06 is a Sunday, the last day of ISO week 49.
    p = period_of("weekly_summary", _utc(2026, 12, 6, 23, 59, 59, 999999))
    assert (p.start, p.end, p.label) == (_utc(2026, 11, 30), _utc(2026, 12, 7), "2026-W49")
    assert period_of("weekly_summary", _utc(2026, 12, 7)).label == "2026-W50"
    assert last_complete("weekly_summary", _utc(2026, 12, 7)).label == "2026-W49"
    assert last_complete("weekly_summary", _utc(2026, 12, 6, 23)).label == "2026-W48"
    # Across the new year: 2026 has 53 ISO weeks; W53 runs Mon 2026-12-28 to Mon 2027-01-04.
    w53 = last_complete("weekly_summary", _utc(2027, 1, 4, 0, 1))
    assert (w53.label, w53.start, w53.end) == ("2026-W53", _utc(2026, 12, 28), _utc(2027, 1, 4))
    assert period_of("weekly_summary", _utc(2027, 1, 1)).label == "2026-W53"
    assert w53.previous().label == "2026-W52"


# --- the database side -----------------------------------------------------------------------


def _activate(session: Session, *rules: NotificationRule) -> None:
    policy = shipped_policy("default").model_copy(update={"notifications": rules})
    policies.activate(session, document=policy, actor="test", role="admin", reason="test")


DAILY = NotificationRule(
    event="backorder_created", roles=("purchasing_manager",), cadence="daily_digest"
)
WEEKLY = NotificationRule(
    event="backorder_created", roles=("operations_director",), cadence="weekly_summary"
)


def _backorder(
    session: Session,
    *,
    at: datetime,
    tier: Tier = Tier.STANDARD,
    quantity: int = 10,
    promised: date = date(2026, 12, 20),
    root_cause: RootCause = RootCause.SUPPLIER_DELAY,
    **customer: Any,
) -> Backorder:
    """A backorder created by hand at ``at`` ($500 a unit) for a new customer of ``tier``."""
    c = factories.customer(session, tier=tier, **customer)
    line = factories.order_line(session, customer_id=c.id, quantity=quantity)
    order = session.get(CustomerOrder, line.order_id)
    assert order is not None
    order.promised_date = promised
    return svc.create_manual(
        session,
        order_line_id=line.id,
        quantity=quantity,
        actor="p",
        reason="short",
        root_cause=root_cause,
        expected_fulfillment_date=date(2026, 12, 24),
        at=at,
    )


def _digests(session: Session, kind: str) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification).where(Notification.kind == kind).order_by(Notification.id)
        )
    )


def test_the_daily_digest_reports_what_was_created_inside_the_utc_day(session: Session) -> None:
    _activate(session, DAILY)
    before = _backorder(session, at=_utc(2026, 12, 5, 23, 59, 59, 999999), quantity=1)
    first = _backorder(session, at=_utc(2026, 12, 6), quantity=2)
    last = _backorder(session, at=_utc(2026, 12, 6, 23, 59, 59, 999999), quantity=3)
    after = _backorder(session, at=_utc(2026, 12, 7), quantity=4)

    report = digest.run(session, now=_utc(2026, 12, 7, 0, 5))
    assert [(o.recipient, o.period, o.outcome, o.happened) for o in report.outcomes] == [
        ("role:purchasing_manager", "2026-12-06", "enqueued", 2)
    ]
    (note,) = _digests(session, "daily_digest")
    assert (
        note.dedupe_key == "daily_digest:backorder_created:all:2026-12-06:role:purchasing_manager"
    )
    assert note.subject == "Daily digest 2026-12-06: 2 backorders created ($2,500)"
    assert "Backorders created: 2 (5 units, $2,500)." in note.body
    assert last.number in note.body and first.number in note.body
    assert before.number not in note.body and after.number not in note.body
    # Largest value first.
    assert note.body.index(last.number) < note.body.index(first.number)
    # The backlog as it stands when the digest is made: all four, none overdue (promised 12-20).
    assert "Backlog as of 2026-12-07 00:05 UTC: 4 open, 0 overdue, 0 escalated;" in note.body
    assert "open value $5,000." in note.body
    assert note.payload["happened_count"] == 2


def test_a_digest_is_enqueued_once_per_period(session: Session) -> None:
    _activate(session, DAILY)
    _backorder(session, at=_utc(2026, 12, 6, 10))
    assert digest.run(session, now=_utc(2026, 12, 7, 0, 5)).notifications == 1
    # Again in the same period, and later that day: already enqueued, nothing new.
    for now in (_utc(2026, 12, 7, 0, 5), _utc(2026, 12, 7, 23, 59)):
        again = digest.run(session, now=now)
        assert [o.outcome for o in again.outcomes] == ["already_enqueued"]
        assert again.notifications == 0
    assert len(_digests(session, "daily_digest")) == 1
    # The next day reports the next period, even with nothing created in it (the backlog).
    nxt = digest.run(session, now=_utc(2026, 12, 8, 6))
    assert [(o.period, o.outcome, o.happened) for o in nxt.outcomes] == [
        ("2026-12-07", "enqueued", 0)
    ]
    assert (
        "Backorders created: 0 (0 units, $0).\n(none)" in _digests(session, "daily_digest")[1].body
    )


def test_nothing_to_report_enqueues_nothing(session: Session) -> None:
    _activate(session, DAILY, WEEKLY)
    report = digest.run(session, now=_utc(2026, 12, 7, 0, 5))
    assert [o.outcome for o in report.outcomes] == ["nothing_to_report"] * 2
    assert session.scalars(select(Notification)).all() == []


def test_the_weekly_summary_sums_up_the_iso_week(session: Session) -> None:
    _activate(session, WEEKLY)
    # Week 48 (Nov 23-29): one; week 49 (Nov 30 - Dec 6): three, one of them VIP.
    _backorder(session, at=_utc(2026, 11, 29, 23))
    a = _backorder(session, at=_utc(2026, 11, 30), tier=Tier.VIP, quantity=20)
    b = _backorder(session, at=_utc(2026, 12, 2, 12), root_cause=RootCause.QUALITY)
    c = _backorder(session, at=_utc(2026, 12, 6, 23, 59), promised=date(2026, 12, 1))
    svc.record_fulfilment(
        session, backorder=b, quantity=10, actor="p", reason="received", at=_utc(2026, 12, 3)
    )
    svc.transition(
        session,
        backorder=c,
        to=BackorderStatus.ESCALATED,
        actor="p",
        reason="late",
        at=_utc(2026, 12, 6, 23, 59, 30),
    )
    _backorder(session, at=_utc(2026, 12, 7))  # week 50: not in this summary

    report = digest.run(session, now=_utc(2026, 12, 7, 8))
    assert [(o.recipient, o.period, o.happened) for o in report.outcomes] == [
        ("role:operations_director", "2026-W49", 3)
    ]
    (note,) = _digests(session, "weekly_summary")
    assert note.subject == "Weekly summary 2026-W49: 3 backorders created ($20,000)"
    body = note.body
    assert "(UTC, 2026-11-30T00:00:00+00:00 to 2026-12-07T00:00:00+00:00), all tiers." in body
    assert "Backorders created: 3 (40 units, $20,000); previous week: 1." in body
    assert "By tier: VIP 1 (20 units, $10,000); standard 2 (20 units, $10,000)." in body
    assert "By root cause: supplier delay 2, quality 1." in body
    assert "In the week: 1 resolved, 1 escalated." in body
    # Largest first; b is resolved but was created in the week.
    assert body.index(a.number) < body.index(c.number)
    assert f"{b.number}" in body and "now resolved" in body
    # Backlog now: 4 active (b resolved), c overdue (promised 12-01) and escalated.
    assert "Backlog as of 2026-12-07 08:00 UTC: 4 open, 1 overdue, 1 escalated;" in body
    assert "VIP $10,000 (1 open, 0 overdue, 0 escalated)" in body
    assert "standard $15,000 (3 open, 1 overdue, 1 escalated)" in body


def test_a_digest_rule_with_tiers_reports_only_those_tiers(session: Session) -> None:
    vip_only = NotificationRule(
        event="backorder_created",
        roles=("purchasing_manager",),
        cadence="daily_digest",
        tiers=(Tier.VIP,),
    )
    _activate(session, vip_only)
    vip = _backorder(session, at=_utc(2026, 12, 6, 9), tier=Tier.VIP)
    standard = _backorder(session, at=_utc(2026, 12, 6, 10))
    digest.run(session, now=_utc(2026, 12, 7, 1))
    (note,) = _digests(session, "daily_digest")
    assert (
        note.dedupe_key == "daily_digest:backorder_created:vip:2026-12-06:role:purchasing_manager"
    )
    assert vip.number in note.body and standard.number not in note.body
    assert "Backlog as of 2026-12-07 01:00 UTC: 1 open," in note.body
    assert "for 2026-12-06 (UTC, 2026-12-06T00:00:00+00:00 to 2026-12-07T00:00:00+00:00)," in (
        note.body
    )
    assert ", tiers VIP." in note.body


def test_account_managers_get_a_digest_of_their_own_customers(session: Session) -> None:
    rule = NotificationRule(
        event="backorder_created", roles=("account_manager",), cadence="daily_digest"
    )
    _activate(session, rule)
    garcia = _backorder(session, at=_utc(2026, 12, 6, 9), account_manager="am.garcia")
    jones = _backorder(session, at=_utc(2026, 12, 6, 10), account_manager="am.jones")
    digest.run(session, now=_utc(2026, 12, 7, 1))
    notes = {n.recipient: n.body for n in _digests(session, "daily_digest")}
    assert sorted(notes) == ["user:am.garcia", "user:am.jones"]
    assert garcia.number in notes["user:am.garcia"] and jones.number not in notes["user:am.garcia"]
    assert "customers of am.jones, all tiers" in notes["user:am.jones"]


def test_the_shipped_policy_sends_both_digests(session: Session) -> None:
    _backorder(session, at=_utc(2026, 12, 6, 9))
    report = digest.run(session, now=_utc(2026, 12, 7, 1))
    assert [(o.cadence, o.recipient, o.period) for o in report.outcomes] == [
        ("daily_digest", "role:purchasing_manager", "2026-12-06"),
        ("weekly_summary", "role:operations_director", "2026-W49"),
    ]
    assert report.summary() == (
        "2026-12-07T01:00:00+00:00 digest: 2 digest(s) enqueued (2 notification(s)),"
        " 0 already enqueued, 0 with nothing to report"
    )


def test_line_details_name_the_order_line_and_sku(session: Session) -> None:
    _activate(session, DAILY)
    bo = _backorder(session, at=_utc(2026, 12, 6, 9), quantity=7)
    digest.run(session, now=_utc(2026, 12, 7, 1))
    (note,) = _digests(session, "daily_digest")
    line = session.get(CustomerOrderLine, bo.order_line_id)
    assert line is not None
    order = session.get(CustomerOrder, line.order_id)
    assert order is not None
    assert (
        f"- {bo.number} " in note.body
        and f"(standard): order {order.number} line 1, 7 x SKU-" in note.body
        and ", supplier delay, ETA 2026-12-24, $3,500; now open" in note.body
    )


@pytest.mark.parametrize("cadence", ["hourly"])
def test_an_unknown_cadence_is_refused(cadence: str) -> None:
    with pytest.raises(ValueError, match="not a digest cadence"):
        period_of(cadence, _utc(2026, 12, 7))  # type: ignore[arg-type]

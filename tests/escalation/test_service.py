"""``escalation.service.run`` on both backends: levels, lifecycle, audit, notifications."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from allotment import audit
from allotment.db.engine import make_sessionmaker
from allotment.domain.enums import BackorderStatus, Tier
from allotment.domain.models import (
    AuditRecord,
    BackorderEscalation,
    BackorderStatusChange,
    Notification,
)
from allotment.escalation import service
from allotment.policy import service as policies
from tests import factories
from tests.escalation.helpers import overdue_backorder, waiting_recommendation

PROMISED = date(2026, 1, 1)


def _at(days_after_promise: int, hour: int = 9) -> datetime:
    day = PROMISED + timedelta(days=days_after_promise)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _notifications(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(
        select(Notification.kind, Notification.recipient).order_by(Notification.id)
    )
    return [(k, r) for k, r in rows]


def test_levels_apply_at_3_7_14_21_days_and_not_a_day_before(session: Session) -> None:
    bo = overdue_backorder(session, promised=PROMISED)
    session.commit()
    expected_status = {
        2: (BackorderStatus.OPEN, []),
        3: (BackorderStatus.OPEN, [3]),
        6: (BackorderStatus.OPEN, [3]),
        7: (BackorderStatus.ESCALATED, [3, 7]),
        13: (BackorderStatus.ESCALATED, [3, 7]),
        14: (BackorderStatus.ESCALATED, [3, 7, 14]),
        20: (BackorderStatus.ESCALATED, [3, 7, 14]),
        21: (BackorderStatus.ESCALATED, [3, 7, 14, 21]),
    }
    for days, (status, levels) in expected_status.items():
        service.run(session, actor="tester", now=_at(days))
        session.commit()
        session.refresh(bo)
        got = session.scalars(
            select(BackorderEscalation.days_overdue).order_by(BackorderEscalation.days_overdue)
        ).all()
        assert (bo.status, list(got)) == (status, levels), days
    recipients = [r for _, r in _notifications(session)]
    assert recipients == ["role:supervisor", "role:manager", "role:director", "role:executive"]


def test_running_twice_changes_nothing(session: Session) -> None:
    overdue_backorder(session, promised=PROMISED)
    overdue_backorder(session, promised=PROMISED + timedelta(days=10))
    session.commit()
    first = service.run(session, actor="tester", now=_at(25))
    session.commit()
    assert len(first.applied) == 4 + 3
    counts = [
        _count(session, m)
        for m in (BackorderEscalation, Notification, AuditRecord, BackorderStatusChange)
    ]
    second = service.run(session, actor="tester", now=_at(25, hour=17))
    session.commit()
    assert (second.applied, second.reminders, second.notifications) == ([], [], 0)
    assert counts == [
        _count(session, m)
        for m in (BackorderEscalation, Notification, AuditRecord, BackorderStatusChange)
    ]


def test_levels_reached_together_apply_lowest_first_through_the_lifecycle(
    session: Session,
) -> None:
    bo = overdue_backorder(session, promised=PROMISED)
    session.commit()
    report = service.run(session, actor="tester", now=_at(15))
    session.commit()
    assert [(a.level, a.status_before, a.status_after) for a in report.applied] == [
        (3, "open", "open"),
        (7, "open", "escalated"),
        (14, "escalated", "escalated"),
    ]
    history = [(h.from_status, h.to_status) for h in bo.history]
    assert history[-2:] == [
        (BackorderStatus.OPEN, BackorderStatus.ESCALATED),
        (BackorderStatus.ESCALATED, BackorderStatus.ESCALATED),
    ]
    assert report.escalated == 1


@pytest.mark.parametrize("status", [BackorderStatus.RESOLVED, BackorderStatus.CANCELLED])
def test_resolved_and_cancelled_backorders_are_never_escalated(
    session: Session, status: BackorderStatus
) -> None:
    bo = overdue_backorder(session, promised=PROMISED, status=status)
    session.commit()
    report = service.run(session, actor="tester", now=_at(30))
    session.commit()
    session.refresh(bo)
    assert (report.overdue, report.applied, bo.status) == (0, [], status)
    assert _count(session, Notification) == 0


def test_a_partially_resolved_backorder_escalates(session: Session) -> None:
    bo = overdue_backorder(session, promised=PROMISED, status=BackorderStatus.PARTIALLY_RESOLVED)
    session.commit()
    service.run(session, actor="tester", now=_at(7))
    session.commit()
    session.refresh(bo)
    assert bo.status is BackorderStatus.ESCALATED


def test_every_level_is_audited_with_the_level_before_and_after(session: Session) -> None:
    bo = overdue_backorder(session, promised=PROMISED)
    session.commit()
    service.run(session, actor="tester", now=_at(3))
    service.run(session, actor="tester", now=_at(7))
    session.commit()
    records = session.scalars(
        select(AuditRecord).where(AuditRecord.entity_type == "backorder").order_by(AuditRecord.id)
    ).all()
    assert [(r.action, r.actor, r.entity_id) for r in records] == [
        ("backorder.escalation_notified", "tester", str(bo.id)),
        ("backorder.escalated", "tester", str(bo.id)),
    ]
    notified, escalated = records
    assert notified.before == {"number": bo.number, "status": "open", "escalation_level": None}
    assert notified.after == {"number": bo.number, "status": "open", "escalation_level": 3}
    assert escalated.before == {"number": bo.number, "status": "open", "escalation_level": 3}
    assert escalated.after == {"number": bo.number, "status": "escalated", "escalation_level": 7}
    assert escalated.policy_version_id is not None
    assert "7 days past the promised date 2026-01-01" in (escalated.reason or "")
    assert audit.verify(session).ok


def test_a_vip_escalation_also_tells_the_account_manager(session: Session) -> None:
    vip = factories.customer(session, tier=Tier.VIP, account_manager="am.jones")
    overdue_backorder(session, promised=PROMISED, customer_id=vip.id)
    session.commit()
    service.run(session, actor="tester", now=_at(7))
    session.commit()
    assert _notifications(session) == [
        ("escalation", "role:supervisor"),  # level 3 only notifies: no VIP rule
        ("escalation", "role:manager"),
        ("escalation", "user:am.jones"),
    ]
    body = session.scalars(select(Notification.body).where(Notification.id == 2)).one()
    assert "is 7 days overdue" in body and "VIP" in body


def test_approvals_waiting_past_the_policy_period_get_one_reminder_per_period(
    session: Session,
) -> None:
    bo = overdue_backorder(session, promised=date(2030, 1, 1))  # not overdue
    created = datetime(2026, 3, 1, 8, tzinfo=UTC)
    rec = waiting_recommendation(session, backorder=bo, created_at=created)
    waiting_recommendation(session, backorder=bo, created_at=created, status="approved")
    session.commit()

    early = service.run(session, actor="tester", now=created + timedelta(hours=23, minutes=59))
    assert early.reminders == []
    first = service.run(session, actor="tester", now=created + timedelta(hours=24))
    session.commit()
    assert [(r.recommendation_id, r.reminder, r.roles) for r in first.reminders] == [
        (rec.id, 1, ("supervisor", "manager"))
    ]
    again = service.run(session, actor="tester", now=created + timedelta(hours=47))
    assert again.reminders == []
    second = service.run(session, actor="tester", now=created + timedelta(hours=48))
    session.commit()
    assert [r.reminder for r in second.reminders] == [2]
    assert (
        _notifications(session)
        == [
            ("approval_reminder", "role:supervisor"),
            ("approval_reminder", "role:manager"),
        ]
        * 2
    )
    subject = session.scalars(select(Notification.subject).limit(1)).one()
    assert subject == f"Reminder: recommendation {rec.id} has waited 24 hours"


def test_two_runs_at_once_apply_each_level_once(session: Session, engine: Engine) -> None:
    for _ in range(3):
        overdue_backorder(session, promised=PROMISED)
    policies.active_policy(session)  # installed beforehand: its own lock would serialize the runs
    session.commit()
    sessions = make_sessionmaker(engine)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            with sessions.begin() as own:
                service.run(own, actor="tester", now=_at(8))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _count(session, BackorderEscalation) == 3 * 2
    assert _count(session, Notification) == 3 * 2
    assert audit.verify(session).ok

"""Enqueueing: rendered from templates, one row per channel, deduplicated, in the caller's txn."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain.models import Notification
from allotment.notify import outbox
from allotment.notify.outbox import NotificationInvalidError
from allotment.notify.templates import NotificationTemplateError, render
from tests import factories
from tests.escalation.helpers import waiting_recommendation
from tests.notify.helpers import ETA_CONTEXT

CONTEXT = {**ETA_CONTEXT, "value": Decimal("12.50")}


def _rows(session: Session) -> list[Notification]:
    return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_the_same_dedupe_key_is_enqueued_once_per_channel(session: Session) -> None:
    def enqueue(*channels: str) -> list[int]:
        return outbox.enqueue(
            session,
            kind="customer_eta_change",
            recipient="customer:C-1",
            context=CONTEXT,
            dedupe_key="k1",
            channels=channels,
        )

    first = enqueue("log", "webhook")
    again = enqueue("log", "webhook", "smtp")
    session.commit()
    assert len(first) == 2 and len(again) == 1  # only smtp was new
    assert [(n.channel, n.status, n.attempts) for n in _rows(session)] == [
        ("log", "pending", 0),
        ("webhook", "pending", 0),
        ("smtp", "pending", 0),
    ]


def test_a_notification_is_rendered_and_keeps_its_context_as_json(session: Session) -> None:
    at = datetime(2026, 3, 2, 8, tzinfo=UTC)
    outbox.enqueue(
        session,
        kind="customer_eta_change",
        recipient="customer:C-1",
        context=CONTEXT,
        dedupe_key="k2",
        channels=("log",),
        now=at,
    )
    session.commit()
    (row,) = _rows(session)
    assert row.subject == "New expected date for your order SO-1"
    assert "changed from 2026-03-01 to 2026-03-09" in row.body
    assert row.payload["value"] == "12.50" and row.payload["quantity"] == 4
    assert (row.created_at, row.next_attempt_at, row.sent_at) == (at, at, None)


def test_the_configured_sinks_are_the_default_channels(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from allotment.config import get_settings

    monkeypatch.setenv("ALLOTMENT_NOTIFY_SINKS", "smtp,log")
    get_settings.cache_clear()
    outbox.enqueue(
        session, kind="customer_eta_change", recipient="a@b.c", context=CONTEXT, dedupe_key="k3"
    )
    assert [n.channel for n in _rows(session)] == ["smtp", "log"]


def test_a_rolled_back_transaction_takes_its_notifications_with_it(session: Session) -> None:
    outbox.enqueue(
        session, kind="customer_eta_change", recipient="x", context=CONTEXT, dedupe_key="k4"
    )
    session.rollback()
    assert _rows(session) == []


def test_a_missing_template_field_or_kind_is_refused_at_enqueue(session: Session) -> None:
    with pytest.raises(NotificationTemplateError, match="needs new_eta"):
        outbox.enqueue(
            session,
            kind="customer_eta_change",
            recipient="customer:C-1",
            context={k: v for k, v in CONTEXT.items() if k != "new_eta"},
            dedupe_key="k5",
        )
    with pytest.raises(NotificationTemplateError, match="no template"):
        render("carrier_pigeon", CONTEXT)
    with pytest.raises(NotificationInvalidError, match="recipient"):
        outbox.enqueue(
            session, kind="customer_eta_change", recipient=" ", context=CONTEXT, dedupe_key="k"
        )
    with pytest.raises(NotificationInvalidError, match="fax"):
        outbox.enqueue(
            session,
            kind="customer_eta_change",
            recipient="x",
            context=CONTEXT,
            dedupe_key="k",
            channels=("fax",),
        )
    assert _rows(session) == []


def test_an_eta_change_tells_the_customer_once_per_change(session: Session) -> None:
    customer = factories.customer(session, code="C-77", name="Metro Manufacturing")
    bo = factories.backorder(session, customer_id=customer.id, quantity=4)
    old, new = date(2026, 3, 1), date(2026, 3, 9)
    assert len(outbox.notify_eta_change(session, bo, old, new)) == 1
    assert outbox.notify_eta_change(session, bo, old, new) == []  # the same change again
    assert outbox.notify_eta_change(session, bo, new, new) == []  # nothing changed
    assert len(outbox.notify_eta_change(session, bo, None, date(2026, 3, 20))) == 1
    first, second = _rows(session)
    assert (first.kind, first.recipient) == ("customer_eta_change", "customer:C-77")
    assert first.body.startswith("Dear Metro Manufacturing,")
    assert "4 x Control Module" in first.body and "from 2026-03-01 to 2026-03-09" in first.body
    assert "from not set to 2026-03-20" in second.body


def test_with_event_ids_an_eta_that_moves_back_and_forth_is_told_each_time(
    session: Session,
) -> None:
    bo = factories.backorder(session)
    a, b = date(2026, 3, 1), date(2026, 3, 9)
    moves = [("e1", a, b), ("e2", b, a), ("e3", a, b), ("e3", a, b)]  # e3 delivered twice
    sent = [len(outbox.notify_eta_change(session, bo, o, n, event_id=e)) for e, o, n in moves]
    assert sent == [1, 1, 1, 0]


def test_an_approval_waiting_goes_to_the_role_once(session: Session) -> None:
    bo = factories.backorder(session)
    rec = waiting_recommendation(session, backorder=bo, created_at=datetime.now(UTC))
    assert len(outbox.notify_approval_waiting(session, rec, "supervisor")) == 1
    assert outbox.notify_approval_waiting(session, rec, "supervisor") == []
    assert len(outbox.notify_approval_waiting(session, rec, "manager")) == 1
    # Approvals voided by a change: the next round asks again.
    assert len(outbox.notify_approval_waiting(session, rec, "supervisor", approval_round=2)) == 1
    first = _rows(session)[0]
    assert first.recipient == "role:supervisor"
    assert first.subject == f"Approval needed: expedite for backorder {bo.number} ($12,500)"
    assert "Chain: supervisor -> manager." in first.body

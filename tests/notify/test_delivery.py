"""Delivery: sinks against local servers, retries with exponential backoff, dead letters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_string
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from allotment.config import Settings
from allotment.db.engine import make_sessionmaker
from allotment.domain.models import Notification
from allotment.notify import outbox
from allotment.notify import repository as repo
from allotment.notify.delivery import backoff_seconds, deliver_due, retry_dead
from allotment.notify.sinks import NotifySinkConfigError, sinks_from_settings
from tests.notify.helpers import ETA_CONTEXT as CONTEXT
from tests.notify.servers import Mailbox, WebhookLog, closed_port, smtp_server, webhook_server

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "notify_backoff_seconds": 30,
        "notify_backoff_max_seconds": 3600,
        "notify_max_attempts": 4,
    }
    values.update(overrides)
    return Settings(**values)


def _smtp(tmp_path: Path, port: int, **overrides: Any) -> Settings:
    return _settings(
        tmp_path,
        notify_sinks=("smtp",),
        notify_smtp_host="127.0.0.1",
        notify_smtp_port=port,
        **overrides,
    )


def _enqueue(engine: Engine, channel: str, recipient: str = "customer:C-1", key: str = "k") -> int:
    with make_sessionmaker(engine).begin() as session:
        (new_id,) = outbox.enqueue(
            session,
            kind="customer_eta_change",
            recipient=recipient,
            context=CONTEXT,
            dedupe_key=key,
            channels=(channel,),
            now=T0,
        )
    return new_id


def _row(sessions: sessionmaker[Session], notification_id: int) -> Notification:
    with sessions() as session:
        row = session.get(Notification, notification_id)
        assert row is not None
        session.expunge(row)
        return row


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [backoff_seconds(n, base=30, cap=3600) for n in range(1, 9)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
    ]
    assert backoff_seconds(10_000, base=30, cap=3600) == 3600


def test_a_flaky_webhook_is_retried_with_backoff_then_sent(engine: Engine, tmp_path: Path) -> None:
    hook = WebhookLog(fail_first=2)
    with webhook_server(hook) as url:
        settings = _settings(tmp_path, notify_sinks=("webhook",), notify_webhook_url=url)
        sinks, sessions = sinks_from_settings(settings), make_sessionmaker(engine)
        nid = _enqueue(engine, "webhook")
        clock = Clock(T0)

        def run() -> list[str]:
            report = deliver_due(sessions, sinks=sinks, settings=settings, clock=clock)
            return [o.status for o in report.outcomes]

        assert run() == ["retrying"]
        first = _row(sessions, nid)
        assert (first.attempts, first.next_attempt_at) == (1, T0 + timedelta(seconds=30))
        assert first.last_error == "webhook answered HTTP 500 Internal Server Error"

        clock.now = T0 + timedelta(seconds=29)
        assert run() == []  # not due yet
        clock.now = T0 + timedelta(seconds=30)
        assert run() == ["retrying"]
        second = _row(sessions, nid)
        assert (second.attempts, second.next_attempt_at) == (2, clock.now + timedelta(seconds=60))

        clock.now += timedelta(seconds=60)
        assert run() == ["sent"]
        sent = _row(sessions, nid)
        assert (sent.status, sent.attempts, sent.sent_at, sent.last_error) == (
            "sent",
            3,
            clock.now,
            None,
        )
        clock.now += timedelta(days=1)
        assert run() == []  # delivered once for good
    assert len(hook.requests) == 3
    bodies = [r["body"] for r in hook.requests]
    assert [b["attempt"] for b in bodies] == [1, 2, 3]
    assert {b["id"] for b in bodies} == {nid}
    assert bodies[0]["subject"] == "New expected date for your order SO-1"
    assert bodies[0]["payload"]["new_eta"] == "2026-03-09"
    assert {r["headers"]["Idempotency-Key"] for r in hook.requests} == {
        f"allotment-notification-{nid}"
    }


def test_a_webhook_that_always_fails_is_dead_after_the_last_attempt(
    engine: Engine, tmp_path: Path
) -> None:
    hook = WebhookLog(fail_first=10**6, fail_status=503)
    with webhook_server(hook) as url:
        settings = _settings(
            tmp_path, notify_sinks=("webhook",), notify_webhook_url=url, notify_max_attempts=3
        )
        sinks, sessions = sinks_from_settings(settings), make_sessionmaker(engine)
        nid = _enqueue(engine, "webhook")
        clock = Clock(T0)
        statuses = []
        for _ in range(5):
            report = deliver_due(sessions, sinks=sinks, settings=settings, clock=clock)
            statuses += [o.status for o in report.outcomes]
            clock.now += timedelta(hours=2)
    assert statuses == ["retrying", "retrying", "dead"]
    assert len(hook.requests) == 3
    dead = _row(sessions, nid)
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert dead.last_error == "webhook answered HTTP 503 Service Unavailable"

    with sessions.begin() as session:
        assert retry_dead(session, now=clock.now) == 1
    revived = _row(sessions, nid)
    assert (revived.status, revived.attempts, revived.next_attempt_at) == ("pending", 0, clock.now)


def test_a_client_error_or_an_unreachable_webhook(engine: Engine, tmp_path: Path) -> None:
    hook = WebhookLog(fail_first=1, fail_status=404)
    with webhook_server(hook) as url:
        settings = _settings(tmp_path, notify_sinks=("webhook",), notify_webhook_url=url)
        sessions = make_sessionmaker(engine)
        nid = _enqueue(engine, "webhook")
        deliver_due(
            sessions, sinks=sinks_from_settings(settings), settings=settings, clock=Clock(T0)
        )
    # Retrying cannot fix a 404: dead at the first attempt.
    assert (_row(sessions, nid).status, _row(sessions, nid).attempts) == ("dead", 1)

    down = _settings(
        tmp_path,
        notify_sinks=("webhook",),
        notify_webhook_url=f"http://127.0.0.1:{closed_port()}/hook",
    )
    other = _enqueue(engine, "webhook", key="k2")
    deliver_due(sessions, sinks=sinks_from_settings(down), settings=down, clock=Clock(T0))
    row = _row(sessions, other)
    assert row.status == "retrying" and (row.last_error or "").startswith("webhook unreachable")


def test_the_log_sink_appends_one_json_line_per_notification(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "out" / "notifications.jsonl"
    settings = _settings(tmp_path, notify_log_path=path)
    sessions = make_sessionmaker(engine)
    ids = [_enqueue(engine, "log", key=f"k{i}") for i in range(2)]
    report = deliver_due(
        sessions, sinks=sinks_from_settings(settings), settings=settings, clock=Clock(T0)
    )
    assert [o.status for o in report.outcomes] == ["sent", "sent"]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["id"] for line in lines] == ids
    assert lines[0]["kind"] == "customer_eta_change"
    assert lines[0]["recipient"] == "customer:C-1"
    assert lines[0]["subject"] == "New expected date for your order SO-1"
    assert "changed from 2026-03-01 to 2026-03-09" in lines[0]["body"]
    assert lines[0]["payload"]["order_number"] == "SO-1"
    assert {"created_at", "delivered_at", "dedupe_key", "attempt"} <= set(lines[0])


def test_smtp_sends_to_the_recipients_address(engine: Engine, tmp_path: Path) -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        settings = _smtp(
            tmp_path,
            port,
            notify_smtp_from="allotment@example.com",
            notify_addresses={"customer:C-1": "buyer@metro.example"},
        )
        sessions = make_sessionmaker(engine)
        nid = _enqueue(engine, "smtp")
        nobody = _enqueue(engine, "smtp", recipient="role:supervisor", key="k2")
        direct = _enqueue(engine, "smtp", recipient="ops@example.com", key="k3")
        deliver_due(
            sessions, sinks=sinks_from_settings(settings), settings=settings, clock=Clock(T0)
        )
    assert [_row(sessions, i).status for i in (nid, nobody, direct)] == ["sent", "dead", "sent"]
    assert "no e-mail address for 'role:supervisor'" in (_row(sessions, nobody).last_error or "")
    assert [(m[0], m[1]) for m in mailbox.messages] == [
        ("allotment@example.com", ["buyer@metro.example"]),
        ("allotment@example.com", ["ops@example.com"]),
    ]
    email = message_from_string(mailbox.messages[0][2])
    assert email["Subject"] == "New expected date for your order SO-1"
    assert email["To"] == "buyer@metro.example"
    assert email["X-Allotment-Notification-Id"] == str(nid)
    text = email.get_payload(decode=True).decode()
    assert "changed from 2026-03-01 to 2026-03-09" in text


def test_smtp_refusals_are_permanent_and_a_down_server_is_retried(
    engine: Engine, tmp_path: Path
) -> None:
    mailbox = Mailbox(refuse_recipients_with=550)
    with smtp_server(mailbox) as port:
        settings = _smtp(tmp_path, port, notify_smtp_default_to="ops@example.com")
        sessions = make_sessionmaker(engine)
        refused = _enqueue(engine, "smtp")
        deliver_due(
            sessions, sinks=sinks_from_settings(settings), settings=settings, clock=Clock(T0)
        )
    assert _row(sessions, refused).status == "dead"
    down = _smtp(tmp_path, closed_port(), notify_smtp_default_to="ops@example.com")
    later = _enqueue(engine, "smtp", key="k2")
    deliver_due(sessions, sinks=sinks_from_settings(down), settings=down, clock=Clock(T0))
    assert _row(sessions, later).status == "retrying"
    assert mailbox.messages == []


def test_a_channel_without_a_configured_sink_is_dead_with_the_reason(
    engine: Engine, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)  # log only
    sessions = make_sessionmaker(engine)
    nid = _enqueue(engine, "webhook")
    deliver_due(sessions, sinks=sinks_from_settings(settings), settings=settings, clock=Clock(T0))
    row = _row(sessions, nid)
    assert row.status == "dead" and "'webhook' sink is not configured" in (row.last_error or "")


def test_a_claim_is_taken_once_and_a_lost_worker_is_redelivered_after_its_lease(
    engine: Engine, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, notify_lease_seconds=300)
    sessions = make_sessionmaker(engine)
    nid = _enqueue(engine, "log")
    with sessions.begin() as session:
        (due,) = repo.due(session=session, now=T0, limit=10)
        lease = T0 + timedelta(seconds=300)
        assert repo.claim(
            session=session, notification_id=nid, seen_next_attempt_at=due[1], lease_until=lease
        )
        # A second worker that saw the same row loses the compare-and-set.
        lost = repo.claim(
            session=session, notification_id=nid, seen_next_attempt_at=due[1], lease_until=lease
        )
        assert lost is None
    # The first worker dies before recording anything: nothing is due until the lease ends.
    sinks = sinks_from_settings(settings)
    early = deliver_due(sessions, sinks=sinks, settings=settings, clock=Clock(lease - timedelta(1)))
    assert early.outcomes == []
    late = deliver_due(sessions, sinks=sinks, settings=settings, clock=Clock(lease))
    assert [(o.status, o.attempts) for o in late.outcomes] == [("sent", 2)]


def test_a_webhook_sink_needs_an_http_url(tmp_path: Path) -> None:
    with pytest.raises(NotifySinkConfigError, match="NOTIFY_WEBHOOK_URL"):
        sinks_from_settings(_settings(tmp_path, notify_sinks=("webhook",)))
    with pytest.raises(NotifySinkConfigError, match="http"):
        sinks_from_settings(
            _settings(tmp_path, notify_sinks=("webhook",), notify_webhook_url="file:///etc/passwd")
        )


def test_the_outbox_counts_rows_per_status(engine: Engine, tmp_path: Path) -> None:
    sessions = make_sessionmaker(engine)
    _enqueue(engine, "log")
    _enqueue(engine, "webhook", key="k2")
    settings = _settings(tmp_path)
    deliver_due(sessions, sinks=sinks_from_settings(settings), settings=settings, clock=Clock(T0))
    with sessions() as session:
        assert repo.counts(session=session) == {"sent": 1, "dead": 1}
        assert [
            n.status for n in session.scalars(select(Notification).order_by(Notification.id))
        ] == [
            "sent",
            "dead",
        ]

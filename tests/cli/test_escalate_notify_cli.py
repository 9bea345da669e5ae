"""``allotment escalate`` and ``allotment notify`` end to end on both backends."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.config import get_settings
from allotment.domain.enums import BackorderStatus
from allotment.domain.models import Notification
from allotment.notify import outbox
from tests.escalation.helpers import overdue_backorder
from tests.notify.helpers import ETA_CONTEXT

runner = CliRunner()


def _cli(*args: str) -> str:
    from allotment.cli.main import app

    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_escalate_then_notify_delivers_to_the_log_file(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "notes.jsonl"
    monkeypatch.setenv("ALLOTMENT_NOTIFY_LOG_PATH", str(log))
    get_settings.cache_clear()
    bo = overdue_backorder(session, promised=date(2026, 1, 1))
    session.commit()

    first = json.loads(_cli("escalate", "--now", "2026-01-08T10:00", "--json", "--actor", "ops"))
    assert [(a["level"], a["status_after"]) for a in first["applied"]] == [
        (3, "open"),
        (7, "escalated"),
    ]
    assert (first["newly_escalated"], first["notifications_enqueued"]) == (1, 2)
    # The same run enqueued the policy's digests of the last complete day and ISO week (the
    # backlog holds one backorder, so there is something to say).
    assert [(o["cadence"], o["period"], o["outcome"]) for o in first["digests"]["outcomes"]] == [
        ("daily_digest", "2026-01-07", "enqueued"),
        ("weekly_summary", "2026-W01", "enqueued"),
    ]
    again = _cli("escalate", "--now", "2026-01-08")
    assert "0 level(s) applied, 0 newly escalated" in again
    assert "digest: 0 digest(s) enqueued (0 notification(s)), 2 already enqueued" in again
    session.refresh(bo)
    assert bo.status is BackorderStatus.ESCALATED
    session.rollback()  # end the test's transaction: SQLite has one writer

    delivered = _cli("notify", "--once")
    assert "4 attempted, 4 sent, 0 to retry, 0 dead" in delivered
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [line["recipient"] for line in lines] == [
        "role:supervisor",
        "role:manager",
        "role:purchasing_manager",
        "role:operations_director",
    ]
    assert "4 attempted" not in _cli("notify")  # nothing due any more
    listed = json.loads(_cli("notify", "--list", "--status", "sent", "--json"))
    assert [n["status"] for n in listed] == ["sent"] * 4


def test_notify_digest_enqueues_each_digest_once_per_period(session: Session) -> None:
    overdue_backorder(session, promised=date(2026, 1, 1))
    session.commit()
    first = json.loads(_cli("notify", "--digest", "--now", "2026-01-08T10:00", "--json"))
    assert first["notifications_enqueued"] == 2
    again = _cli("notify", "--digest", "--now", "2026-01-08T23:59")
    assert "0 digest(s) enqueued (0 notification(s)), 2 already enqueued" in again
    assert "daily_digest 2026-01-07 backorder_created -> role:purchasing_manager" in again
    nxt = _cli("notify", "--digest", "--now", "2026-01-09")  # midnight: the 8th is complete
    assert "1 digest(s) enqueued (1 notification(s)), 1 already enqueued" in nxt
    # Escalation without the digests.
    plain = json.loads(_cli("escalate", "--now", "2026-01-10", "--no-digest", "--json"))
    assert "digests" not in plain
    kinds = session.scalars(select(Notification.kind).order_by(Notification.id)).all()
    assert kinds.count("daily_digest") == 2 and kinds.count("weekly_summary") == 1


def test_dead_letters_are_listed_and_retried(session: Session) -> None:
    outbox.enqueue(
        session,
        kind="customer_eta_change",
        recipient="customer:C-1",
        context=ETA_CONTEXT,
        dedupe_key="k",
        channels=("webhook",),  # not configured: dead at once
    )
    session.commit()
    assert "1 attempted, 0 sent, 0 to retry, 1 dead" in _cli("notify", "--once")
    dead = json.loads(_cli("notify", "--list", "--status", "dead", "--json"))
    assert [(n["channel"], n["attempts"]) for n in dead] == [("webhook", 1)]
    assert "sink is not configured" in dead[0]["last_error"]
    assert "'webhook' sink is not" in _cli("notify", "--list", "--status", "dead")
    assert "1 dead notification(s) back in the queue" in _cli("notify", "--retry-dead")
    assert session.scalar(select(func.count()).where(Notification.status == "pending")) == 1


def test_scheduled_modes_print_one_line_per_run(session: Session) -> None:
    escalations = _cli("escalate", "--every", "0.01", "--max-runs", "2").splitlines()
    assert len(escalations) == 2 and all(" escalate: 0 overdue" in line for line in escalations)
    deliveries = _cli("notify", "--every", "0.05", "--max-runs", "3", "--json").splitlines()
    assert [json.loads(line)["attempted"] for line in deliveries] == [0, 0, 0]


def test_bad_options_are_one_line_errors() -> None:
    from allotment.cli.main import app

    for args, message in [
        (["escalate", "--now", "yesterday"], "is not an ISO date"),
        (["escalate", "--now", "2026-01-01", "--every", "5"], "exclude each other"),
        (["notify", "--list", "--status", "lost"], "is not one of"),
        (["notify", "--once", "--retry-dead"], "choose one of"),
        (["notify", "--digest", "--list"], "choose one of"),
        (["notify", "--now", "2026-01-01"], "--now goes with --digest"),
        (["notify", "--digest", "--now", "soon"], "is not an ISO date"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output

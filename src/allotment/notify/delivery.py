"""Delivering the outbox: claim, send, record — each notification in its own transactions.

One delivery attempt of one notification is

1. **claim** (a short transaction): count the attempt and push ``next_attempt_at`` to the end of a
   lease (``ALLOTMENT_NOTIFY_LEASE_SECONDS``), compare-and-set so two workers never both claim it;
2. **send** through the sink, outside any transaction (a slow webhook holds no database lock);
3. **record** (a short transaction): ``sent``; or ``retrying`` with ``next_attempt_at`` = now +
   the backoff; or ``dead`` once the attempts reach ``ALLOTMENT_NOTIFY_MAX_ATTEMPTS`` or the
   failure is permanent.

A worker killed between 1 and 3 leaves the notification claimed until the lease ends, then it is
delivered again: at-least-once, never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from allotment.config import Settings
from allotment.db.types import utcnow
from allotment.notify import repository as repo
from allotment.notify.sinks import DeliveryError, Outgoing, PermanentDeliveryError, Sink

_ERROR_MAX = 2000


def backoff_seconds(attempts: int, *, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: ``min(cap, base · 2^(n−1))``.

    Parameters
    ----------
    attempts
        Attempts made so far (≥ 1).
    base
        The wait after the first failure (seconds).
    cap
        The longest wait (seconds).

    Examples
    --------
    >>> [backoff_seconds(n, base=30, cap=3600) for n in (1, 2, 3, 8)]
    [30.0, 60.0, 120.0, 3600.0]
    """
    exponent = max(attempts - 1, 0)
    # 2**exponent overflows a float long after it passes any sensible cap.
    if exponent > 60:
        return float(cap)
    return float(min(cap, base * 2**exponent))


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt did."""

    id: int
    channel: str
    kind: str
    recipient: str
    status: str  # sent, retrying, dead
    attempts: int
    error: str | None
    next_attempt_at: datetime | None


@dataclass
class DeliveryReport:
    """One pass over the due notifications."""

    started_at: datetime
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "attempted": len(self.outcomes),
            "sent": self.count("sent"),
            "retrying": self.count("retrying"),
            "dead": self.count("dead"),
            "outcomes": [
                {
                    **asdict(o),
                    "next_attempt_at": o.next_attempt_at.isoformat() if o.next_attempt_at else None,
                }
                for o in self.outcomes
            ],
        }


def _send(sinks: Mapping[str, Sink], message: Outgoing) -> tuple[str | None, bool]:
    """(error, permanent) of one send; ``(None, False)`` when delivered."""
    sink = sinks.get(message.channel)
    if sink is None:
        return (
            f"the {message.channel!r} sink is not configured (ALLOTMENT_NOTIFY_SINKS)",
            True,
        )
    try:
        sink.deliver(message)
    except PermanentDeliveryError as exc:
        return str(exc), True
    except DeliveryError as exc:
        return str(exc), False
    except Exception as exc:  # a sink's bug must not stop the other deliveries: retry it
        return f"{type(exc).__name__}: {exc}", False
    return None, False


def deliver_one(
    sessions: sessionmaker[Session],
    *,
    notification_id: int,
    seen_next_attempt_at: datetime,
    sinks: Mapping[str, Sink],
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
) -> Outcome | None:
    """Claim, send and record one notification; ``None`` when another worker claimed it."""
    lease = timedelta(seconds=settings.notify_lease_seconds)
    with sessions.begin() as session:
        repo.commit_without_waiting(session=session)
        claimed = repo.claim(
            session=session,
            notification_id=notification_id,
            seen_next_attempt_at=seen_next_attempt_at,
            lease_until=clock() + lease,
        )
    if claimed is None:
        return None
    message = Outgoing.of(claimed)

    error, permanent = _send(sinks, message)

    now = clock()
    next_at: datetime | None = None
    values: dict[str, Any]
    if error is None:
        values = {"status": "sent", "sent_at": now, "last_error": None}
    elif permanent or message.attempt >= settings.notify_max_attempts:
        values = {"status": "dead", "last_error": error[:_ERROR_MAX]}
    else:
        delay = backoff_seconds(
            message.attempt,
            base=settings.notify_backoff_seconds,
            cap=settings.notify_backoff_max_seconds,
        )
        next_at = now + timedelta(seconds=delay)
        values = {
            "status": "retrying",
            "last_error": error[:_ERROR_MAX],
            "next_attempt_at": next_at,
        }
    with sessions.begin() as session:
        repo.commit_without_waiting(session=session)
        repo.record(session=session, notification_id=notification_id, values=values)
    return Outcome(
        id=message.id,
        channel=message.channel,
        kind=message.kind,
        recipient=message.recipient,
        status=values["status"],
        attempts=message.attempt,
        error=values["last_error"],
        next_attempt_at=next_at,
    )


def deliver_due(
    sessions: sessionmaker[Session],
    *,
    sinks: Mapping[str, Sink],
    settings: Settings,
    limit: int = 500,
    clock: Callable[[], datetime] = utcnow,
) -> DeliveryReport:
    """Attempt every notification due now (at most ``limit``), oldest first."""
    report = DeliveryReport(started_at=clock())
    with sessions.begin() as session:
        due = repo.due(session=session, now=report.started_at, limit=limit)
    for notification_id, seen in due:
        outcome = deliver_one(
            sessions,
            notification_id=notification_id,
            seen_next_attempt_at=seen,
            sinks=sinks,
            settings=settings,
            clock=clock,
        )
        if outcome is not None:
            report.outcomes.append(outcome)
    return report


def retry_dead(session: Session, *, now: datetime | None = None) -> int:
    """Give every dead notification a fresh attempt budget, due now; how many (flushed)."""
    count = repo.revive_dead(session=session, now=now or utcnow())
    session.flush()
    return count

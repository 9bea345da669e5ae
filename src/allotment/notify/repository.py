"""SQL for the notification outbox. Keyword-only, typed; never commits (the caller does)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from allotment.domain.models import Notification

#: Statuses that still wait for a delivery.
WAITING = ("pending", "retrying")


def _insert_statement(dialect: str, *, returning: bool = True) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # On the table (Core), not the ORM entity: one plain statement, no ORM bulk machinery.
    table = cast(Table, Notification.__table__)
    stmt = insert(table).on_conflict_do_nothing(index_elements=["dedupe_key", "channel"])
    return stmt.returning(table.c.id) if returning else stmt


# One statement per backend, compiled once (the values are bound per call).
_INSERTS = {name: _insert_statement(name) for name in ("sqlite", "postgresql")}
_INSERTS_MANY = {
    name: _insert_statement(name, returning=False) for name in ("sqlite", "postgresql")
}


def insert_new(*, session: Session, values: dict[str, Any]) -> int | None:
    """Insert one notification unless its (dedupe key, channel) exists; its id, else ``None``.

    ``INSERT ... ON CONFLICT DO NOTHING``, so two transactions enqueueing the same notification
    at once end with one row and neither fails.
    """
    stmt = _INSERTS[session.get_bind().dialect.name]
    new_id = session.execute(stmt, values).scalar_one_or_none()
    return None if new_id is None else int(new_id)


def insert_many_new(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert notifications in order, each unless its (dedupe key, channel) exists (one
    executemany of :func:`insert_new`'s ``INSERT ... ON CONFLICT DO NOTHING``)."""
    if rows:
        session.connection().execute(_INSERTS_MANY[session.get_bind().dialect.name], list(rows))


def due(*, session: Session, now: datetime, limit: int) -> Sequence[tuple[int, datetime]]:
    """(id, next_attempt_at) of waiting notifications whose time has come, oldest first."""
    rows = session.execute(
        select(Notification.id, Notification.next_attempt_at)
        .where(Notification.status.in_(WAITING), Notification.next_attempt_at <= now)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
    ).all()
    return [(int(r[0]), r[1]) for r in rows]


#: What a claim reads back: everything a sink needs, and the attempts counted so far.
CLAIMED_COLUMNS = (
    Notification.id,
    Notification.kind,
    Notification.recipient,
    Notification.channel,
    Notification.subject,
    Notification.body,
    Notification.payload,
    Notification.created_at,
    Notification.dedupe_key,
    Notification.attempts,
)


def commit_without_waiting(*, session: Session) -> None:
    """PostgreSQL: this transaction's commit does not wait for its WAL flush.

    Safe for delivery bookkeeping only: a server crash can lose the last few hundred
    milliseconds of claims and outcomes, which makes those notifications due again — delivered
    twice, never lost (at-least-once). Nothing to do on SQLite.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit = off"))


def claim(
    *, session: Session, notification_id: int, seen_next_attempt_at: datetime, lease_until: datetime
) -> Row[Any] | None:
    """Take one delivery attempt: count it and push ``next_attempt_at`` to the lease's end.

    Compare-and-set on ``next_attempt_at``: of two workers that saw the same row, one claims it
    (the row's :data:`CLAIMED_COLUMNS`, attempts included); the other gets ``None``.
    """
    return session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.status.in_(WAITING),
            Notification.next_attempt_at == seen_next_attempt_at,
        )
        .values(attempts=Notification.attempts + 1, next_attempt_at=lease_until)
        .returning(*CLAIMED_COLUMNS)
        .execution_options(synchronize_session=False)
    ).one_or_none()


def record(*, session: Session, notification_id: int, values: dict[str, Any]) -> None:
    """Write the outcome of an attempt (status, error, times)."""
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def get(*, session: Session, notification_id: int) -> Notification | None:
    return session.get(Notification, notification_id)


def list_notifications(
    *,
    session: Session,
    status: str | None = None,
    kind: str | None = None,
    channel: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[Notification]:
    """Newest first; ``before_id`` continues a page."""
    stmt = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(Notification.status == status)
    if kind is not None:
        stmt = stmt.where(Notification.kind == kind)
    if channel is not None:
        stmt = stmt.where(Notification.channel == channel)
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    return session.scalars(stmt).all()


def revive_dead(*, session: Session, now: datetime) -> int:
    """Put every dead notification back in the queue with a fresh attempt budget."""
    result = session.execute(
        update(Notification)
        .where(Notification.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def counts(*, session: Session) -> dict[str, int]:
    """Notifications per status."""
    rows = session.execute(
        select(Notification.status, func.count()).group_by(Notification.status)
    ).all()
    return {str(status): int(n) for status, n in rows}

"""SQL for the audit trail. Keyword-only, typed; never commits (the caller does)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from allotment.domain.models import AuditRecord

#: Key of the PostgreSQL advisory lock that serializes appends (any fixed 64-bit number works;
#: this one is the first 8 bytes of sha256("allotment.audit_records") as a signed integer).
APPEND_LOCK_KEY = -5_137_069_735_140_183_417

#: Columns covered by the hash, in the order they are read back for verification.
HASHED_COLUMNS = (
    AuditRecord.occurred_at,
    AuditRecord.actor,
    AuditRecord.role,
    AuditRecord.action,
    AuditRecord.entity_type,
    AuditRecord.entity_id,
    AuditRecord.before,
    AuditRecord.after,
    AuditRecord.reason,
    AuditRecord.model_versions,
    AuditRecord.policy_version_id,
)


def lock_for_append(*, session: Session) -> None:
    """Serialize appends until this transaction ends, so no two records share a ``prev_hash``.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: nothing to do, every writing
    transaction already holds the database's write lock from ``BEGIN IMMEDIATE``.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(APPEND_LOCK_KEY)))


def last_hash(*, session: Session) -> str | None:
    """The hash of the newest record, ``None`` when the trail is empty."""
    return session.scalars(
        select(AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1)
    ).one_or_none()


def add(*, session: Session, record: AuditRecord) -> AuditRecord:
    session.add(record)
    session.flush()
    return record


def add_many(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert records given as column values, in order (one executemany; ids follow the order)."""
    if rows:
        session.execute(insert(AuditRecord), list(rows))


def iter_for_verify(*, session: Session, batch_size: int = 2000) -> Iterator[Any]:
    """Every record's id, links and hashed columns, oldest first, streamed in batches."""
    stmt = (
        select(AuditRecord.id, AuditRecord.prev_hash, AuditRecord.hash, *HASHED_COLUMNS)
        .order_by(AuditRecord.id)
        .execution_options(yield_per=batch_size)
    )
    yield from session.execute(stmt)


def list_records(
    *,
    session: Session,
    entity_type: str | None = None,
    entity_id: str | None = None,
    limit: int = 50,
) -> Sequence[AuditRecord]:
    """Newest first, optionally only one entity type (and id)."""
    stmt = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if entity_type is not None:
        stmt = stmt.where(AuditRecord.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditRecord.entity_id == entity_id)
    return session.scalars(stmt).all()


def count(*, session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditRecord)) or 0)


def query_records(
    *,
    session: Session,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Sequence[AuditRecord]:
    """Newest first, every filter optional; ``since`` inclusive, ``until`` exclusive (UTC).

    ``before_id`` continues a page (keyset on the id, which follows the chain's order).
    """
    stmt = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if entity_type is not None:
        stmt = stmt.where(AuditRecord.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditRecord.entity_id == entity_id)
    if actor is not None:
        stmt = stmt.where(AuditRecord.actor == actor)
    if action is not None:
        stmt = stmt.where(AuditRecord.action == action)
    if since is not None:
        stmt = stmt.where(AuditRecord.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditRecord.occurred_at < until)
    if before_id is not None:
        stmt = stmt.where(AuditRecord.id < before_id)
    return session.scalars(stmt).all()

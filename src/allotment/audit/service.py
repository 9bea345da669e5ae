"""The audit trail: append-only records chained by SHA-256, and their verification.

Each record's ``hash`` is ``sha256(prev_hash + canonical JSON of its content)``, where the content
is every column but ``id``, ``prev_hash`` and ``hash`` (see :mod:`allotment.audit.canonical` for
the canonical form) and ``prev_hash`` is the previous record's ``hash`` (64 zeros for the first
record). Editing any hashed column breaks that record's hash; deleting, inserting or reordering
records breaks the link of the record after the change. Deleting the newest records leaves a valid
shorter chain: keep the ``head_hash`` that :func:`verify` reports somewhere else to detect that.

Appends are serialized (a transaction-scoped advisory lock on PostgreSQL, the write lock that
``BEGIN IMMEDIATE`` takes on SQLite), so two concurrent appends never share a ``prev_hash`` and the
record ids follow the chain. Services flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from allotment.audit import repository as repo
from allotment.audit.canonical import canonical_json, normalize, normalized_json, sha256_hex
from allotment.db.types import utcnow
from allotment.domain.models import AuditRecord
from allotment.errors import AppError

#: ``prev_hash`` of the first record.
GENESIS_HASH = "0" * 64

# Column widths of ``audit_records`` (checked here so both backends refuse the same input).
_MAX_LEN = {"actor": 120, "role": 32, "action": 64, "entity_type": 64, "entity_id": 64}


class AuditRecordInvalidError(AppError):
    """An audit record cannot be written as given (empty or too long a field, non-JSON data)."""

    status_code = 422
    code = "audit_record_invalid"


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`.

    ``first_broken_id`` is the id of the first record whose hash does not match its content
    (``problem == "hash_mismatch"``) or whose ``prev_hash`` is not the previous record's hash
    (``problem == "broken_link"``); ``None`` when the chain is intact. ``head_hash`` is the hash of
    the newest record checked (``None`` for an empty trail).
    """

    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str | None = None
    detail: str = ""
    head_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The chain head as of this session's transaction: after the first append the transaction holds
# the append lock, so nobody else can move the head and later appends skip the lock and the query.
_HEAD_KEY = "allotment.audit.head"


def _chain_head(session: Session) -> str:
    cached = session.info.get(_HEAD_KEY)
    if isinstance(cached, str):
        return cached
    repo.lock_for_append(session=session)
    return repo.last_hash(session=session) or GENESIS_HASH


@event.listens_for(Session, "after_transaction_end")
def _forget_chain_head(session: Session, transaction: SessionTransaction) -> None:
    # The end of the transaction or of a savepoint (released or rolled back) forgets it: the
    # next append locks and reads the head again. The internal subtransaction every flush opens
    # ends too, and changes nothing: forgetting there would re-read the head on every append.
    if transaction.nested or transaction.parent is None:
        session.info.pop(_HEAD_KEY, None)


def record_content(
    *,
    occurred_at: datetime,
    actor: str,
    role: str | None,
    action: str,
    entity_type: str,
    entity_id: str,
    before: Any,
    after: Any,
    reason: str | None,
    model_versions: Any,
    policy_version_id: int | None,
) -> dict[str, Any]:
    """The hashed content of a record, as plain JSON data."""
    content = normalize(
        {
            "occurred_at": occurred_at,
            "actor": actor,
            "role": role,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "before": before,
            "after": after,
            "reason": reason,
            "model_versions": model_versions,
            "policy_version_id": policy_version_id,
        }
    )
    assert isinstance(content, dict)
    return content


def record_hash(prev_hash: str, content: Mapping[str, Any]) -> str:
    """``sha256(prev_hash + canonical_json(content))`` as 64 hex digits."""
    return sha256_hex(prev_hash + canonical_json(content))


def _check_text(name: str, value: str | None, *, required: bool) -> None:
    if value is None or not value.strip():
        if required:
            raise AuditRecordInvalidError(f"audit record needs a non-empty {name}", field=name)
        return
    if len(value) > _MAX_LEN[name]:
        raise AuditRecordInvalidError(
            f"audit record {name} is longer than {_MAX_LEN[name]} characters", field=name
        )


def _json_data(name: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        data = normalize(value)
    except (TypeError, ValueError) as exc:
        raise AuditRecordInvalidError(f"audit record {name}: {exc}", field=name) from None
    if not isinstance(data, dict):
        raise AuditRecordInvalidError(f"audit record {name} must be a mapping", field=name)
    return data


@dataclass(frozen=True)
class Entry:
    """One record to append with :func:`append_many` (the arguments of :func:`append`)."""

    actor: str
    role: str | None
    action: str
    entity_type: str
    entity_id: str | int
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    reason: str | None
    model_versions: Mapping[str, Any] | None = None
    policy_version_id: int | None = None


def _checked(entry: Entry) -> dict[str, Any]:
    """The checked, canonical column values of ``entry`` but the time and the hashes."""
    entity_id = str(entry.entity_id)
    _check_text("actor", entry.actor, required=True)
    _check_text("role", entry.role, required=False)
    _check_text("action", entry.action, required=True)
    _check_text("entity_type", entry.entity_type, required=True)
    _check_text("entity_id", entity_id, required=True)
    before_data = _json_data("before", entry.before)
    after_data = _json_data("after", entry.after)
    versions_data = _json_data("model_versions", entry.model_versions)
    return {
        "actor": entry.actor,
        "role": entry.role,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entity_id,
        "before": before_data,
        "after": after_data,
        "reason": entry.reason,
        "model_versions": versions_data,
        "policy_version_id": entry.policy_version_id,
    }


def _chained(values: dict[str, Any], prev_hash: str, occurred_at: datetime) -> dict[str, Any]:
    """``values`` (from :func:`_checked`) at ``occurred_at``, chained to ``prev_hash``."""
    # What record_content(occurred_at=occurred_at, **values) returns, without normalizing the
    # already normalized values again (the same text, so the same hash as verify computes).
    content = {**values, "occurred_at": normalize(occurred_at)}
    return {
        **values,
        "occurred_at": occurred_at,
        "prev_hash": prev_hash,
        "hash": sha256_hex(prev_hash + normalized_json(content)),
    }


def append(
    session: Session,
    *,
    actor: str,
    role: str | None,
    action: str,
    entity_type: str,
    entity_id: str | int,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    reason: str | None,
    model_versions: Mapping[str, Any] | None = None,
    policy_version_id: int | None = None,
) -> AuditRecord:
    """Append one record to the chain (flushed, not committed) and return it.

    ``before`` and ``after`` are stored in canonical form (Decimals and datetimes as strings), so
    what is read back is exactly what was hashed.
    """
    entry = Entry(
        actor=actor,
        role=role,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before=before,
        after=after,
        reason=reason,
        model_versions=model_versions,
        policy_version_id=policy_version_id,
    )
    values = _checked(entry)  # before the head is locked
    prev_hash = _chain_head(session)
    record = AuditRecord(**_chained(values, prev_hash, utcnow()))
    repo.add(session=session, record=record)
    session.info[_HEAD_KEY] = record.hash
    return record


def append_many(session: Session, entries: Sequence[Entry]) -> list[str]:
    """Append ``entries`` in order (one INSERT executed for all, flushed, not committed); return
    their hashes.

    Each record is chained to the one before it, the first to the chain head, exactly as that
    many :func:`append` calls would chain them (same content, same hash, same head lock and
    cache), and all carry one ``occurred_at``. Every entry is checked before anything is written:
    an invalid one raises :class:`AuditRecordInvalidError` and appends none.
    """
    if not entries:
        return []
    checked = [_checked(entry) for entry in entries]  # all, before the head is locked
    prev_hash = _chain_head(session)
    occurred_at = utcnow()
    rows: list[dict[str, Any]] = []
    for values in checked:
        row = _chained(values, prev_hash, occurred_at)
        rows.append(row)
        prev_hash = row["hash"]
    session.flush()  # pending records of the session first: ids follow the chain
    repo.add_many(session=session, rows=rows)
    session.info[_HEAD_KEY] = prev_hash
    return [row["hash"] for row in rows]


def verify(session: Session) -> VerifyResult:
    """Walk the chain oldest first and report the first record whose hash or link is broken."""
    expected_prev = GENESIS_HASH
    checked = 0
    head: str | None = None
    for row in repo.iter_for_verify(session=session):
        checked += 1
        if row.prev_hash != expected_prev:
            return VerifyResult(
                ok=False,
                checked=checked,
                first_broken_id=row.id,
                problem="broken_link",
                detail=(
                    f"record {row.id}: prev_hash {row.prev_hash[:12]}… is not the hash of the"
                    f" record before it ({expected_prev[:12]}…): a record was deleted, inserted"
                    " or reordered"
                ),
                head_hash=head,
            )
        content = record_content(
            occurred_at=row.occurred_at,
            actor=row.actor,
            role=row.role,
            action=row.action,
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            before=row.before,
            after=row.after,
            reason=row.reason,
            model_versions=row.model_versions,
            policy_version_id=row.policy_version_id,
        )
        if record_hash(row.prev_hash, content) != row.hash:
            return VerifyResult(
                ok=False,
                checked=checked,
                first_broken_id=row.id,
                problem="hash_mismatch",
                detail=f"record {row.id}: its content does not match its hash (edited)",
                head_hash=head,
            )
        expected_prev = head = row.hash
    return VerifyResult(ok=True, checked=checked, head_hash=head)


def list_records(
    session: Session,
    *,
    entity_type: str | None = None,
    entity_id: str | int | None = None,
    limit: int = 50,
) -> list[AuditRecord]:
    """The newest records, optionally for one entity type (and id)."""
    return list(
        repo.list_records(
            session=session,
            entity_type=entity_type,
            entity_id=None if entity_id is None else str(entity_id),
            limit=limit,
        )
    )

"""Idempotent event ingestion, and the re-scoring of what the events touched.

One batch is one transaction (the caller's: the request or the command commits). Inside it each
new event first claims its id (a row in ``events``, unique on ``event_id``), then runs its effect
as if in a savepoint of its own: an effect that raises leaves nothing and the event is *parked*
with its error, and the rest of the batch goes on. So an id on record always comes with its
effect, and a batch killed before its commit leaves neither: resending every event ends in the
state of one clean run.

The effects run set-wise (:mod:`allotment.events.batch`: the batch's rows read once, the rules
applied in memory, the changes written with one statement per kind of row) and, when that path
cannot take a batch, event by event through the domain services (:data:`EFFECTS`, in savepoint
segments, :func:`_run_effects`). Both write the same rows.

- A repeated id with the same payload is a ``duplicate``: it returns the first result and
  changes nothing. Another payload under a known id is refused (422, naming the first field that
  differs) before anything of the batch is applied.
- Two requests with the same new id at once: the second's claim waits on the unique index
  (PostgreSQL) or on the write lock (SQLite), then finds the id taken: ``duplicate``.
- ETA-bearing events (``po_delayed``, ``eta_updated``) older than the ETA in force on the PO
  line are recorded as ``stale`` and change nothing, so late deliveries never roll an ETA back.

Re-scoring is batched: the backorders an event changed go to the ``rescore_queue`` table in the
same transaction, and :func:`drain` re-scores the queue (once per batch or per file, not per
event) and re-recommends those that had proposed recommendations. A drain that never ran (a
crash) leaves the queue for the next one.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy import event as sa_event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from allotment.audit import service as audit
from allotment.audit.canonical import canonical_json, sha256_hex
from allotment.db.engine import session_scope
from allotment.db.types import utcnow
from allotment.domain import repository as domain_repo
from allotment.domain.models import IngestedEvent
from allotment.events import batch as set_wise
from allotment.events import repository as repo
from allotment.events.effects import Effect
from allotment.events.effects import run as run_effect
from allotment.events.errors import EventPayloadMismatchError, describe, is_fatal
from allotment.events.schemas import canonical_payload
from allotment.policy import repository as policy_repo

log = logging.getLogger("allotment.events")

#: Statuses of an event in a response (``duplicate`` is never stored: the first one is).
OUTCOMES = ("applied", "duplicate", "stale", "parked")


@dataclass(frozen=True)
class EventOutcome:
    """What one event of a batch did; a duplicate carries its first delivery's status."""

    index: int
    event_id: str
    type: str
    status: str
    first_status: str | None = None
    touched: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "type": self.type,
            "status": self.status,
            "first_status": self.first_status,
            "touched": self.touched,
            "error": self.error,
        }


@dataclass(frozen=True)
class IngestResult:
    """Per-event outcomes of a batch and how many backorders it queued for re-scoring."""

    outcomes: list[EventOutcome]
    rescore_queued: int

    def counts(self) -> dict[str, int]:
        found = Counter(o.status for o in self.outcomes)
        return {s: found.get(s, 0) for s in OUTCOMES}


def payload_hash(payload: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(payload))


def first_difference(a: Any, b: Any, path: str = "") -> str:
    """The dotted path of the first place two JSON values differ (``""`` for the whole)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b or a[key] != b[key]:
                return first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
        return path
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{path}.{i}" if path else str(i))
    return path


def _mismatch(event_id: str, stored: dict[str, Any], given: dict[str, Any], prefix: str) -> None:
    where = first_difference(stored, given)
    raise EventPayloadMismatchError(
        f"event {event_id!r} was already received with another payload"
        f" (first difference: {where or 'the payload'}); an event id may not be reused",
        field=f"{prefix}{where}" if where else (prefix.rstrip(".") or None),
    )


def _duplicate(index: int, row: IngestedEvent) -> EventOutcome:
    return EventOutcome(
        index=index,
        event_id=row.event_id,
        type=row.type,
        status="duplicate",
        first_status=row.status,
        touched=dict(row.result or {}),
        error=row.error,
    )


def ingest(
    session: Session,
    events: Sequence[BaseModel],
    *,
    actor: str,
    role: str | None = None,
    batch: bool = True,
) -> IngestResult:
    """Apply ``events`` in order, each at most once; return what each did.

    ``batch`` says whether the events came as ``{"events": [...]}`` (a refused payload's field
    is then ``events.<i>.<field>``). Raises :class:`EventPayloadMismatchError` (nothing of the
    batch applied, once the caller rolls back) when a known id comes with another payload.
    """
    payloads = [canonical_payload(e) for e in events]
    hashes = [payload_hash(p) for p in payloads]
    ids = [str(getattr(e, "event_id")) for e in events]  # noqa: B009 (every event has one)
    prefix = [f"events.{i}." if batch else "" for i in range(len(events))]

    # Refuse a reused id before anything is applied.
    known = repo.find_events(session=session, event_ids=ids)
    first_in_batch: dict[str, int] = {}
    for i, event_id in enumerate(ids):
        row = known.get(event_id)
        if row is not None and row.payload_hash != hashes[i]:
            _mismatch(event_id, row.payload, payloads[i], prefix[i])
        j = first_in_batch.setdefault(event_id, i)
        if j != i and hashes[j] != hashes[i]:
            _mismatch(event_id, payloads[j], payloads[i], prefix[i])

    # Claim every new id at once (ON CONFLICT DO NOTHING): an id that another transaction
    # recorded meanwhile is not claimed (PostgreSQL waits for that transaction first).
    received = utcnow()
    fresh = [
        i
        for i, event_id in enumerate(ids)
        if event_id not in known and first_in_batch[event_id] == i
    ]
    row_id = repo.claim_events(
        session=session,
        rows=[
            {
                "event_id": ids[i],
                "type": payloads[i]["type"],
                "occurred_at": getattr(events[i], "occurred_at"),  # noqa: B009
                "payload_hash": hashes[i],
                "payload": payloads[i],
                "status": "applied",
                "result": {},
                "received_at": received,
                "received_by": actor,
            }
            # In id order: two batches claiming overlapping ids lock them in the same order.
            for i in sorted(fresh, key=ids.__getitem__)
        ],
    )
    taken = [ids[i] for i in fresh if ids[i] not in row_id]
    if taken:
        for event_id, row in repo.find_events(session=session, event_ids=taken).items():
            i = first_in_batch[event_id]
            if row.payload_hash != hashes[i]:
                _mismatch(event_id, row.payload, payloads[i], prefix[i])
            known[event_id] = row

    session.info[repo.LOOKUPS] = {}
    try:
        return _apply(session, events, payloads, ids, row_id, known, first_in_batch, actor, role)
    finally:
        session.info.pop(repo.LOOKUPS, None)
        session.info.pop(domain_repo.LOCKED_PO_LINES, None)


def _preload(session: Session, events: Sequence[BaseModel]) -> None:
    """Look up set-wise what the events to apply refer to (see :func:`repo.preload`)."""
    po_refs: list[tuple[str, int]] = []
    customers: list[str] = []
    locations: list[str] = []
    skus: list[str] = []
    for e in events:
        fields = e.__dict__
        if "po_number" in fields:
            po_refs.append((fields["po_number"], fields["line_no"]))
        if "customer_code" in fields:
            customers.append(fields["customer_code"])
        if "location_code" in fields:
            locations.append(fields["location_code"])
        if "sku" in fields:
            skus.append(fields["sku"])
        skus.extend(line.sku for line in fields.get("lines") or ())
    repo.preload(
        session=session,
        po_refs=po_refs,
        customer_codes=customers,
        location_codes=locations,
        skus=skus,
    )


def _apply(
    session: Session,
    events: Sequence[BaseModel],
    payloads: list[dict[str, Any]],
    ids: list[str],
    row_id: dict[str, int],
    known: dict[str, IngestedEvent],
    first_in_batch: dict[str, int],
    actor: str,
    role: str | None,
) -> IngestResult:
    """Run the claimed events' effects (see :func:`_run_effects`); record outcomes; queue,
    audit."""
    jobs = [
        (i, event, payloads[i]["type"])
        for i, event in enumerate(events)
        if ids[i] in row_id and first_in_batch[ids[i]] == i
    ]
    # Set-wise when it can (see allotment.events.batch), else event by event.
    results = set_wise.apply(session, jobs, actor) if jobs else {}
    if results is None:
        _preload(session, [event for _i, event, _type in jobs])
        results = _run_effects(session, jobs, actor)
    outcomes: list[EventOutcome] = []
    done: dict[str, EventOutcome] = {}
    updates: list[dict[str, Any]] = []
    rescore: set[int] = set()
    applied: dict[str, list[str]] = {}
    for i in range(len(events)):
        event_id = ids[i]
        if event_id not in row_id or first_in_batch[event_id] != i:
            if event_id in known:
                outcomes.append(_duplicate(i, known[event_id]))
            else:  # repeated within this batch
                first = done[event_id]
                outcomes.append(
                    EventOutcome(
                        index=i,
                        event_id=event_id,
                        type=first.type,
                        status="duplicate",
                        first_status=first.status,
                        touched=first.touched,
                        error=first.error,
                    )
                )
            continue
        type_ = payloads[i]["type"]
        status, subject, touched, error = "applied", None, {}, None
        result = results[i]
        if isinstance(result, str):
            status, error = "parked", result
        else:
            status, subject, touched = result.status, result.subject, result.touched
            if status == "applied":
                rescore.update(result.rescore)
                applied.setdefault(type_, []).append(event_id)
        updates.append(
            {
                "e_id": row_id[event_id],
                "status": status,
                "subject": subject,
                "result": touched,
                "error": error,
            }
        )
        outcome = EventOutcome(
            index=i, event_id=event_id, type=type_, status=status, touched=touched, error=error
        )
        done[event_id] = outcome
        outcomes.append(outcome)
    repo.record_outcomes(session=session, rows=updates)
    repo.enqueue_rescore(session=session, backorder_ids=sorted(rescore), at=utcnow())
    # One record per state change an event made, the event as its reason (in event order), and
    # one per batch naming the events applied (the events table holds their payloads and results).
    # Each names the policy version active for the batch (read once; None: none active, the
    # shipped default in force) and no model versions: event effects use no model (scores come
    # later, from the rescore queue).
    policy_version_id = policy_repo.active_version_id(session=session) if applied else None
    entries = [
        audit.Entry(
            actor=actor,
            role=role,
            action=c.action,
            entity_type=c.entity_type,
            entity_id=c.entity_id,
            before=c.before,
            after=c.after,
            reason=f"event {payloads[i]['type']} {ids[i]}",
            model_versions=None,
            policy_version_id=policy_version_id,
        )
        for i in sorted(results)
        if not isinstance(results[i], str)
        for c in results[i].changes  # type: ignore[union-attr]
    ]
    if applied:
        entries.append(
            audit.Entry(
                actor=actor,
                role=role,
                action="events.applied",
                entity_type="event_batch",
                entity_id=ids[0],
                before=None,
                after={"applied": applied, "backorders_queued": sorted(rescore)},
                reason=f"{sum(len(v) for v in applied.values())} event(s) applied",
                model_versions=None,
                policy_version_id=policy_version_id,
            )
        )
    audit.append_many(session, entries)
    session.flush()
    return IngestResult(outcomes=outcomes, rescore_queued=len(rescore))


class _Writes:
    """Counts the writing statements a connection runs (to tell a clean failure)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.count += 1


def _run_effects(
    session: Session, jobs: Sequence[tuple[int, BaseModel, str]], actor: str
) -> dict[int, Effect | str]:
    """Each job's effect, or its error (parked), as if each ran in a savepoint of its own.

    Optimistic: the events run in one savepoint (a *segment*). An effect that fails before
    writing anything (a reference to nothing, a receipt over what the line expects: the
    session clean, no INSERT/UPDATE/DELETE sent, no database error) is parked where it
    stands - there is nothing to undo. One that fails after writing rolls the segment back;
    the events before it in the segment are redone (in a segment of their own, or one
    savepoint each should one of them now fail), the failing one is parked, and a new segment
    starts after it. So the common case costs one savepoint per batch, and the state is that
    of one savepoint per event.
    """
    results: dict[int, Effect | str] = {}
    writes = _Writes()
    conn = session.connection()
    sa_event.listen(conn, "before_cursor_execute", writes)
    try:
        start = 0
        while start < len(jobs):
            savepoint = session.begin_nested()
            done: dict[int, Effect | str] = {}
            failed: tuple[int, str] | None = None
            for k in range(start, len(jobs)):
                i, evt, type_ = jobs[k]
                before = writes.count
                try:
                    done[i] = run_effect(session, type_, evt, actor)
                except Exception as exc:
                    if is_fatal(exc):
                        raise
                    error = describe(exc)
                    if (
                        writes.count == before
                        and not isinstance(exc, SQLAlchemyError)  # PostgreSQL: txn aborted
                        and not (session.new or session.dirty or session.deleted)
                    ):
                        done[i] = error  # nothing written: nothing to undo
                        log.info("event %s parked: %s", getattr(evt, "event_id"), error)  # noqa: B009
                        continue
                    failed = (k, error)
                    break
            if failed is None:
                savepoint.commit()
                results.update(done)
                break
            savepoint.rollback()
            repo.forget_etas(session=session)
            k, error = failed
            # The clean failures among them stay parked: they wrote nothing to redo.
            results.update({i: r for i, r in done.items() if isinstance(r, str)})
            redo = [job for job in jobs[start:k] if not isinstance(done[job[0]], str)]
            results.update(_redo(session, redo, actor))
            i, evt, _type = jobs[k]
            results[i] = error
            log.info("event %s parked: %s", getattr(evt, "event_id"), error)  # noqa: B009
            start = k + 1
    finally:
        sa_event.remove(conn, "before_cursor_execute", writes)
    return results


def _redo(
    session: Session, jobs: Sequence[tuple[int, BaseModel, str]], actor: str
) -> dict[int, Effect | str]:
    """Re-run events that succeeded in a rolled-back segment: together, or one savepoint each
    if one of them fails this time."""
    if not jobs:
        return {}
    savepoint = session.begin_nested()
    try:
        done = {i: run_effect(session, type_, evt, actor) for i, evt, type_ in jobs}
    except Exception as exc:
        if is_fatal(exc):
            raise
        savepoint.rollback()
        repo.forget_etas(session=session)
    else:
        savepoint.commit()
        return dict(done)
    out: dict[int, Effect | str] = {}
    for i, evt, type_ in jobs:
        one = session.begin_nested()
        try:
            out[i] = run_effect(session, type_, evt, actor)
        except Exception as exc:
            if is_fatal(exc):
                raise
            one.rollback()
            repo.forget_etas(session=session)
            out[i] = describe(exc)
            log.info("event %s parked: %s", getattr(evt, "event_id"), out[i])  # noqa: B009
        else:
            one.commit()
    return out


@dataclass(frozen=True)
class DrainResult:
    """What one drain of the re-score queue did."""

    rounds: int = 0
    scored: int = 0
    recommended: int = 0
    left: int = 0


def drain(engine: Engine, *, actor: str = "events", limit: int = 5000) -> DrainResult:
    """Re-score the queued backorders (and re-recommend those that had proposed ones).

    Each round takes up to ``limit`` queued backorders in its own transaction: scores the
    active ones with the active policy and champions (one scoring run), regenerates and saves
    recommendations for those that had live ``proposed`` ones, and removes the rows it handled
    unless an event queued them again meanwhile. Runs until the queue is empty.
    """
    from allotment.recommend import service as recommend
    from allotment.scoring import service as scoring

    rounds = scored = recommended = 0
    while True:
        with session_scope(engine, readonly=True) as session:
            rows = repo.queued(session=session, limit=limit)
        if not rows:
            break
        rounds += 1
        with session_scope(engine) as session:
            active = repo.active_ids(session=session, backorder_ids=[b for b, _ in rows])
            if active:
                result = scoring.score(session, ids=active, trigger="events", explain_top=0)
                scored += result.scored
                advised = repo.with_proposed_recommendations(session=session, backorder_ids=active)
                if advised:
                    recs = recommend.generate(session, ids=advised, requested_by=actor)
                    recommend.save(session, recs=recs, actor=actor)
                    recommended += len(recs.items)
            repo.dequeue(session=session, rows=rows)
    with session_scope(engine, readonly=True) as session:
        left = repo.queue_length(session=session)
    return DrainResult(rounds=rounds, scored=scored, recommended=recommended, left=left)


_drain_lock = threading.Lock()
_drain_wanted = threading.Event()


def drain_soon(engine: Engine) -> None:
    """Drain the queue in this thread unless another thread of the process is draining it
    (that one then runs once more): concurrent batches coalesce into few scoring runs.
    Failures are logged; the queue keeps what was not drained for the next call."""
    _drain_wanted.set()
    while _drain_wanted.is_set() and _drain_lock.acquire(blocking=False):
        try:
            while _drain_wanted.is_set():
                _drain_wanted.clear()
                try:
                    drain(engine)
                except Exception:
                    log.exception("re-scoring the event queue failed; it stays queued")
                    return
        finally:
            _drain_lock.release()

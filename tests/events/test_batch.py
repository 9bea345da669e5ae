"""The set-wise batch path: the same database as event by event, and its fall-backs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from allotment.db.engine import session_scope
from allotment.domain.enums import BackorderStatus, RootCause
from allotment.errors import BackorderTransitionError
from allotment.events import batch, service
from allotment.events.schemas import EVENT_ADAPTER
from allotment.world.generate import generate
from tests.dumps import dump_tables
from tests.events.helpers import event, po_ref, small
from tests.events.stream import canonical_dump, event_stream

#: Columns the clock writes (when a batch was received, audited, queued): never equal twice.
_CLOCK = {
    "events": {"received_at"},
    "audit_records": {"occurred_at", "prev_hash", "hash"},
    "rescore_queue": {"queued_at"},
}


def _ingest_stream(engine: Engine, events: list[Any], size: int) -> list[list[dict[str, Any]]]:
    outcomes = []
    for start in range(0, len(events), size):
        with session_scope(engine) as session:
            result = service.ingest(session, events[start : start + size], actor="erp")
            outcomes.append([o.to_dict() for o in result.outcomes])
    return outcomes


def _without_clock(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    from allotment.domain.models import Base

    out = {}
    for name, rows in dump_tables(engine).items():
        skip = _CLOCK.get(name, set())
        columns = [c.name for c in Base.metadata.tables[name].columns]
        keep = [i for i, c in enumerate(columns) if c not in skip]
        out[name] = [tuple(r[i] for i in keep) for r in rows]
    return out


def test_a_seeded_stream_ends_in_the_same_database_set_wise_and_event_by_event(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every event type, stale ETAs, parked poison, resends: same rows, same outcomes."""
    generate(engine, scale="tiny", seed=5)
    events = [EVENT_ADAPTER.validate_python(e) for e in event_stream(engine, n=1200)]
    per_event_runs: list[int] = []
    real_run = service._run_effects
    with monkeypatch.context() as m:
        m.setattr(
            service, "_run_effects", lambda *a, **k: per_event_runs.append(1) or real_run(*a, **k)
        )
        fast = _ingest_stream(engine, events, 400)
    assert per_event_runs == []  # every batch went set-wise
    fast_state = canonical_dump(engine)
    fast_rows = _without_clock(engine)
    statuses = {o["status"] for batch_ in fast for o in batch_}
    assert statuses == {"applied", "stale", "parked", "duplicate"}

    generate(engine, scale="tiny", seed=5, replace=True)
    with monkeypatch.context() as m:
        m.setattr(batch, "apply", lambda *_a, **_k: None)
        slow = _ingest_stream(engine, events, 400)
    assert canonical_dump(engine) == fast_state
    if engine.dialect.name == "sqlite":
        # Same ids too (PostgreSQL sequences do not restart when the world is replaced).
        assert slow == fast
        assert _without_clock(engine) == fast_rows


def test_a_write_the_database_refuses_falls_back_to_event_by_event(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = small(session)
    events = [
        event("po_delayed", **po_ref(w), new_eta="2025-02-20"),
        event("goods_received", **po_ref(w), quantity=15),
        event("eta_updated", po_number="PO-NOPE", line_no=1, eta="2025-02-01"),
    ]
    real_write = batch._write

    def refused(b: Any) -> Any:
        written = real_write(b)
        # A primary key taken: the database refuses, after the batch's rows went in.
        b.session.execute(
            text(
                "INSERT INTO locations (id, code, name, region)"
                " SELECT id, code || '-copy', name, region FROM locations"
            )
        )
        return written

    per_event_runs: list[int] = []
    real_run = service._run_effects
    monkeypatch.setattr(batch, "_write", refused)
    monkeypatch.setattr(
        service, "_run_effects", lambda *a, **k: per_event_runs.append(1) or real_run(*a, **k)
    )
    result = service.ingest(session, events, actor="erp")
    assert per_event_runs == [1]
    assert [o.status for o in result.outcomes] == ["applied", "applied", "parked"]
    (served,) = [o.touched["backorders"] for o in result.outcomes[1:2]]
    assert [(s["units"], s["status"]) for s in served] == [
        (10, "resolved"),
        (5, "partially_resolved"),
    ]
    rows = session.execute(text("SELECT status, open_quantity FROM backorders ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("resolved", 0), ("partially_resolved", 5)]


def test_a_transition_the_lifecycle_forbids_is_refused_and_leaves_nothing(
    session: Session,
) -> None:
    at = datetime(2025, 1, 20, tzinfo=UTC)
    rows = batch._Batch(session, "erp")
    backorder = batch._Backorder(
        id=1, number="BO-2025-0000001", order_line_id=1, po_line_id=None, waits_on=None,
        quantity=5, open_quantity=0, root_cause=RootCause.SUPPLIER_DELAY,
        status=BackorderStatus.RESOLVED, value_at_risk=0, expected_fulfillment_date=None,
        reason="r", created_at=at, created_by="erp", updated_at=at, closed_at=at, customer_id=1,
        order_number="SO-1", line_no=1, promised_date=at.date(), is_emergency=False,
        customer_code="C", customer_name="C", product_name="P", sku="S",
    )  # fmt: skip

    def reopen() -> Any:
        rows.expect_on(backorder, at.date(), "ETA moved", at)
        rows.transition(backorder, BackorderStatus.ETA_UPDATED, "ETA moved", at)

    with pytest.raises(BackorderTransitionError):
        rows.run(reopen)
    assert backorder.status is BackorderStatus.RESOLVED
    assert backorder.expected_fulfillment_date is None  # undone from the journal
    assert rows.history == []


def test_an_error_that_is_no_rule_of_the_domain_hands_the_batch_to_event_by_event(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = small(session)
    events = [
        event("po_delayed", **po_ref(w), new_eta="2025-02-20"),
        event("inventory_adjusted", sku=w.product.sku, location_code=w.location.code, delta=4),
    ]

    def broken(_batch: Any, _event: Any) -> Any:
        raise KeyError("a case the set-wise path gets wrong")

    monkeypatch.setitem(batch._RULES, type(events[1]), broken)
    result = service.ingest(session, events, actor="erp")
    assert [o.status for o in result.outcomes] == ["applied", "applied"]
    assert result.outcomes[1].touched["inventory"]["on_hand"] == 4
    rows = session.execute(text("SELECT status FROM backorders ORDER BY id")).all()
    assert [r[0] for r in rows] == ["open", "open"]  # created once, by the per-event path

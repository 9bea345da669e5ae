"""Benchmark event ingestion in-process (not a test: prints figures).

Usage::

    .venv/bin/python bench/events.py [--scale small] [--seed 7] [--events 3000] [--batch 1000]
        [--backends sqlite,postgresql] [--postgres postgresql://postgres@127.0.0.1:5432/test]
        [--profile]

For each backend: generates the world into a fresh database (a temporary SQLite file, or a
private schema of the PostgreSQL database, dropped afterwards), builds the seeded event stream
of ``tests/events/stream.py`` and ingests it in batches (one transaction each, re-scoring
deferred), counting the SQL statements per event with an engine listener.

Floor, measured in the same run on the same database: the idempotency log alone (claiming the
batch's ids, recording their outcomes and the batch's audit record, no effect run) — what any
ingestion pays. ``--batch 1`` measures one event per transaction (use fewer ``--events``).
Target (issue 6): >= 500 events/s batched.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the event stream generator lives with the tests


def _run(engine: Any, events: list[Any], batch: int, profile: bool) -> tuple[float, float, int]:
    from sqlalchemy import event

    from allotment.db.engine import session_scope
    from allotment.events import service

    count = [0]

    def _count(*_args: Any) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", _count)
    prof = cProfile.Profile() if profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    for start in range(0, len(events), batch):
        with session_scope(engine) as session:
            service.ingest(session, events[start : start + batch], actor="bench", batch=True)
    if prof:
        prof.disable()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    event.remove(engine, "before_cursor_execute", _count)
    if prof:
        pstats.Stats(prof).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(
            os.environ.get("BENCH_FILTER", ""), 35
        )
    return seconds, cpu, count[0]


def _floor(engine: Any, events: list[Any], batch: int) -> float:
    """Claim and record the same number of fresh ids with no effect: the log's own cost."""
    from allotment.db.engine import session_scope
    from allotment.events import service

    def noop(_session: Any, jobs: Any, _actor: str) -> dict[int, Any]:
        return {i: service.Effect() for i, _event, _type in jobs}

    saved = service.set_wise.apply
    fresh = [e.model_copy(update={"event_id": f"floor-{e.event_id}"}) for e in events]
    service.set_wise.apply = noop  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        for start in range(0, len(fresh), batch):
            with session_scope(engine) as session:
                service.ingest(session, fresh[start : start + batch], actor="bench")
        return time.perf_counter() - t0
    finally:
        service.set_wise.apply = saved  # type: ignore[method-assign]


def _backend(name: str, url: str, args: argparse.Namespace) -> None:
    from collections import Counter

    from tests.events.stream import event_stream

    from allotment.db import migrate
    from allotment.db.engine import make_engine
    from allotment.events.schemas import EVENT_ADAPTER
    from allotment.world.generate import generate

    print(f"\n== {name} (world {args.scale}, seed {args.seed})")
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        generate(engine, scale=args.scale, seed=args.seed)
        raw = event_stream(engine, n=args.events, seed=args.seed + 1)
        events = [EVENT_ADAPTER.validate_python(e) for e in raw]
        seconds, cpu, statements = _run(engine, events, args.batch, args.profile)
        from allotment.db.engine import session_scope
        from allotment.events import repository as repo

        with session_scope(engine, readonly=True) as session:
            stored = repo.list_events(session=session, limit=len(events) + 10)
            statuses = Counter(e.status for e in stored)
        floor = _floor(engine, events, args.batch)
        n = len(events)
        print(f"  outcomes stored: {dict(statuses)}")
        print(
            f"  ingestion, batches of {args.batch:,}: {n / seconds:7,.0f} events/s"
            f"   {statements / n:5.2f} statements/event   (target >= 500 events/s)"
        )
        print(
            f"  CPU of this process: {cpu / n * 1000:.2f} ms/event"
            " (SQLite's work included, the PostgreSQL server's not)"
        )
        print(f"  floor, idempotency log alone:   {n / floor:7,.0f} events/s")
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    backends = args.backends.split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            _backend("sqlite", f"sqlite:///{tmp}/bench.db", args)
    if "postgresql" in backends:
        _postgres(args)


def _postgres(args: argparse.Namespace) -> None:
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.postgres)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        sep = "&" if "?" in args.postgres else "?"
        _backend("postgresql", f"{args.postgres}{sep}options=-csearch_path%3D{schema}", args)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    main()

"""Benchmark the digest run (not a test: prints figures).

Usage::

    .venv/bin/python bench/digest.py [--scale small] [--seed 7] [--backends sqlite,postgresql]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

For each backend: generates the world into a fresh database (a temporary SQLite file, or a
private schema of the PostgreSQL database, dropped afterwards) and runs the shipped policy's
digests (daily digest + weekly summary) as of the world's reference day, then again (everything
already enqueued). Floor, same run and database: one scan of the backorders (count and value).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``fn`` over ``repeat`` calls, and its last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


def _backend(name: str, url: str, args: argparse.Namespace) -> None:
    from sqlalchemy import func, select

    from allotment.db import migrate
    from allotment.db.engine import make_engine, session_scope
    from allotment.domain.models import Backorder
    from allotment.insights.sql import reference_day, start_of
    from allotment.notify import digest
    from allotment.world.generate import generate

    print(f"\n== {name} (world {args.scale}, seed {args.seed})")
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        generate(engine, scale=args.scale, seed=args.seed)
        with session_scope(engine, readonly=True) as session:
            now = start_of(reference_day(session))
            total = session.scalar(select(func.count()).select_from(Backorder))

        def run() -> digest.DigestReport:
            with session_scope(engine) as session:
                return digest.run(session, now=now)

        def floor() -> Any:
            with session_scope(engine, readonly=True) as session:
                return session.execute(
                    select(func.count(Backorder.id), func.sum(Backorder.value_at_risk))
                ).one()

        wall, cpu, report = _timed(run)
        print(f"  {total:,} backorders; as of {now.isoformat()}: {report.summary()}")
        for o in report.outcomes:
            print(f"    {o.cadence} {o.period} -> {o.recipient}: {o.outcome}, {o.happened} created")
        print(
            f"  first run (gather + enqueue): wall {wall * 1000:8.1f} ms   CPU {cpu * 1000:7.1f} ms"
        )
        wall, cpu, again = _timed(run, repeat=5)
        assert again.notifications == 0
        print(
            f"  again, already enqueued (x5): wall {wall * 1000:8.1f} ms   CPU {cpu * 1000:7.1f} ms"
        )
        wall, cpu, _ = _timed(floor, repeat=5)
        print(
            f"  floor, one backorders scan:   wall {wall * 1000:8.1f} ms   CPU {cpu * 1000:7.1f} ms"
        )
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    backends = args.backends.split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            _backend("sqlite", f"sqlite:///{tmp}/bench.db", args)
    if "postgresql" in backends:
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

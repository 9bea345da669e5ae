"""Time ``allotment escalate`` and ``allotment notify`` on a generated world.

Usage::

    ALLOTMENT_DATA_DIR=/path/to/a/copy .venv/bin/python bench/escalate.py [--days-after 0]

Escalation and delivery write (levels, status history, audit records, notifications): point
``ALLOTMENT_DATA_DIR`` (or ``ALLOTMENT_DATABASE_URL``) at a copy of a world, never a shared one.
Escalation runs as of the world's ``today`` plus ``--days-after`` days.

Prints, each with its floor measured in the same run:

* the first escalation run (levels applied per second) and the second, idempotent one, against
  the floor: the run's own read of the overdue backorders and their applied levels (SQL only);
* one ``notify`` pass through the log sink (deliveries per second: claim + append + record, two
  transactions each), against the floor: appending the same number of JSON lines with fsync.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days-after", type=int, default=0, help="days after the world's today")
    args = parser.parse_args()

    from sqlalchemy import select

    from allotment.config import get_settings
    from allotment.db.engine import make_engine, make_sessionmaker
    from allotment.domain.models import SimWorld
    from allotment.escalation import repository as repo
    from allotment.escalation import service
    from allotment.notify.delivery import deliver_due
    from allotment.notify.sinks import LogSink

    settings = get_settings()
    engine = make_engine(settings=settings)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        today = session.scalar(select(SimWorld.today))
    if today is None:
        raise SystemExit("no generated world in this database: run allotment generate first")
    day = today + timedelta(days=args.days_after)
    now = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)

    with sessions() as session:
        t = time.perf_counter()
        rows = repo.overdue_backorders(session=session, as_of=day)
        repo.applied_levels(session=session, backorder_ids=[r.backorder.id for r in rows])
        floor_read = time.perf_counter() - t
        session.rollback()

    timings = []
    for _ in range(2):
        with sessions.begin() as session:
            t = time.perf_counter()
            report = service.run(session, actor="bench", now=now)
        timings.append((time.perf_counter() - t, report))
    (first, r1), (second, r2) = timings
    print(f"escalate as of {day}: {r1.overdue:,} overdue backorders")
    print(
        f"  first run:  {first:6.2f} s, {len(r1.applied):,} levels applied"
        f" ({len(r1.applied) / first:,.0f}/s), {r1.escalated:,} newly escalated,"
        f" {r1.notifications:,} notifications"
    )
    print(f"  second run: {second:6.2f} s, {len(r2.applied)} levels applied (idempotent)")
    print(f"  floor (read overdue backorders + applied levels): {floor_read:6.2f} s")

    log_path = Path(tempfile.mkdtemp()) / "notifications.jsonl"
    sink = LogSink(log_path)
    t = time.perf_counter()
    delivered = deliver_due(sessions, sinks={"log": sink}, settings=settings, limit=10**9)
    elapsed = time.perf_counter() - t
    n = len(delivered.outcomes)
    print(
        f"notify (log sink): {n:,} delivered in {elapsed:.2f} s ({n / max(elapsed, 1e-9):,.0f}/s),"
        f" {delivered.count('sent'):,} sent"
    )
    floor_path = log_path.with_suffix(".floor")
    line = json.dumps({"id": 1, "body": "x" * 300})
    t = time.perf_counter()
    for _ in range(n):
        with floor_path.open("a") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    floor = time.perf_counter() - t
    print(f"  floor (append + fsync {n:,} lines): {floor:.2f} s ({n / max(floor, 1e-9):,.0f}/s)")
    engine.dispose()


if __name__ == "__main__":
    main()

"""Time the command center, the analytics and the KPIs on a world's database.

Usage::

    ALLOTMENT_DATABASE_URL=sqlite:////path/to/world.db .venv/bin/python bench/insights.py [--runs 7]

Read-only. Prints each figure's median and worst time over ``--runs`` calls (after one warm-up),
against the floor measured in the same run: one pass over the active backorders joined to their
order lines that sums their open value (``SELECT count(*), sum(open_quantity * unit_price)``) -
the least any figure over the backlog can cost - and the same pass over every backorder and every
order line for the period figures.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any


def _time(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    fn()
    took = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        took.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(took), max(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from sqlalchemy import func, select

    from allotment.db.engine import make_engine, make_sessionmaker
    from allotment.domain.models import Backorder, CustomerOrderLine
    from allotment.insights import analytics, command_center, kpis
    from allotment.insights.sql import is_active, open_value, reference_day, shift

    engine = make_engine()
    session = make_sessionmaker(engine, readonly=True)()
    day = reference_day(session)
    since, until = shift(day, -89), shift(day, 1)
    backlog = session.scalar(select(func.count(Backorder.id)).where(is_active())) or 0
    total = session.scalar(select(func.count(Backorder.id))) or 0
    lines = session.scalar(select(func.count(CustomerOrderLine.id))) or 0
    print(
        f"{engine.dialect.name}: {backlog:,} active of {total:,} backorders,"
        f" {lines:,} order lines; as of {day}"
    )

    def floor(active_only: bool) -> Callable[[], Any]:
        stmt = select(func.count(Backorder.id), func.sum(open_value())).join(
            CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id
        )
        if active_only:
            stmt = stmt.where(is_active())
        return lambda: session.execute(stmt).one()

    def all_lines() -> Any:
        return session.execute(select(func.sum(CustomerOrderLine.quantity))).one()

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("floor: one pass over the active backlog", floor(True)),
        ("command center (all parts)", lambda: command_center.command_center(session, as_of=day)),
        ("floor: one pass over every backorder", floor(False)),
        *[
            (
                f"analytics by {by.value}",
                lambda by=by: analytics.patterns(session, by=by),  # type: ignore[misc]
            )
            for by in analytics.Dimension
        ],
        ("floor: one pass over every order line", all_lines),
        ("KPIs (90 days)", lambda: kpis.kpis(session, since=since, until=until)),
    ]
    for name, fn in cases:
        median, worst = _time(fn, args.runs)
        print(f"{name:42s} median {median:8.1f} ms   worst {worst:8.1f} ms")
    session.close()
    engine.dispose()


if __name__ == "__main__":
    main()

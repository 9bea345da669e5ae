"""Time ``allotment generate`` at each scale and compare with the issue's targets.

Usage::

    .venv/bin/python bench/bench_generate.py [--scales tiny,small,medium,large] [--seed 7]
                                             [--postgres postgresql://user@host/db]

Each scale is generated into a fresh temporary SQLite database (and, with ``--postgres``, into
the given PostgreSQL database, whose tables are replaced). Prints seconds, rows written, open
backorders and order lines per scale, the floor it is compared with and PASS or OVER.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

# Targets from the issue: small "in seconds", medium "about a minute", large "a few minutes".
FLOORS_S = {"tiny": 3.0, "small": 10.0, "medium": 90.0, "large": 300.0}


def run_one(url: str, scale: str, seed: int) -> dict[str, object]:
    from allotment.db import migrate
    from allotment.db.engine import make_engine
    from allotment.world.generate import generate

    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        started = time.perf_counter()
        summary = generate(engine, scale=scale, seed=seed, replace=True)
        seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return {
        "seconds": seconds,
        "simulate": summary.simulate_seconds,
        "write": summary.write_seconds,
        "rows": summary.total_rows,
        "open_backorders": summary.stats.open_backorders,
        "order_lines": summary.rows["customer_order_lines"],
        "stats": summary.stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="tiny,small,medium,large")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--postgres",
        default=None,
        help="also time PostgreSQL: a database URL (a private schema is created and dropped)",
    )
    args = parser.parse_args(argv)
    scales = [s.strip() for s in args.scales.split(",") if s.strip()]

    with tempfile.TemporaryDirectory(prefix="allotment-bench-") as tmp:
        os.environ["ALLOTMENT_DATA_DIR"] = tmp  # world states go to the temporary folder
        from allotment.config import get_settings

        get_settings.cache_clear()
        targets = [("sqlite", lambda s: f"sqlite:///{Path(tmp) / f'{s}.db'}")]
        schema = None
        if args.postgres:
            schema, pg_url = _private_schema(args.postgres)
            targets.append(("postgresql", lambda _s: pg_url))
        header = (
            f"{'scale':<7} {'backend':<10} {'seconds':>8} {'simulate':>9} {'write':>7} "
            f"{'rows':>11} {'open BOs':>9} {'order lines':>12} {'floor':>7}  verdict"
        )
        print(header)
        print("-" * len(header))
        failed = False
        for scale in scales:
            for backend, make_url in targets:
                r = run_one(make_url(scale), scale, args.seed)
                floor = FLOORS_S.get(scale, float("inf"))
                verdict = "PASS" if float(r["seconds"]) <= floor else "OVER"  # type: ignore[arg-type]
                failed |= verdict == "OVER"
                print(
                    f"{scale:<7} {backend:<10} {r['seconds']:>8.1f} {r['simulate']:>9.1f} "
                    f"{r['write']:>7.1f} {r['rows']:>11,} {r['open_backorders']:>9,} "
                    f"{r['order_lines']:>12,} {floor:>6.0f}s  {verdict}",
                    flush=True,
                )
                stats = r["stats"]
                print(
                    f"{'':<7} rates: PO late {stats.po_late_rate:.1%}, SLA breach "  # type: ignore[attr-defined]
                    f"{stats.sla_breach_rate:.1%}, monthly churn {stats.monthly_churn_rate:.2%}; "  # type: ignore[attr-defined]
                    f"oracle AUC {stats.oracle_auc}",  # type: ignore[attr-defined]
                    flush=True,
                )
        if schema is not None:
            _drop_schema(args.postgres, schema)
    return 1 if failed else 0


def _private_schema(url: str) -> tuple[str, str]:
    """Create a throw-away schema in the PostgreSQL database and a URL that uses it."""
    from sqlalchemy import create_engine, text

    from allotment.config import normalize_database_url

    schema = f"allotment_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_database_url(url))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in url else "?"
    return schema, f"{url}{sep}options=-csearch_path%3D{schema}"


def _drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    from allotment.config import normalize_database_url

    admin = create_engine(normalize_database_url(url))
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


if __name__ == "__main__":
    sys.exit(main())

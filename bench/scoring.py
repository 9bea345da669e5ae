"""Time full-backlog scoring and the single-backorder score + explanation path.

Usage::

    ALLOTMENT_DATA_DIR=/path/to/a/copy ALLOTMENT_MLFLOW_TRACKING_URI=sqlite:///.../mlflow.db \\
        .venv/bin/python bench/scoring.py [--single 300] [--policy default]

Scoring writes (a run, one snapshot per open backorder, ``backorders.priority``): point
``ALLOTMENT_DATA_DIR`` (or ``ALLOTMENT_DATABASE_URL``) at a copy of a world, never at a shared
one. The database needs an active policy or gets the shipped ``default`` installed.

Prints, each with its floor measured in the same run:

* full-backlog scoring (facts → features → risks → blend → snapshots written, no SHAP) in
  backorders per second, by stage, against the floor ``booster.predict`` on the same feature
  matrices (the three models' raw predictions, nothing else);
* the single-backorder path - the three models' probability-space attributions on one row
  (``explain_row``, one thread, arrays, explainers built once) plus ``blend_one`` - p50/p99 in
  ms, against the floor raw ``pred_contrib`` of the three boosters on the same rows.

Target (issue 4): 100k open lines scored and stored in <= 20 s; single backorder p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1e3, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--single", type=int, default=300, help="single-backorder samples")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from allotment.db.engine import make_engine, make_sessionmaker
    from allotment.features.build import scoring_frame
    from allotment.features.tables import load_tables
    from allotment.modeling import registry
    from allotment.policy import service as policy_service
    from allotment.scoring.blend import OneBackorder, blend_one
    from allotment.scoring.risks import explainer_for
    from allotment.scoring.service import SUBJECT_COLUMN, score

    engine = make_engine()
    session = make_sessionmaker(engine)()
    _version, policy = policy_service.active_policy(session)
    session.commit()

    # Warm the model cache (loading from MLflow is a one-off per process, not per run).
    tables = load_tables(engine)
    frames = {}
    explainers = {}
    for task in SUBJECT_COLUMN:
        frames[task] = scoring_frame(task, tables)
        try:
            loaded = registry.load_champion(task, frames[task].features)
            explainers[task] = explainer_for(loaded)
        except Exception as exc:  # a missing champion is reported, the rest still runs
            print(f"{task.value}: no champion ({exc})")
    del tables

    started = time.perf_counter()
    result = score(session, explain_top=0)
    session.commit()
    total = time.perf_counter() - started
    n = result.scored
    print(f"full backlog: {n:,} open backorders scored and stored in {total:.2f} s")
    print(f"  = {n / total:,.0f} backorders/s; degraded {result.degraded:,}")
    for stage, seconds in result.seconds.items():
        print(f"  {stage:>8}: {seconds:6.2f} s")
    print(f"  target: 100,000 in <= 20 s -> {100_000 / (n / total):.1f} s at this rate")

    # Floor: the boosters' raw predictions on the same (validated) feature matrices.
    floor = 0.0
    matrices: dict[Any, Any] = {}
    for task, ex in explainers.items():
        matrix, _flags = ex.validator.matrix(frames[task].X)
        matrices[task] = matrix
        t0 = time.perf_counter()
        for booster in ex.boosters:
            booster.predict(matrix, raw_score=True)
        floor += time.perf_counter() - t0
    rows = sum(len(m) for m in matrices.values())
    print(f"floor booster.predict on the same matrices ({rows:,} rows): {floor:.3f} s")
    print(f"  scoring / floor = {total / max(floor, 1e-9):.0f}x (features and I/O dominate)")

    # Single backorder: explain one row per model (arrays, one thread) + blend_one.
    rng = np.random.default_rng(args.seed)
    samples: list[dict[Any, dict[str, Any]]] = []
    for _ in range(args.single):
        sample = {}
        for task in explainers:
            X = frames[task].X
            if len(X):
                i = int(rng.integers(len(X)))
                sample[task] = {c: X[c].iat[i] for c in X.columns}
        samples.append(sample)
    lat: list[float] = []
    raw: list[float] = []
    for sample in samples:
        t0 = time.perf_counter()
        p = {}
        for task, row in sample.items():
            p[task.value] = float(explainers[task].explain_row(row).probability[0])
        blend_one(
            OneBackorder(
                tier="vip",
                is_emergency=False,
                value_at_risk=10_000.0,
                margin_at_risk=2_000.0,
                penalty_rate_per_day=0.005,
                penalty_cap_rate=0.1,
                lifetime_value=1e6,
                customer_open_value=20_000.0,
                has_supply=True,
                days_waiting=12.0,
                p_sla_breach=p.get("sla_breach"),
                p_churn=p.get("churn"),
                p_supplier_delay=p.get("supplier_delay"),
            ),
            policy,
        )
        lat.append(time.perf_counter() - t0)
        t1 = time.perf_counter()
        for task, row in sample.items():
            matrix, _ = explainers[task].validator.row(row)
            for booster in explainers[task].boosters:
                booster.predict(matrix, pred_contrib=True, num_threads=1)
        raw.append(time.perf_counter() - t1)
    print(
        f"single backorder score + explanation ({len(explainers)} models, {args.single} samples):"
        f" p50 {_pct(lat, 50):.2f} ms, p99 {_pct(lat, 99):.2f} ms (target p99 <= 20 ms)"
    )
    print(
        f"  floor raw pred_contrib of the same boosters: p50 {_pct(raw, 50):.2f} ms,"
        f" p99 {_pct(raw, 99):.2f} ms"
    )
    session.close()
    engine.dispose()


if __name__ == "__main__":
    main()

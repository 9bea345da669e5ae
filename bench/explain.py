"""Benchmark explanations on a world's champion models (not a test: prints figures).

Usage::

    .venv/bin/python bench/explain.py --data-dir /work/scratch/medium [--rows 10000]
                                      [--single 300] [--no-shap]

For each of the three champions (database ``DIR/allotment.db``, MLflow store ``DIR/mlflow.db``
unless ``ALLOTMENT_MLFLOW_TRACKING_URI`` is set) on ``--rows`` rows of the task's feature frame:

* batch explanation throughput (validation + ``pred_contrib`` + calibration + rescaling) vs the
  floor ``booster.predict(matrix, pred_contrib=True)`` on the same matrix, same threads
  (target: >= 0.75 x the floor);
* single-row ``explain_row`` latency p50/p99 per model and for the three models together
  (target: p99 <= 20 ms together);
* ``pred_contrib`` vs shap's ``TreeExplainer`` (if installed): time per 10k rows, per single row,
  and the max |difference| of the log-odds attributions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _best(fn: Any, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` calls (seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def _paired(floor: Any, ours: Any, repeat: int = 3) -> tuple[float, float]:
    """Best times of two callables measured alternately (the machine's load hits both)."""
    f_times, o_times = [], []
    for _ in range(repeat):
        f_times.append(_best(floor, 1))
        o_times.append(_best(ours, 1))
    return min(f_times), min(o_times)


def _compare_shap(booster: Any, matrix: Any) -> None:
    """pred_contrib vs shap's TreeExplainer: batch and one-row time, max |difference|."""
    try:
        import shap  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        print("  shap not installed: comparison skipped")
        return
    n = len(matrix)
    tree = shap.TreeExplainer(booster)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's note on its LightGBM output format
        t_ours, t_shap = _paired(
            partial(booster.predict, matrix, pred_contrib=True), partial(tree.shap_values, matrix)
        )
        theirs = np.asarray(tree.shap_values(matrix))
        one = matrix[:1]
        s_ours, s_shap = [], []
        for _ in range(50):
            s_ours.append(_best(partial(booster.predict, one, pred_contrib=True, num_threads=1), 1))
            s_shap.append(_best(partial(tree.shap_values, one), 1))
    mine = booster.predict(matrix, pred_contrib=True)[:, :-1]
    diff = float(np.max(np.abs(mine - theirs)))
    print(
        f"  pred_contrib vs shap {shap.__version__} TreeExplainer on {n} rows: "
        f"{t_ours * 1e4 / n:.2f} s vs {t_shap * 1e4 / n:.2f} s per 10k rows; one row "
        f"{_pct(s_ours, 50):.2f} ms vs {_pct(s_shap, 50):.2f} ms (p50); max |diff| {diff:.1e} "
        "log-odds"
    )


def _champion_spec(name: str, uri: str) -> dict[str, Any]:
    """Feature name -> kind from the champion's MLflow signature (feature code may have moved on
    since it was trained)."""
    import mlflow

    from allotment.features.frame import FeatureKind

    mlflow.set_tracking_uri(uri)  # get_model_info reads the logged model from the tracking store
    mlflow.set_registry_uri(uri)
    info = mlflow.models.get_model_info(f"models:/{name}@champion")
    assert info.signature is not None and info.signature.inputs is not None
    return {
        str(c["name"]): FeatureKind.CATEGORICAL if c["type"] == "string" else FeatureKind.NUMERIC
        for c in info.signature.inputs.to_dict()
    }


def _rows_for(explainer: Any, X: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The model's columns from the current feature frame; a column the feature code no longer
    builds is drawn from the model's training domain (range / categories) and reported."""
    cols: dict[str, Any] = {}
    drawn = []
    for d in explainer.validator.domains:
        if d.name in X.columns:
            cols[d.name] = X[d.name]
        elif d.categories:
            cols[d.name] = pd.Categorical(rng.choice(list(d.categories), len(X)), d.categories)
            drawn.append(d.name)
        else:
            low, high = (d.low, d.high) if np.isfinite(d.low) else (0.0, 1.0)
            cols[d.name] = rng.uniform(low, high, len(X))
            drawn.append(d.name)
    if drawn:
        print(f"  (not built by the current feature code, drawn from the training range: {drawn})")
    return pd.DataFrame(cols)


def _pct(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1e3, q))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--single", type=int, default=300, help="single-row calls per model")
    parser.add_argument("--shap-rows", type=int, default=2000, help="rows for the shap check")
    parser.add_argument("--no-shap", action="store_true", help="skip the shap comparison")
    args = parser.parse_args(argv)

    data_dir = args.data_dir.resolve()
    os.environ["ALLOTMENT_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("ALLOTMENT_MLFLOW_TRACKING_URI", f"sqlite:///{data_dir / 'mlflow.db'}")

    from allotment.db.engine import make_engine
    from allotment.explain import ModelExplainer
    from allotment.features import build
    from allotment.features.frame import Task
    from allotment.modeling import registry

    engine = make_engine()
    rng = np.random.default_rng(7)
    explainers: list[tuple[ModelExplainer, pd.DataFrame]] = []
    print(f"world: {data_dir}   rows per batch: {args.rows}")
    for task in Task:
        name = registry.model_name(task)
        t0 = time.perf_counter()
        try:
            built = build.training_frame(task, engine).X
        except Exception as exc:  # feature code mid-change: the bench still runs on drawn rows
            print(f"  (feature frame not built: {exc}; every column drawn)")
            built = pd.DataFrame(index=range(args.rows))
        spec = _champion_spec(name, registry.tracking_uri())  # the model's own features
        loaded = registry.load_champion(task, spec)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        explainer = ModelExplainer.from_loaded(loaded)
        t_build = time.perf_counter() - t0
        idx = rng.choice(len(built), size=args.rows, replace=len(built) < args.rows)
        X = _rows_for(explainer, built.iloc[idx].reset_index(drop=True), rng)
        explainers.append((explainer, X))
        booster = explainer.boosters[0]
        print(
            f"\n{name} v{loaded.version}: {booster.num_trees()} trees, {len(spec)} features "
            f"(frame + load {t_load:.1f} s, explainer built in {t_build * 1e3:.0f} ms)"
        )

        matrix, _ = explainer.validator.matrix(X)
        floor, ours = _paired(
            partial(booster.predict, matrix, pred_contrib=True), partial(explainer.explain, X)
        )
        predict_floor, predict = _paired(
            partial(booster.predict, matrix, raw_score=True), partial(explainer.predict, X)
        )
        a = explainer.explain(X)
        p_model = loaded.predict_proba(explainer.validator.to_frame(matrix))[:, 1]
        print(
            f"  batch explain: {args.rows / ours:,.0f} rows/s vs floor pred_contrib "
            f"{args.rows / floor:,.0f} rows/s -> {floor / ours:.2f}x floor (target >= 0.75)"
        )
        print(
            f"  batch predict: {args.rows / predict:,.0f} rows/s vs floor raw predict "
            f"{args.rows / predict_floor:,.0f} rows/s -> {predict_floor / predict:.2f}x floor"
        )
        additivity = float(np.max(np.abs(a.base + a.contributions.sum(1) - a.probability)))
        print(
            f"  max |base + sum - p| = {additivity:.1e}; "
            f"max |p - predict_proba| = {float(np.max(np.abs(a.probability - p_model))):.1e}; "
            f"rows flagged: {sum(1 for f in a.flags if f)} of {len(a.flags)}"
        )
        if not args.no_shap:
            _compare_shap(booster, matrix[: args.shap_rows])

    print("\nsingle-row explain_row (num_threads=1, array path):")
    together: list[float] = []
    per_model: dict[str, list[float]] = {}
    rows = [
        [{str(k): v for k, v in X.iloc[i].items()} for i in range(min(args.single, len(X)))]
        for _, X in explainers
    ]
    for k, (ex, _) in enumerate(explainers):  # warm-up
        ex.explain_row(rows[k][0])
    for i in range(args.single):
        total = 0.0
        for k, (ex, _) in enumerate(explainers):
            row = rows[k][i % len(rows[k])]
            t0 = time.perf_counter()
            ex.explain_row(row)
            dt = time.perf_counter() - t0
            per_model.setdefault(ex.name, []).append(dt)
            total += dt
        together.append(total)
    for name, samples in per_model.items():
        print(f"  {name}: p50 {_pct(samples, 50):.2f} ms, p99 {_pct(samples, 99):.2f} ms")
    print(
        f"  three models together: p50 {_pct(together, 50):.2f} ms, "
        f"p99 {_pct(together, 99):.2f} ms (target p99 <= 20 ms)"
    )
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the allocation optimizer (not a test: prints figures).

Usage::

    .venv/bin/python bench/allocation.py [--sizes 10k,100k] [--seed 7] [--time-limit 60]
                                         [--mono-time-limit 120] [--no-monolithic]
                                         [--workers N]

For each random instance (``allotment.allocation.synthetic.random_problem``: 10k lines / 2k
SKUs / 5 locations and 100k lines / 10k SKUs / 5 locations, with transfer lanes, PO lines with
delay risk, substitutes, all-or-nothing orders and protected shares) it prints:

* our solve time end to end (validate, build, components, HiGHS, read back with reasons and
  shadow prices) and its objective (target: 100k lines <= 5 s), wall and CPU seconds (all
  threads: independent batches are solved on ``--workers`` threads, default one per core), with
  the CPU of building the network, of HiGHS and of the read-back, and the load average (on a
  shared machine the wall time depends on it; the CPU time much less);
* one monolithic HiGHS solve of the same model (no component split; the floor to beat);
* the greedy baseline's time and objective, and whether ours >= greedy (it must be).
"""

from __future__ import annotations

import argparse
import os
import time

from allotment.allocation.baselines import greedy
from allotment.allocation.solve import solve
from allotment.allocation.synthetic import random_problem

SIZES = {"10k": (10_000, 2_000), "100k": (100_000, 10_000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--mono-time-limit", type=float, default=120.0)
    parser.add_argument("--no-monolithic", action="store_true")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    print(
        f"{'instance':>24} {'ours s':>8} {'status':>10} {'objective':>16} {'mono s':>8}"
        f" {'mono objective':>16} {'greedy s':>9} {'greedy objective':>16} {'>= greedy':>9}"
    )
    for name in args.sizes.split(","):
        n_lines, n_skus = SIZES[name]
        problem = random_problem(args.seed, n_lines=n_lines, n_skus=n_skus, n_locations=5)
        t0, c0 = time.perf_counter(), time.process_time()
        ours = solve(problem, time_limit=args.time_limit, workers=args.workers)
        ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
        mono_s, mono_obj = float("nan"), float("nan")
        if not args.no_monolithic:
            t0 = time.perf_counter()
            mono = solve(problem, time_limit=args.mono_time_limit, monolithic=True)
            mono_s, mono_obj = time.perf_counter() - t0, mono.objective
        base = greedy(problem, network=ours.network)
        label = f"{n_lines // 1000}k lines/{n_skus // 1000}k SKUs/5 loc"
        print(
            f"{label:>24} {ours_s:8.2f} {ours.status:>10} {ours.objective:16,.2f} {mono_s:8.2f}"
            f" {mono_obj:16,.2f} {base.seconds:9.2f} {base.objective:16,.2f}"
            f" {ours.objective >= base.objective - 1e-6!s:>9}"
        )
        stats = ours.stats
        print(
            f"{'':>24} variables {int(stats['variables']):,}, components"
            f" {int(stats['components']):,}, branch-and-bound components"
            f" {int(stats['mip_components'])}, solver calls {int(stats['solver_calls'])},"
            f" workers {int(stats['workers'])}; CPU {ours_cpu:.2f} s (build"
            f" {stats['build_cpu_seconds']:.2f} s, HiGHS {stats['highs_cpu_seconds']:.2f} s,"
            f" read back {stats['readback_cpu_seconds']:.2f} s; the rest: models, greedy"
            f" choices, warm starts); load average {os.getloadavg()[0]:.1f}; issues:"
            f" {[(i.kind, i.detail) for i in ours.issues][:3]}"
        )


if __name__ == "__main__":
    main()

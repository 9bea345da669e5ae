"""Step 4: solve the model, component by component, with HiGHS.

The network splits into independent components (SKUs linked only through consented substitutes
and an order's all-or-nothing lines; union-find in :func:`allotment.allocation.model.components`).
Components are packed into batches of about ``batch_arcs`` variables and solved as one LP each
(block-diagonal: the same optimum and duals as solving each alone, far fewer solver calls), with
the all-or-nothing choices relaxed to [0, 1]. A component whose relaxation ships whole orders
only is done: that is also the MIP's optimum. The others are MIPs solved alone (binary order
choices, started from the greedy plan, stopped at ``mip_gap``). A component with all-or-nothing
orders larger than ``mip_max_arcs`` variables is not branched on: greedy picks which of its
orders ship complete, and with those fixed the rest is an LP (so it is never worse than greedy).

Duals (shadow prices) are read only when a solve is optimal. For a MIP, HiGHS has no duals: the
LP is re-solved with the all-or-nothing choices fixed at their optimum, and its row duals are
reported — the value of one more unit *given* which orders ship complete. An LP whose solution is
fractional (possible with minimum-fill or protected-share rows) is re-solved with integer units
for the plan; its duals still come from the LP.

A component that is infeasible is reported with the constraints that conflict (found by an
elastic re-solve: slack on every lower-bound row, minimize the slack; rows that need slack and
the supplies they exhaust are the conflict). A component the solver does not finish within the
time limit falls back to the greedy baseline, and the result says which.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import cast

import highspy
import numpy as np
import numpy.typing as npt

from allotment.allocation.baselines import greedy_flows, priority_key
from allotment.allocation.model import (
    ALL_OR_NOTHING,
    CUSTOMER_MINIMUM_FILL,
    INF,
    LOCKED,
    MINIMUM_FILL,
    PROTECTED_SHARE,
    SUPPLY_ON_HAND,
    SUPPLY_PO_LINE,
    FloatArray,
    IntArray,
    Model,
    Network,
    build_model,
    build_network,
    components,
    gc_paused,
    model_lp_arrays,
)
from allotment.allocation.problem import AllocationProblem
from allotment.allocation.readback import AllocationResult, ComponentIssue, RowValues, read_back
from allotment.allocation.validate import validate

_TOL = 1e-6
#: A unit count further than this from a whole number is fractional (the supply perturbation
#: moves a vertex by far less).
_FRACTIONAL = 1e-3


@dataclass
class _State:
    net: Network
    flows: FloatArray
    rows: list[RowValues] = field(default_factory=list)
    issues: list[ComponentIssue] = field(default_factory=list)
    mip_components: int = 0
    integer_resolves: int = 0
    solver_calls: int = 0
    deadline: float = INF
    mip_gap: float = 1e-4
    clock: dict[str, float] = field(default_factory=dict)

    def tick(self, key: str, since: float) -> float:
        now = time.perf_counter()
        self.clock[key] = self.clock.get(key, 0.0) + now - since
        return now

    def solver_run(self, h: highspy.Highs) -> None:
        """Run HiGHS, counting its wall time and its CPU time (this thread's: HiGHS solves
        these models on the calling thread, and jobs on other threads do not count)."""
        self.solver_calls += 1
        t, c = time.perf_counter(), time.thread_time()
        h.run()
        self.clock["highs_cpu_seconds"] = (
            self.clock.get("highs_cpu_seconds", 0.0) + time.thread_time() - c
        )
        self.tick("highs_seconds", t)

    def child(self) -> _State:
        """A state for one job: the same network, plan and limits; its own rows and counts.

        Jobs write disjoint arcs of the shared plan; what they append is merged back with
        :meth:`merge` in job order, so the result does not depend on which job finished first.
        """
        return _State(net=self.net, flows=self.flows, deadline=self.deadline, mip_gap=self.mip_gap)

    def merge(self, other: _State) -> None:
        """Append what a job's state collected (in the order the jobs were listed)."""
        self.rows += other.rows
        self.issues += other.issues
        self.mip_components += other.mip_components
        self.integer_resolves += other.integer_resolves
        self.solver_calls += other.solver_calls
        for key, seconds in other.clock.items():
            self.clock[key] = self.clock.get(key, 0.0) + seconds


class _Jobs:
    """Independent jobs on a pool of threads (HiGHS releases the GIL while it solves).

    Each job gets its own :class:`_State` (see :meth:`_State.child`); :meth:`merge` folds them
    into the parent in submission order. With one worker, jobs run inline, in order.
    """

    def __init__(self, workers: int) -> None:
        self.pool = ThreadPoolExecutor(workers) if workers > 1 else None

    def submit(self, st: _State, job: Callable[[_State], object]) -> tuple[_State, Future[object]]:
        child = st.child()
        if self.pool is None:
            done: Future[object] = Future()
            done.set_result(job(child))
            return child, done
        return child, self.pool.submit(job, child)

    @staticmethod
    def merge(st: _State, submitted: list[tuple[_State, Future[object]]]) -> list[object]:
        results = []
        for child, future in submitted:
            results.append(future.result())
            st.merge(child)
        return results

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)


def _highs(m: Model, time_limit: float) -> highspy.Highs:
    """A HiGHS instance holding ``m`` (maximize), ready to run.

    The model goes in through the pointer form of ``passModel``: numpy arrays are read in place,
    where filling a ``HighsLp`` converts every element through Python (measured at 100k lines,
    435 models: 0.40 s CPU that way, 0.18 s this way).
    """
    lower, upper, starts, index, value = model_lp_arrays(m)
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(0.01, float(time_limit)))
    if not m.integer.any():
        # Measured on 20k-60k-variable batches: presolve costs more than it saves on these
        # transportation-like LPs, and Devex pricing needs ~15 % fewer dual simplex iterations.
        h.setOptionValue("presolve", "off")
        h.setOptionValue("simplex_dual_edge_weight_strategy", 1)
    h.passModel(
        m.n_cols,
        len(lower),
        len(index),
        int(highspy.MatrixFormat.kRowwise),
        int(highspy.ObjSense.kMaximize),
        0.0,
        m.cost,
        m.col_lower,
        m.col_upper,
        np.where(np.isinf(lower), -highspy.kHighsInf, lower),
        np.where(np.isinf(upper), highspy.kHighsInf, upper),
        starts.astype(np.int32),
        index.astype(np.int32),
        value,
        np.where(m.integer, int(highspy.HighsVarType.kInteger), 0).astype(np.int32),
    )
    return h


def _row_values(
    m: Model,
    activity: FloatArray,
    dual: FloatArray,
    keep: tuple[IntArray, IntArray, npt.NDArray[np.bool_]] | None = None,
) -> list[RowValues]:
    """Solved rows per family; ``keep`` = (line component, node component, accepted) filters
    the rows to accepted components."""
    out: list[RowValues] = []
    offset = 0
    for b in m.blocks:
        n = b.n_rows
        if n:
            mask = np.ones(n, dtype=np.bool_)
            if keep is not None:
                by_node = b.family in (SUPPLY_ON_HAND, SUPPLY_PO_LINE, PROTECTED_SHARE)
                comp = (keep[1] if by_node else keep[0])[b.subject]
                mask = keep[2][comp]
            extra = b.extra if b.extra is not None else np.full(n, -1, dtype=np.int64)
            out.append(
                RowValues(
                    family=b.family,
                    subject=b.subject[mask],
                    extra=extra[mask],
                    lower=b.lower[mask],
                    upper=b.upper[mask],
                    activity=activity[offset : offset + n][mask],
                    dual=dual[offset : offset + n][mask],
                )
            )
        offset += n
    return out


def _run(st: _State, m: Model) -> tuple[highspy.HighsModelStatus, highspy.Highs]:
    h = _highs(m, st.deadline - time.perf_counter())
    st.solver_run(h)
    return h.getModelStatus(), h


def _solve_selection(
    st: _State,
    comps: list[int],
    arcs: IntArray,
    lines: IntArray,
    integer: bool,
    given: dict[int, float] | None = None,
) -> bool:
    """Solve a selection; False when a multi-component batch is infeasible (retry one by one).

    ``given`` fixes all-or-nothing choices (an LP then, as for a large component).
    """
    net = st.net
    m = build_model(net, arcs, lines, integer=integer, fixed_groups=given)
    if integer:
        h = _highs(m, st.deadline - time.perf_counter())
        h.setOptionValue("mip_rel_gap", st.mip_gap)
        # It starts from the greedy plan below, so the feasibility-jump heuristic (a search for a
        # first feasible plan) only costs time: measured half the MIP time, same optima.
        h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
        # Start from the greedy plan: the incumbent is never worse than greedy.
        start = greedy_flows(net, lines, priority_key(net), arcs=arcs)[0]
        guess = highspy.HighsSolution()
        guess.col_value = start.tolist() + _shipped_complete(net, arcs, lines, start, m.groups)
        h.setSolution(guess)
        st.solver_run(h)
        status = h.getModelStatus()
        if (
            status == highspy.HighsModelStatus.kTimeLimit
            and h.getInfo().primal_solution_status == 2
        ):
            gap = h.getInfo().mip_gap
            st.issues.append(
                ComponentIssue(
                    kind="time_limit",
                    component=comps[0],
                    lines=[],
                    detail=f"MIP stopped at the time limit; best plan found used (gap {gap:.2%})",
                )
            )
            status = highspy.HighsModelStatus.kOptimal
    else:
        status, h = _run(st, m)
    if status == highspy.HighsModelStatus.kOptimal:
        x = np.asarray(h.getSolution().col_value)
        fixed: dict[int, float] | None = given
        dual_model, dual_h = m, h
        if integer:
            st.mip_components += len(comps)
            fixed = {
                int(g): float(round(float(v)))
                for g, v in zip(m.groups, x[len(arcs) :], strict=True)
            }
            lp = _with_orders_fixed(m, fixed)
            lp_status, h_lp = _run(st, lp)
            if lp_status == highspy.HighsModelStatus.kOptimal:
                dual_model, dual_h = lp, h_lp
                x = np.asarray(h_lp.getSolution().col_value)
        if not dual_model.integer.any():
            sol = dual_h.getSolution()
            st.rows += _row_values(dual_model, np.asarray(sol.row_value), np.asarray(sol.row_dual))
        flows = x[: len(arcs)]
        if np.abs(flows - np.round(flows)).max(initial=0.0) > _FRACTIONAL:
            st.integer_resolves += 1
            mi = build_model(net, arcs, lines, integer=True, integer_units=True, fixed_groups=fixed)
            mi_status, h_mi = _run(st, mi)
            if mi_status != highspy.HighsModelStatus.kOptimal:
                _fallback(
                    st, comps, lines, f"integer re-solve: {h_mi.modelStatusToString(mi_status)}"
                )
                return True
            flows = np.asarray(h_mi.getSolution().col_value)[: len(arcs)]
        st.flows[arcs] = np.round(flows)
        return True
    if len(comps) > 1 and status in (
        highspy.HighsModelStatus.kInfeasible,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,
    ):
        return False
    if status in (
        highspy.HighsModelStatus.kInfeasible,
        highspy.HighsModelStatus.kUnboundedOrInfeasible,
    ):
        st.issues.append(
            ComponentIssue(
                kind="infeasible",
                component=comps[0],
                lines=[int(i) for i in lines],
                detail="no plan meets every hard constraint",
                conflicts=_conflicts(st, arcs, lines),
            )
        )
        return True
    _fallback(st, comps, lines, h.modelStatusToString(status))
    return True


def _with_orders_fixed(m: Model, fixed: dict[int, float]) -> Model:
    """The LP of MIP ``m`` with every all-or-nothing choice fixed (same rows, no rebuild)."""
    lower, upper = m.col_lower.copy(), m.col_upper.copy()
    cols = len(m.arcs) + np.arange(len(m.groups))
    lower[cols] = upper[cols] = [fixed[int(g)] for g in m.groups]
    return dataclasses.replace(
        m, col_lower=lower, col_upper=upper, integer=np.zeros_like(m.integer)
    )


def _shipped_complete(
    net: Network, arcs: IntArray, lines: IntArray, flows: FloatArray, groups: IntArray
) -> list[float]:
    """1.0 for each all-or-nothing order in ``groups`` whose lines ``flows`` fills completely."""
    full = np.bincount(net.arc_line[arcs], weights=flows, minlength=net.n_lines)
    member = lines[net.line_group[lines] >= 0]
    short = full[member] < net.line_quantity[member] - _FRACTIONAL
    incomplete = np.zeros(max(net.n_groups, 1), dtype=np.bool_)
    incomplete[net.line_group[member[short]]] = True
    return [0.0 if gone else 1.0 for gone in incomplete[groups].tolist()]


def _fallback(st: _State, comps: list[int], lines: IntArray, why: str) -> None:
    greedy_flows(st.net, lines, priority_key(st.net), flows=st.flows)
    st.issues.append(
        ComponentIssue(
            kind="fallback",
            component=comps[0],
            lines=[int(i) for i in lines],
            detail=f"solver stopped ({why}); greedy plan used for {len(comps)} component(s)",
        )
    )


def _conflicts(st: _State, arcs: IntArray, lines: IntArray) -> list[str]:
    """Names of the constraints that cannot all hold (elastic re-solve of one component)."""
    net = st.net
    m = build_model(net, arcs, lines, integer=bool((net.line_group[lines] >= 0).any()))
    m.cost[:] = 0.0
    h = _highs(m, max(1.0, st.deadline - time.perf_counter()))
    st.solver_calls += 1
    slack_of: list[tuple[str, int]] = []
    offset = 0
    for b in m.blocks:
        if b.family in (LOCKED, MINIMUM_FILL, CUSTOMER_MINIMUM_FILL):
            for r in range(b.n_rows):
                h.addCol(-1.0, 0.0, highspy.kHighsInf, 1, np.array([offset + r]), np.array([1.0]))
                slack_of.append((b.family, int(b.subject[r])))
        offset += b.n_rows
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return [f"component of {net.problem.lines[int(lines[0])].name} (conflict not isolated)"]
    col = np.asarray(h.getSolution().col_value)
    slack = col[m.n_cols :]
    short_lines = {s for (fam, s), v in zip(slack_of, slack, strict=True) if v > _TOL}
    # A customer's commitment row is short on all of that customer's lines.
    for (fam, s), v in zip(slack_of, slack, strict=True):
        if fam == CUSTOMER_MINIMUM_FILL and v > _TOL:
            k = net.line_commitment[s]
            short_lines.update(int(i) for i in lines[net.line_commitment[lines] == k])
    names = [net.row_name(fam, s) for (fam, s), v in zip(slack_of, slack, strict=True) if v > _TOL]
    x = col[: len(arcs)]
    used = np.bincount(net.arc_node[arcs], weights=x, minlength=net.n_nodes)
    seen: set[str] = set()
    for j, a in enumerate(arcs):
        i = int(net.arc_line[a])
        if i not in short_lines:
            continue
        n = int(net.arc_node[a])
        if used[n] >= net.node_capacity[n] - _TOL:
            family = SUPPLY_ON_HAND if net.node_kind[n] == 0 else SUPPLY_PO_LINE
            seen.add(net.row_name(family, n))
        for r in range(net.protect_limit.shape[0]):
            if net.line_rank[i] > r and np.isfinite(net.protect_limit[r, n]):
                seen.add(net.row_name(PROTECTED_SHARE, n, r))
        del j
    for i in sorted(short_lines):
        if net.line_group[i] >= 0:
            seen.add(net.row_name(ALL_OR_NOTHING, i))
        if not np.any(net.arc_line[arcs] == i):
            seen.add(f"no supply reaches {net.problem.lines[i].name}")
    return names + sorted(seen)


@gc_paused
def solve(
    problem: AllocationProblem,
    *,
    time_limit: float = 60.0,
    batch_arcs: int = 3_000,
    monolithic: bool = False,
    relax_minimum_fill: bool = False,
    mip_gap: float = 0.005,
    mip_max_arcs: int = 20_000,
    workers: int | None = None,
) -> AllocationResult:
    """Validate, build, solve and read back an allocation.

    Parameters
    ----------
    problem
        The input (see :mod:`allotment.allocation.problem`).
    time_limit
        Seconds for all solver calls together; components not finished in time get the greedy
        plan (reported in ``result.issues``).
    batch_arcs
        Pack independent LP components into solver calls of about this many variables.
        Measured at 100k lines (simplex CPU for the whole LP): 3k-variable batches 2.0 s, 5k
        2.3 s, 20k 2.9 s, 50k 4.9 s: dual simplex work grows faster than the batch, and below
        a few thousand variables the per-call overhead takes over.
    monolithic
        Solve everything in one HiGHS call (the benchmark's reference; no component split).
    mip_gap
        Relative optimality gap at which a MIP component stops (0.005: within 0.5 % of the
        best possible; its plan starts from greedy's, so it is never worse).
    mip_max_arcs
        A component with all-or-nothing lines and more variables than this is solved by
        fixing its orders first instead of branch and bound (see :func:`_orders_by_greedy`).
    workers
        Threads that solve independent batches at the same time (HiGHS releases the GIL while
        it solves; default: one per core, at most 4). The plan, duals and reasons do not depend
        on it: every batch is solved alone and the results are merged in a fixed order.
    relax_minimum_fill
        When a component is infeasible, drop the minimum fill of its lines and solve again (the
        dropped commitments are reported); otherwise the component is reported infeasible and
        gets no allocation.

    Returns
    -------
    AllocationResult
        The plan, status, objective (USD), reasons and shadow prices.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    net = build_network(validate(problem))
    t_build, c_build = time.perf_counter() - t0, time.process_time() - c0
    st = _State(net=net, flows=np.zeros(net.n_arcs), deadline=t0 + time_limit, mip_gap=mip_gap)
    line_comp, node_comp = components(net)
    n_comp = int(line_comp.max()) + 1 if net.n_lines else 0
    arc_comp = line_comp[net.arc_line]
    arc_order = np.argsort(arc_comp, kind="stable")
    arc_starts = np.searchsorted(arc_comp[arc_order], np.arange(n_comp + 1))
    line_order = np.argsort(line_comp, kind="stable")
    line_starts = np.searchsorted(line_comp[line_order], np.arange(n_comp + 1))
    has_group = np.zeros(n_comp, dtype=np.bool_)
    has_group[line_comp[net.line_group >= 0]] = True

    def sel(comps: list[int]) -> tuple[IntArray, IntArray]:
        arcs = np.concatenate([arc_order[arc_starts[c] : arc_starts[c + 1]] for c in comps])
        lines = np.concatenate([line_order[line_starts[c] : line_starts[c + 1]] for c in comps])
        return np.sort(arcs).astype(np.int64), np.sort(lines).astype(np.int64)

    sizes = np.diff(arc_starts)
    n_workers = 1
    if monolithic:
        if n_comp:
            comps = list(range(n_comp))
            arcs, lines = sel(comps)
            _solve_selection(st, comps, arcs, lines, bool(has_group.any()))
    else:
        big = [c for c in range(n_comp) if has_group[c] and sizes[c] > mip_max_arcs]
        small = [c for c in range(n_comp) if not (has_group[c] and sizes[c] > mip_max_arcs)]

        def batch_job(job: _State, batch: list[int]) -> None:
            arcs, lines = sel(batch)
            if time.perf_counter() >= job.deadline:
                _fallback(job, batch, lines, "time limit reached before solving")
                return
            redo = _solve_batch_relaxed(job, batch, arcs, lines, line_comp, node_comp, n_comp)
            for c in redo:
                a, ln = sel([c])
                if time.perf_counter() >= job.deadline:
                    _fallback(job, [c], ln, "time limit reached before solving")
                else:
                    _solve_selection(job, [c], a, ln, bool(has_group[c]))

        n_workers = _workers(workers, len(big) + len(small))
        jobs = _Jobs(n_workers)
        try:
            # A large component's order choice is plain Python (greedy): it goes first, so the
            # LP batches run beside it.
            big_sel = [sel([c]) for c in big]
            chosen = [
                jobs.submit(st, functools.partial(_orders_by_greedy, arcs=arcs, lines=lines))
                for arcs, lines in big_sel
            ]
            submitted = [
                jobs.submit(st, functools.partial(batch_job, batch=batch))
                for batch in _pack(small, sizes, batch_arcs)
            ]
            # Once greedy has chosen a large component's orders, its LP batches queue up too.
            large: list[list[tuple[_State, Future[object]]]] = []
            for c, (arcs, lines), (_, choice) in zip(big, big_sel, chosen, strict=True):
                fixed = cast(_Choice, choice.result())[1]
                solve_part = functools.partial(_solve_fixed_orders, comp=c, fixed=fixed)
                large.append(
                    [
                        jobs.submit(st, functools.partial(solve_part, arcs=b_arcs, lines=b_lines))
                        for b_arcs, b_lines in _fixed_order_batches(net, arcs, lines, batch_arcs)
                    ]
                )
            _Jobs.merge(st, submitted)
            picked = _Jobs.merge(st, chosen)
            for c, (arcs, lines), parts, pick in zip(big, big_sel, large, picked, strict=True):
                _Jobs.merge(st, parts)
                plan, fixed = cast(_Choice, pick)
                st.issues.append(_heuristic_issue(net, c, arcs, lines, st.flows, plan, fixed))
        finally:
            jobs.close()

    if relax_minimum_fill:
        _relax(st, sel, has_group)
    t_read, c_read = time.perf_counter(), time.process_time()
    result = read_back(
        st.net,
        st.flows,
        st.rows,
        st.issues,
        seconds=time.perf_counter() - t0,
        build_seconds=t_build,
        n_components=n_comp,
        mip_components=st.mip_components,
        integer_resolves=st.integer_resolves,
        solver_calls=st.solver_calls,
    )
    # Wall seconds; with several workers, highs_seconds and large_component_seconds add up
    # the threads' time. CPU seconds: the process's (all threads), HiGHS's on its threads.
    result.stats["readback_seconds"] = round(time.perf_counter() - t_read, 4)
    result.stats["highs_seconds"] = round(st.clock.get("highs_seconds", 0.0), 4)
    result.stats["large_component_seconds"] = round(st.clock.get("large", 0.0), 4)
    result.stats["seconds"] = round(time.perf_counter() - t0, 4)
    result.stats["workers"] = n_workers
    result.stats["build_cpu_seconds"] = round(c_build, 4)
    result.stats["highs_cpu_seconds"] = round(st.clock.get("highs_cpu_seconds", 0.0), 4)
    result.stats["readback_cpu_seconds"] = round(time.process_time() - c_read, 4)
    result.stats["cpu_seconds"] = round(time.process_time() - c0, 4)
    return result


def _solve_batch_relaxed(
    st: _State,
    batch: list[int],
    arcs: IntArray,
    lines: IntArray,
    line_comp: IntArray,
    node_comp: IntArray,
    n_comp: int,
) -> list[int]:
    """Solve a batch of components as one LP (all-or-nothing choices relaxed to [0, 1]).

    Components whose relaxation ships whole orders only and whole units only are done (their
    plan and duals are those of the LP, which is then also the MIP's optimum); the others are
    returned, to be solved one by one (MIP, integer re-solve or conflict report).
    """
    net = st.net
    m = build_model(net, arcs, lines, integer=False)
    status, h = _run(st, m)
    if status != highspy.HighsModelStatus.kOptimal:
        return list(batch)
    sol = h.getSolution()
    x = np.asarray(sol.col_value)
    flows = x[: len(arcs)]
    bad = np.zeros(n_comp, dtype=np.bool_)
    frac = np.abs(flows - np.round(flows)) > _FRACTIONAL
    bad[line_comp[net.arc_line[arcs[frac]]]] = True
    y = x[len(arcs) :]
    frac_y = np.minimum(np.abs(y), np.abs(1 - y)) > _FRACTIONAL
    if frac_y.any():
        group_comp = np.full(net.n_groups, -1, dtype=np.int64)
        has = net.line_group >= 0
        group_comp[net.line_group[has]] = line_comp[has]
        bad[group_comp[m.groups[frac_y]]] = True
    accepted = np.zeros(n_comp, dtype=np.bool_)
    accepted[batch] = True
    accepted &= ~bad
    take = accepted[line_comp[net.arc_line[arcs]]]
    st.flows[arcs[take]] = np.round(flows[take])
    st.rows += _row_values(
        m,
        np.asarray(sol.row_value),
        np.asarray(sol.row_dual),
        keep=(line_comp, node_comp, accepted),
    )
    return [c for c in batch if bad[c]]


def _pack(comps: list[int], sizes: IntArray, batch_arcs: int) -> list[list[int]]:
    """Consecutive components in batches of about ``batch_arcs`` variables."""
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for c in comps:
        current.append(c)
        size += int(sizes[c]) + 1
        if size >= batch_arcs:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


#: Greedy's plan and the all-or-nothing choices it implies (order group -> 0.0 or 1.0).
_Choice = tuple[FloatArray, dict[int, float]]


def _orders_by_greedy(job: _State, arcs: IntArray, lines: IntArray) -> _Choice:
    """A large component with all-or-nothing orders, without branch and bound, step 1.

    The greedy plan (units per arc of ``arcs``) decides which all-or-nothing orders ship
    complete (y = 1) and which do not (y = 0); it is feasible, so solving the rest optimally
    with those choices fixed (:func:`_solve_fixed_orders`) can only do better. Returns
    (greedy plan, fixed choices).
    """
    t = time.perf_counter()
    net = job.net
    plan = greedy_flows(net, lines, priority_key(net), arcs=arcs)[0]
    got = np.bincount(net.arc_line[arcs], weights=plan, minlength=net.n_lines)
    aon = lines[net.line_group[lines] >= 0]
    shipped: dict[int, bool] = {}
    for i in aon.tolist():
        g = int(net.line_group[i])
        shipped[g] = shipped.get(g, True) and bool(got[i] >= net.line_quantity[i] - _FRACTIONAL)
    job.tick("large", t)
    return plan, {g: 1.0 if ok else 0.0 for g, ok in shipped.items()}


def _fixed_order_batches(
    net: Network, arcs: IntArray, lines: IntArray, batch_arcs: int
) -> list[tuple[IntArray, IntArray]]:
    """Step 2: with every order choice fixed, the component falls apart into SKU groups linked
    only by consented substitutes; they are packed into LP batches like any LP component.
    Returns (arcs, lines) per batch."""
    sub_line, _ = components(net, link_orders=False)
    sub_of_arc = sub_line[net.arc_line[arcs]]
    subs = np.unique(sub_line[lines])
    sizes = np.bincount(sub_of_arc, minlength=int(sub_line.max()) + 1)
    # Arcs and lines sorted by sub-component: a batch of consecutive ones is a slice.
    arc_order = np.argsort(sub_of_arc, kind="stable")
    line_order = np.argsort(sub_line[lines], kind="stable")
    arc_at = np.searchsorted(sub_of_arc[arc_order], subs)
    line_at = np.searchsorted(sub_line[lines][line_order], subs)
    out: list[tuple[IntArray, IntArray]] = []
    done = 0
    for batch in _pack([int(c) for c in subs], sizes, batch_arcs):
        first, last = done, done + len(batch)
        done = last
        a_end = int(arc_at[last]) if last < len(subs) else len(arcs)
        l_end = int(line_at[last]) if last < len(subs) else len(lines)
        b_arcs = np.sort(arcs[arc_order[int(arc_at[first]) : a_end]])
        b_lines = np.sort(lines[line_order[int(line_at[first]) : l_end]])
        out.append((b_arcs, b_lines))
    return out


def _solve_fixed_orders(
    job: _State, comp: int, arcs: IntArray, lines: IntArray, fixed: dict[int, float]
) -> None:
    """Step 2, one batch: the LP with the orders fixed (plan and duals)."""
    t = time.perf_counter()
    _solve_selection(job, [comp], arcs, lines, False, given=fixed)
    job.tick("large", t)


def _heuristic_issue(
    net: Network,
    comp: int,
    arcs: IntArray,
    lines: IntArray,
    flows: FloatArray,
    plan: FloatArray,
    fixed: dict[int, float],
) -> ComponentIssue:
    """What the result says about a large component solved with greedy's order choices."""
    value = float(np.dot(net.arc_gain[arcs], flows[arcs]))
    greedy_value = float(np.dot(net.arc_gain[arcs], plan))
    return ComponentIssue(
        kind="heuristic",
        component=comp,
        lines=[],
        detail=(
            f"{len(lines)} lines with {len(fixed)} all-or-nothing orders: orders chosen by"
            f" greedy ({sum(fixed.values()):.0f} ship complete), the rest solved optimally"
            f" (+${value - greedy_value:,.2f} over greedy)"
        ),
    )


def _workers(workers: int | None, n_jobs: int) -> int:
    """Threads for the solver jobs: ``workers`` or one per core (at most 4), never more than
    there are jobs."""
    if workers is None:
        workers = min(4, os.cpu_count() or 1)
    return max(1, min(workers, n_jobs))


def _relax(st: _State, sel: object, has_group: np.ndarray) -> None:  # type: ignore[type-arg]
    """Re-solve infeasible components without the minimum fill of their lines and customers."""
    assert callable(sel)
    infeasible = [i for i in st.issues if i.kind == "infeasible"]
    if not infeasible:
        return
    minimum = st.net.line_minimum.copy()
    commitment_units = st.net.commitment_units.copy()
    dropped_commitments: dict[int, list[str]] = {}
    for issue in infeasible:
        minimum[issue.lines] = 0.0
        ks = np.unique(st.net.line_commitment[issue.lines])
        ks = ks[ks >= 0]
        commitment_units[ks] = 0.0
        dropped_commitments[issue.component] = [
            st.net.row_name(CUSTOMER_MINIMUM_FILL, int(st.net.commitment_line[k])) for k in ks
        ]
    st.net = dataclasses.replace(st.net, line_minimum=minimum, commitment_units=commitment_units)
    for issue in infeasible:
        st.issues.remove(issue)
        arcs, lines = sel([issue.component])
        before = len(st.issues)
        _solve_selection(st, [issue.component], arcs, lines, bool(has_group[issue.component]))
        dropped = [
            f"{MINIMUM_FILL}[{st.net.problem.lines[i].name}]"
            for i in issue.lines
            if st.net.problem.lines[i].minimum_fill > 0
        ] + dropped_commitments[issue.component]
        if len(st.issues) == before or st.issues[-1].kind != "infeasible":
            st.issues.append(
                ComponentIssue(
                    kind="relaxed",
                    component=issue.component,
                    lines=issue.lines,
                    detail="contract minimum fill cannot be met; solved without it",
                    conflicts=issue.conflicts + dropped,
                )
            )

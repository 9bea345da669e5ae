"""Baselines on the same network and objective as the optimizer, so objectives compare.

``greedy`` fills lines in priority order (highest priority weight first), each from its most
profitable sources; ``fcfs`` fills them in order-date order. Both honour supply, open quantity,
all-or-nothing orders and protected shares; they serve locked quantities and minimum fills
first (then customers' fill commitments), in the same order, and report what they could not
meet. Greedy is also the optimizer's fallback for a component the solver cannot finish in time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from allotment.allocation.model import (
    CUSTOMER_MINIMUM_FILL,
    LOCKED,
    MINIMUM_FILL,
    FloatArray,
    IntArray,
    Network,
    build_network,
    gc_paused,
)
from allotment.allocation.problem import AllocationProblem
from allotment.allocation.validate import validate


@dataclass(frozen=True)
class BaselineResult:
    """A heuristic plan: units per arc of ``network``, its objective (USD) and what it missed."""

    name: str
    network: Network
    flows: FloatArray
    objective: float
    seconds: float
    unmet: list[str] = field(default_factory=list)


def objective(net: Network, flows: FloatArray) -> float:
    """The optimizer's objective of a plan: Σ gain × units (USD)."""
    return float(np.dot(net.arc_gain, flows))


def greedy_flows(
    net: Network,
    lines: IntArray,
    order_key: Callable[[int], tuple[float | int | str, ...]],
    flows: FloatArray | None = None,
    *,
    arcs: IntArray | None = None,
) -> tuple[FloatArray, list[str]]:
    """Fill ``lines`` one by one in ``order_key`` order; returns (flows, unmet constraint names).

    ``flows`` (global, per arc) is filled in place when given, so a fallback writes straight into
    the optimizer's plan; the lines' arcs must not be used by anything else in it. ``arcs``
    (sorted, every arc of ``lines`` among them) asks for the flows of those arcs only, in that
    order: a component's warm start needs no array over every arc of the network.
    """
    v = net.as_lists
    starts, by_line, arc_node, arc_line, gain = (
        v["starts"],
        v["by_line"],
        v["arc_node"],
        v["arc_line"],
        v["arc_gain"],
    )
    rank, quantity, group = v["line_rank"], v["line_quantity"], v["line_group"]
    capacity, limits = v["node_capacity"], v["protect_limit"]
    protect_ranks: list[int] = v["protect_ranks"]
    # Per node: units left, and per capped tier rank the units lower tiers took (lists: the
    # loop below is plain Python, where list indexing is the cheapest lookup).
    remaining = list(capacity)
    caps = [(r, limits[r], [0.0] * len(capacity)) for r in protect_ranks]
    taken: dict[int, float] = {}
    floor, inf = math.floor, math.inf

    def take(a: int, units: float, line_rank: int) -> None:
        n = arc_node[a]
        remaining[n] -= units
        for r, _, lower_used in caps:
            if r < line_rank:
                lower_used[n] += units
        taken[a] = taken.get(a, 0.0) + units

    def fill(
        i: int, need: float, positive_only: bool, log: list[tuple[int, float]] | None = None
    ) -> float:
        """Give line ``i`` up to ``need`` units; returns what is still missing."""
        lr = rank[i]
        for a in by_line[starts[i] : starts[i + 1]]:
            if need <= 0:
                break
            if positive_only and gain[a] <= 0:
                break
            n = arc_node[a]
            avail = remaining[n]
            if avail < 1.0 - 1e-9:  # exhausted: not one whole unit left (the common case)
                continue
            for r, lim, lower_used in caps:
                if r < lr and lim[n] != inf and lim[n] - lower_used[n] < avail:
                    avail = lim[n] - lower_used[n]
            whole = float(floor(avail + 1e-9))
            u = need if need < whole else whole
            if u > 0:
                take(a, u, lr)
                if log is not None:
                    log.append((a, u))
                need -= u
        return need

    def undo(log: list[tuple[int, float]]) -> None:
        for a, u in log:
            take(a, -u, rank[arc_line[a]])

    ordered = sorted(lines.tolist(), key=order_key)
    # Lower bounds and commitments are rare: the passes that serve them run only when some line
    # here has one (without any, they would do nothing).
    has_low = bool(((net.line_locked[lines] > 0) | (net.line_minimum[lines] > 0)).any())
    has_commitment = bool((net.line_commitment[lines] >= 0).any())
    group_members: dict[int, list[int]] = {}
    for i in ordered:
        if group[i] >= 0:
            group_members.setdefault(group[i], []).append(i)
    given: dict[int, float] = dict.fromkeys(ordered, 0.0)
    locked, minimum = v["line_locked"], v["line_minimum"]

    def try_group(g: int, forced: bool) -> None:
        log: list[tuple[int, float]] = []
        ok = True
        for i in group_members[g]:
            if fill(i, quantity[i] - given[i], not forced, log) > 1e-9:
                ok = False
                break
        value = sum(gain[a] * u for a, u in log)
        if ok and (forced or value > 0):
            for a, u in log:
                given[arc_line[a]] += u
        else:
            undo(log)

    tried: set[int] = set()
    # Pass 1: what must be kept (locked) or committed (minimum fill), in the same order.
    for i in ordered if has_low else ():
        low = max(locked[i], math.ceil(minimum[i] - 1e-9))
        if low <= 0:
            continue
        if group[i] >= 0:
            if group[i] not in tried:
                tried.add(group[i])
                try_group(group[i], forced=True)
            continue
        need = low - given[i]
        given[i] += need - fill(i, need, False)
    # Pass 1b: customers' fill commitments (together over their lines), in the same order.
    commitment, commitment_units = v["line_commitment"], v["commitment_units"]
    got: dict[int, float] = {}
    for i in ordered if has_commitment else ():
        if commitment[i] >= 0:
            got[commitment[i]] = got.get(commitment[i], 0.0) + given[i]
    for i in ordered if has_commitment else ():
        k = commitment[i]
        need = math.ceil(commitment_units[k] - 1e-9) - got[k] if k >= 0 else 0.0
        if need <= 0:
            continue
        if group[i] >= 0:
            # An order belongs to one customer: the whole order counts towards it.
            if group[i] not in tried:
                tried.add(group[i])
                before = sum(given[j] for j in group_members[group[i]])
                try_group(group[i], forced=True)
                got[k] += sum(given[j] for j in group_members[group[i]]) - before
            continue
        need = min(need, quantity[i] - given[i])
        units = need - fill(i, need, False)
        given[i] += units
        got[k] += units
    # Pass 2: everything else that earns money.
    for i in ordered:
        if group[i] >= 0:
            if group[i] not in tried:
                tried.add(group[i])
                try_group(group[i], forced=False)
            continue
        need = quantity[i] - given[i]
        given[i] += need - fill(i, need, True)
    keys = np.fromiter(taken.keys(), dtype=np.int64, count=len(taken))
    units = np.fromiter(taken.values(), dtype=np.float64, count=len(taken))
    if arcs is not None:
        x = np.zeros(len(arcs))
        x[np.searchsorted(arcs, keys)] = units
    else:
        x = np.zeros(net.n_arcs) if flows is None else flows
        x[keys] += units
    unmet: list[str] = []
    for i in ordered if has_low else ():
        if given[i] + 1e-9 < locked[i]:
            unmet.append(net.row_name(LOCKED, i))
        if given[i] + 1e-9 < minimum[i]:
            unmet.append(net.row_name(MINIMUM_FILL, i))
    total: dict[int, float] = {}
    for i in ordered if has_commitment else ():
        if commitment[i] >= 0:
            total[commitment[i]] = total.get(commitment[i], 0.0) + given[i]
    for k, units in sorted(total.items()):
        if units + 1e-9 < commitment_units[k]:
            unmet.append(net.row_name(CUSTOMER_MINIMUM_FILL, int(net.commitment_line[k])))
    return x, unmet


def priority_key(net: Network) -> Callable[[int], tuple[float | int | str, ...]]:
    """Highest priority weight first; ties by line id."""
    v = net.as_lists  # built once per network: this key is made for every MIP's warm start
    weight, ids = v["line_weight"], v["line_id"]
    return lambda i: (-weight[i], ids[i])


def fcfs_key(net: Network) -> Callable[[int], tuple[float | int | str, ...]]:
    """Oldest order first; ties by line id."""
    lines = net.problem.lines
    return lambda i: (lines[i].ordered_on.toordinal(), lines[i].line_id)


@gc_paused
def _run(
    name: str,
    problem: AllocationProblem,
    key: Callable[[Network], Callable[[int], tuple[float | int | str, ...]]],
    network: Network | None,
) -> BaselineResult:
    t0 = time.perf_counter()
    net = network or build_network(validate(problem))
    flows, unmet = greedy_flows(net, np.arange(net.n_lines, dtype=np.int64), key(net))
    return BaselineResult(
        name=name,
        network=net,
        flows=flows,
        objective=objective(net, flows),
        seconds=time.perf_counter() - t0,
        unmet=unmet,
    )


def greedy(problem: AllocationProblem, *, network: Network | None = None) -> BaselineResult:
    """Fill lines in priority order (highest priority weight per unit first)."""
    return _run("greedy", problem, priority_key, network)


def fcfs(problem: AllocationProblem, *, network: Network | None = None) -> BaselineResult:
    """Fill lines first come, first served (order date)."""
    return _run("fcfs", problem, fcfs_key, network)

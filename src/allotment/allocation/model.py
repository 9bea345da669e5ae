"""Step 3: the network of possible shipments, and the LP/MIP over it.

Every way a demand line can be served is an **arc** from a supply node (free on-hand stock of a
SKU at a location, or an open PO line) to the line, directly or through a transfer lane, of the
line's SKU or of a substitute the customer consented to. Each arc's objective coefficient is the
money it earns per unit (USD)::

    gain = priority_weight − transfer cost − substitution premium − time cost
    time cost = lateness_cost_per_unit_day × E[days late]
                + waiting_discount_per_day × priority_weight × E[A]
    E[days late] = (1 − p) · max(0, A − P) + p · max(0, A + d − P)

with ``A`` the arrival (days from today, transfer lead time included), ``P`` the promised date
(days from today), ``p`` the supply's P(delay) and ``d`` its days late if delayed (0 for stock on
hand). The model maximizes Σ gain × units shipped, subject to one constraint family per function
below; each row keeps its family name and subject, so explanations can name it.
"""

from __future__ import annotations

import functools
import gc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from operator import attrgetter
from typing import Any, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from allotment.allocation.problem import TIER_ORDER, AllocationProblem

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: Supply node kinds.
ON_HAND, PO_LINE = 0, 1
#: Constraint families (row names are ``family[subject]``).
SUPPLY_ON_HAND = "supply_on_hand"
SUPPLY_PO_LINE = "supply_po_line"
OPEN_QUANTITY = "open_quantity"
ALL_OR_NOTHING = "all_or_nothing"
MINIMUM_FILL = "minimum_fill"
CUSTOMER_MINIMUM_FILL = "customer_minimum_fill"
PROTECTED_SHARE = "protected_share"
LOCKED = "locked"
INF = math.inf
#: Extra units on every supply row (units). A transportation LP is degenerate whenever a line is
#: filled exactly; its duals are then any point of an interval, and HiGHS may report the value of
#: one unit *less* instead of one unit more. With a tiny extra quantity the optimal basis is the
#: one that prices the next unit (the right derivative), and the plan, rounded back to whole
#: units, is the same vertex.
PERTURBATION = 1e-5


_P = ParamSpec("_P")
_R = TypeVar("_R")


def gc_paused(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with the cyclic garbage collector paused.

    A solve creates a few hundred thousand small objects (plan rows, reasons, greedy's dicts)
    and no reference cycles; every generation-2 collection on the way would scan all of them
    and the problem's lines again (measured: a third of the read-back time at 100k lines).
    Reference counting still frees everything; the collector is switched back on afterwards,
    unless it was off already.
    """

    @functools.wraps(fn)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return run


@dataclass(frozen=True)
class Network:
    """Supply nodes, demand lines and the arcs between them, as column arrays.

    Node arrays are indexed by node, line arrays by position in ``problem.lines``, arc arrays by
    arc. ``protect_limit[r, n]`` caps what lines of tiers ranked below ``r`` may take from node
    ``n`` (``inf``: no cap); see :func:`add_protected_share`.
    """

    problem: AllocationProblem
    skus: list[str]
    node_kind: IntArray
    node_sku: IntArray
    node_location: list[str]
    node_po_line: IntArray  # PO line id, -1 for on-hand
    node_capacity: FloatArray  # units
    node_available: FloatArray  # expected availability, days from today
    line_sku: IntArray
    line_quantity: FloatArray
    line_weight: FloatArray  # USD per unit
    line_rank: IntArray  # tier rank, 0 = most protected
    line_locked: FloatArray
    line_minimum: FloatArray  # units (minimum fill × quantity)
    line_group: IntArray  # all-or-nothing group, -1 for none
    line_commitment: IntArray  # customer fill commitment, -1 for none
    commitment_units: FloatArray  # units the commitment's lines must get together
    commitment_line: IntArray  # the commitment's first line (its row's subject)
    arc_line: IntArray
    arc_node: IntArray
    arc_gain: FloatArray  # USD per unit
    arc_transfer: FloatArray  # USD per unit
    arc_substitution: FloatArray  # USD per unit
    arc_lateness: FloatArray  # USD per unit (lateness and waiting)
    arc_arrival: FloatArray  # days from today (expected, delay-weighted)
    arc_substitute: npt.NDArray[np.bool_]
    protect_limit: FloatArray
    protect_reserved: FloatArray  # units reserved for tiers ranked <= r at each node
    n_groups: int = 0

    @property
    def n_lines(self) -> int:
        return len(self.line_sku)

    @property
    def n_nodes(self) -> int:
        return len(self.node_sku)

    @property
    def n_arcs(self) -> int:
        return len(self.arc_line)

    @cached_property
    def arcs_by_line(self) -> tuple[IntArray, IntArray]:
        """Arcs grouped by line, most profitable first: (starts, arcs)."""
        # = np.lexsort((-gain, line)), in two cheaper sorts: the rank of each arc's gain (ties
        # by arc number), then one integer key per arc: line first, that rank second.
        rank = np.empty(self.n_arcs, dtype=np.int64)
        rank[np.argsort(-self.arc_gain, kind="stable")] = np.arange(self.n_arcs)
        order = np.argsort(self.arc_line * self.n_arcs + rank, kind="stable").astype(np.int64)
        starts = np.zeros(self.n_lines + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.arc_line, minlength=self.n_lines), out=starts[1:])
        return starts, order

    @cached_property
    def as_lists(self) -> dict[str, Any]:
        """Plain-list copies of the arrays the greedy loop reads (numpy scalars are slow)."""
        starts, by_line = self.arcs_by_line
        return {
            "starts": starts.tolist(),
            "by_line": by_line.tolist(),
            "arc_node": self.arc_node.tolist(),
            "arc_line": self.arc_line.tolist(),
            "arc_gain": self.arc_gain.tolist(),
            "line_rank": self.line_rank.tolist(),
            "line_weight": self.line_weight.tolist(),
            "line_id": [line.line_id for line in self.problem.lines],
            "line_quantity": self.line_quantity.tolist(),
            "line_group": self.line_group.tolist(),
            "line_locked": self.line_locked.tolist(),
            "line_minimum": self.line_minimum.tolist(),
            "line_commitment": self.line_commitment.tolist(),
            "commitment_units": self.commitment_units.tolist(),
            "node_capacity": self.node_capacity.tolist(),
            "protect_limit": self.protect_limit.tolist(),
            # Tier ranks that cap some node: the only ones greedy has to check.
            "protect_ranks": np.flatnonzero(np.isfinite(self.protect_limit).any(axis=1)).tolist(),
        }

    @cached_property
    def node_names(self) -> list[str]:
        """``SKU@LOCATION`` for stock on hand, ``PO line <id>`` for in-transit supply."""
        skus = self.skus
        return [
            f"{skus[s]}@{loc}" if kind == ON_HAND else f"PO line {po}"
            for kind, s, loc, po in zip(
                self.node_kind.tolist(),
                self.node_sku.tolist(),
                self.node_location,
                self.node_po_line.tolist(),
                strict=True,
            )
        ]

    def node_name(self, n: int) -> str:
        """The name of supply node ``n`` (see :attr:`node_names`)."""
        return self.node_names[n]

    def row_name(self, family: str, subject: int, extra: int = -1) -> str:
        """The name of one constraint row, as it appears in explanations."""
        if family in (SUPPLY_ON_HAND, SUPPLY_PO_LINE):
            if self.node_kind[subject] == ON_HAND:
                return f"{SUPPLY_ON_HAND}[{self.node_name(subject)}]"
            return f"{SUPPLY_PO_LINE}[{self.node_po_line[subject]}]"
        if family == PROTECTED_SHARE:
            return f"{PROTECTED_SHARE}[{self.node_name(subject)}, {TIER_ORDER[extra]}]"
        if family == CUSTOMER_MINIMUM_FILL:
            return f"{family}[customer {self.problem.lines[subject].customer_id}]"
        return f"{family}[{self.problem.lines[subject].name}]"


def _column(items: Sequence[object], name: str, dtype: type) -> npt.NDArray[Any]:
    """One attribute of every item as an array (read in C: ``map`` over ``attrgetter``)."""
    return np.fromiter(map(attrgetter(name), items), dtype=dtype, count=len(items))


def _days_from(problem: AllocationProblem, days: Sequence[date]) -> FloatArray:
    """Whole days from ``problem.today`` to each date."""
    ordinals = np.fromiter(map(date.toordinal, days), dtype=np.float64, count=len(days))
    return ordinals - problem.today.toordinal()


def build_network(problem: AllocationProblem) -> Network:
    """Enumerate supply nodes and every arc that can serve a line (the variables)."""
    lines = problem.lines
    line_sku_name = list(map(attrgetter("sku"), lines))
    line_location = list(map(attrgetter("location"), lines))
    stock_node: dict[tuple[str, str], int] = {
        (stock.sku, stock.location): n for n, stock in enumerate(problem.on_hand)
    }
    # A zero-stock node where a line's own SKU is asked for, so the shadow price of one more
    # unit there is reported even when nothing is on hand.
    missing = [
        key
        for key in dict.fromkeys(zip(line_sku_name, line_location, strict=True))
        if key not in stock_node
    ]
    for key in missing:
        stock_node[key] = len(stock_node)
    pos = problem.in_transit
    n_stock = len(problem.on_hand)
    kinds = [ON_HAND] * (n_stock + len(missing)) + [PO_LINE] * len(pos)
    node_sku_name = (
        [stock.sku for stock in problem.on_hand] + [k[0] for k in missing] + [po.sku for po in pos]
    )
    # SKU numbers in order of first appearance among the nodes.
    sku_index = {name: k for k, name in enumerate(dict.fromkeys(node_sku_name))}
    n_sku = [sku_index[name] for name in node_sku_name]
    n_loc = (
        [stock.location for stock in problem.on_hand]
        + [k[1] for k in missing]
        + [po.location for po in pos]
    )
    n_po = [-1] * (n_stock + len(missing)) + [po.po_line_id for po in pos]
    n_cap = (
        [float(stock.quantity) for stock in problem.on_hand]
        + [0.0] * len(missing)
        + [float(po.quantity) for po in pos]
    )
    no_wait = [0.0] * (n_stock + len(missing))
    n_avail = (
        no_wait + np.maximum(0.0, _days_from(problem, [po.expected_arrival for po in pos])).tolist()
    )
    n_p = no_wait + [po.p_delay for po in pos]
    n_late = no_wait + [po.days_late_if_delayed for po in pos]

    subs_of: dict[str, list[tuple[str, float]]] = {}
    for sub in problem.substitutes:
        subs_of.setdefault(sub.sku, []).append((sub.substitute_sku, sub.premium_rate))
    rank_of = {t: r for r, t in enumerate(TIER_ORDER)}

    # All-or-nothing groups numbered in order of first appearance.
    groups: dict[int, int] = {}
    n_lines = len(problem.lines)
    l_group = np.full(n_lines, -1, dtype=np.int64)
    aon = np.flatnonzero(_column(lines, "all_or_nothing", np.bool_))
    l_group[aon] = [groups.setdefault(lines[i].order_id, len(groups)) for i in aon.tolist()]
    # Candidates: (line, SKU it may ship, premium rate, substitute?) — its own SKU first, then
    # the substitutes its customer consented to, in the order they are listed.
    own_sku = np.array([sku_index[name] for name in line_sku_name], dtype=np.int64)
    s_line: list[int] = []
    s_sku: list[int] = []
    s_premium: list[float] = []
    if subs_of:
        for i in np.flatnonzero(_column(lines, "substitution_consent", np.bool_)).tolist():
            for sku, rate_ in subs_of.get(line_sku_name[i], ()):
                if sku in sku_index:
                    s_line.append(i)
                    s_sku.append(sku_index[sku])
                    s_premium.append(max(0.0, rate_))
    # Own SKU: no premium (marked -1 to tell it from a substitute); stable sort by line.
    all_line = np.concatenate(
        [np.arange(n_lines, dtype=np.int64), np.array(s_line, dtype=np.int64)]
    )
    by_cand = np.argsort(all_line, kind="stable")
    c_line = all_line[by_cand]
    c_sku = np.concatenate([own_sku, np.array(s_sku, dtype=np.int64)])[by_cand]
    c_premium = np.concatenate([np.full(n_lines, -1.0), np.array(s_premium, dtype=np.float64)])[
        by_cand
    ]
    # Expand each candidate to every node of its SKU (nodes grouped by SKU).
    node_sku_arr = np.array(n_sku, dtype=np.int64)
    by_sku = np.argsort(node_sku_arr, kind="stable")
    sku_starts = np.searchsorted(node_sku_arr[by_sku], np.arange(len(sku_index) + 1))
    cand_sku = c_sku
    counts = sku_starts[cand_sku + 1] - sku_starts[cand_sku]
    cand = np.repeat(np.arange(len(cand_sku)), counts)
    offset = np.arange(len(cand)) - np.repeat(np.cumsum(counts) - counts, counts)
    node = by_sku[sku_starts[cand_sku[cand]] + offset]
    line_idx = c_line[cand]
    premium = c_premium[cand]
    # Lanes as a location × location matrix (same location: free and immediate).
    # Location numbers in order of first appearance: nodes, lines, lanes.
    lane_ends = [name for ln in problem.lanes for name in (ln.origin, ln.destination)]
    loc_index = {
        name: k for k, name in enumerate(dict.fromkeys([*n_loc, *line_location, *lane_ends]))
    }
    k = len(loc_index)
    lane_cost = np.full((k, k), np.inf)
    lane_lead = np.zeros((k, k))
    np.fill_diagonal(lane_cost, 0.0)
    for ln in problem.lanes:
        lane_cost[loc_index[ln.origin], loc_index[ln.destination]] = ln.cost_per_unit
        lane_lead[loc_index[ln.origin], loc_index[ln.destination]] = ln.lead_time_days
    node_loc_idx = np.array([loc_index[x] for x in n_loc], dtype=np.int64)
    line_loc_idx = np.array([loc_index[x] for x in line_location], dtype=np.int64)
    cost = lane_cost[node_loc_idx[node], line_loc_idx[line_idx]]
    ok = np.isfinite(cost)
    node, line_idx, premium, cost = node[ok], line_idx[ok], premium[ok], cost[ok]
    lead = lane_lead[node_loc_idx[node], line_loc_idx[line_idx]]
    promised = _days_from(problem, list(map(attrgetter("promised_date"), lines)))[line_idx]
    p_arr = np.array(n_p, dtype=np.float64)[node]
    d_arr = np.array(n_late, dtype=np.float64)[node]
    arrival = np.array(n_avail, dtype=np.float64)[node] + lead
    late = (1 - p_arr) * np.maximum(0.0, arrival - promised) + p_arr * np.maximum(
        0.0, arrival + d_arr - promised
    )
    expected_arrival = arrival + p_arr * d_arr
    unit_value = _column(lines, "unit_value", np.float64)
    weight = _column(lines, "priority_weight", np.float64)
    rate = problem.lateness_cost_per_unit_day
    discount = problem.waiting_discount_per_day
    order = np.lexsort((node, line_idx))

    line_quantity = _column(lines, "quantity", np.float64)
    line_weight = weight
    line_rank = np.array([rank_of[t] for t in map(attrgetter("tier"), lines)], dtype=np.int64)
    arc_line = line_idx[order]
    arc_node = node[order]
    transfer = cost[order]
    substitution = (np.maximum(premium, 0.0) * unit_value[line_idx])[order]
    lateness = (rate * late + discount * weight[line_idx] * expected_arrival)[order]
    node_capacity = np.array(n_cap, dtype=np.float64)
    limit, reserved = _protection(
        problem,
        node_capacity,
        np.array(kinds, dtype=np.int64),
        arc_line,
        arc_node,
        line_rank,
        line_quantity,
    )
    return Network(
        problem=problem,
        skus=list(sku_index),
        node_kind=np.array(kinds, dtype=np.int64),
        node_sku=np.array(n_sku, dtype=np.int64),
        node_location=n_loc,
        node_po_line=np.array(n_po, dtype=np.int64),
        node_capacity=node_capacity,
        node_available=np.array(n_avail, dtype=np.float64),
        line_sku=own_sku,
        line_quantity=line_quantity,
        line_weight=line_weight,
        line_rank=line_rank,
        line_locked=_column(lines, "locked_quantity", np.float64),
        line_minimum=_column(lines, "minimum_fill", np.float64) * line_quantity,
        line_group=l_group,
        **_commitments(problem, line_quantity),
        arc_line=arc_line,
        arc_node=arc_node,
        arc_gain=line_weight[arc_line] - transfer - substitution - lateness,
        arc_transfer=transfer,
        arc_substitution=substitution,
        arc_lateness=lateness,
        arc_arrival=expected_arrival[order],
        arc_substitute=(premium >= 0)[order],
        protect_limit=limit,
        protect_reserved=reserved,
        n_groups=len(groups),
    )


def _commitments(problem: AllocationProblem, line_quantity: FloatArray) -> dict[str, Any]:
    """Per line its customer's fill commitment (-1: none); per commitment the units its lines
    must get together (share × their open quantity) and its first line."""
    share = problem.customer_minimum_fill
    index: dict[int, int] = {}
    line_commitment = np.array(
        [
            index.setdefault(customer, len(index)) if share.get(customer, 0.0) > 0 else -1
            for customer in map(attrgetter("customer_id"), problem.lines)
        ]
        if share
        else np.full(len(problem.lines), -1),
        dtype=np.int64,
    )
    has = line_commitment >= 0
    total = np.bincount(line_commitment[has], weights=line_quantity[has], minlength=len(index))
    rate = np.array([share[c] for c in index], dtype=np.float64)
    members = np.flatnonzero(has)
    _, first_member = np.unique(line_commitment[members], return_index=True)
    return {
        "line_commitment": line_commitment,
        "commitment_units": rate * total if len(index) else np.zeros(0),
        "commitment_line": members[first_member].astype(np.int64),
    }


def _protection(
    problem: AllocationProblem,
    capacity: FloatArray,
    node_kind: IntArray,
    arc_line: IntArray,
    arc_node: IntArray,
    line_rank: IntArray,
    line_quantity: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Per tier rank ``r`` and node: the units lines ranked below ``r`` may take at most.

    The policy's protected share reserves ``share × supply`` for a tier before lower tiers are
    served; the reservations cascade (what is reserved for VIP is also out of reach of standard
    lines when premium is protected too). A reservation never exceeds what the protected tiers
    ask of that node, so stock is not held back for demand that is not there. It applies to
    stock on hand (per SKU-location, as the policy says), not to PO lines still in transit.
    """
    n_ranks = len(TIER_ORDER)
    limit = np.full((n_ranks, len(capacity)), INF)
    reserved = np.zeros((n_ranks, len(capacity)))
    cumulative = 0.0
    for r, tier in enumerate(TIER_ORDER[:-1]):
        cumulative += float(problem.protected_share.get(tier, 0.0))
        if cumulative <= 0 or len(arc_line) == 0:
            continue
        above = line_rank[arc_line] <= r
        demand = np.bincount(
            arc_node, weights=np.where(above, line_quantity[arc_line], 0.0), minlength=len(capacity)
        )
        below = np.bincount(arc_node, weights=(~above).astype(np.float64), minlength=len(capacity))
        res = np.minimum(np.floor(cumulative * capacity + 1e-9), demand)
        res[node_kind != ON_HAND] = 0.0
        reserved[r] = res
        active = (res > 0) & (below > 0)
        limit[r, active] = capacity[active] - res[active]
    return limit, reserved


def components(net: Network, *, link_orders: bool = True) -> tuple[IntArray, IntArray]:
    """Independent sub-problems: SKUs linked through consented substitutes, an order's
    all-or-nothing lines or a customer's fill commitment (union-find over SKUs);
    ``link_orders=False`` ignores all-or-nothing orders (the sub-problems once every
    all-or-nothing choice is fixed).

    Returns
    -------
    (line_component, node_component)
        A component label per line and per node (labels are 0..k-1).
    """
    parent = list(range(len(net.skus)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    # An arc links the line's SKU with the SKU of the node it draws on (a substitute).
    sub_arcs = np.flatnonzero(net.arc_substitute)
    for a in sub_arcs:
        union(int(net.line_sku[net.arc_line[a]]), int(net.node_sku[net.arc_node[a]]))

    def link(label: IntArray) -> None:
        """Union the SKUs of all lines that share a ``label`` (>= 0)."""
        first_sku: dict[int, int] = {}
        for k, s in zip(label[label >= 0].tolist(), net.line_sku[label >= 0].tolist(), strict=True):
            if k in first_sku:
                union(first_sku[k], s)
            else:
                first_sku[k] = s

    if link_orders:
        link(net.line_group)
    # A customer's fill commitment links the SKUs of all its lines (one row over all of them).
    link(net.line_commitment)
    roots = np.array([find(s) for s in range(len(net.skus))], dtype=np.int64)
    _, label = np.unique(roots, return_inverse=True)
    label = label.astype(np.int64)
    return label[net.line_sku], label[net.node_sku]


# --- the model ------------------------------------------------------------------------------


@dataclass
class RowBlock:
    """Rows of one constraint family, compressed by row (CSR over model columns)."""

    family: str
    subject: IntArray  # global line or node index per row
    lower: FloatArray
    upper: FloatArray
    starts: IntArray  # len(rows) + 1
    index: IntArray
    value: FloatArray
    extra: IntArray | None = None  # tier rank for protected-share rows

    @property
    def n_rows(self) -> int:
        return len(self.subject)


@dataclass
class Model:
    """A model over a selection of arcs (columns) and the rows that constrain them."""

    arcs: IntArray  # global arc index of column j (j < len(arcs))
    groups: IntArray  # global all-or-nothing group of column len(arcs) + k
    cost: FloatArray
    col_upper: FloatArray
    integer: npt.NDArray[np.bool_]
    col_lower: FloatArray
    lines: IntArray  # global line indices in the selection (also those without any arc)
    blocks: list[RowBlock] = field(default_factory=list)

    @property
    def n_cols(self) -> int:
        return len(self.cost)


def _grouped_rows(
    family: str,
    keys: IntArray,
    cols: IntArray,
    vals: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    subjects: IntArray,
    extra: IntArray | None = None,
) -> RowBlock:
    """Rows with ``keys`` = row number (0..len(subjects)-1) per (col, val) entry."""
    order = np.argsort(keys, kind="stable")
    counts = np.bincount(keys, minlength=len(subjects))
    starts = np.zeros(len(subjects) + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return RowBlock(family, subjects, lower, upper, starts, cols[order], vals[order], extra)


def _rows_by(
    family: str,
    owner: IntArray,
    cols: IntArray,
    upper_of: FloatArray,
    keep: npt.NDArray[np.bool_] | None = None,
    coef: FloatArray | None = None,
    upper_extra: float = 0.0,
) -> RowBlock:
    """One row per distinct ``owner`` value (a line or node): Σ coef·x over its columns, at most
    ``upper_of[owner] + upper_extra`` (no lower bound)."""
    vals = np.ones(len(cols)) if coef is None else coef
    if keep is not None:
        owner, cols, vals = owner[keep], cols[keep], vals[keep]
    # One stable sort by owner gives the rows (subjects ascending) and their entries in order.
    order = np.argsort(owner, kind="stable")
    owner = owner[order]
    first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else order[:0]
    subjects = owner[first].astype(np.int64)
    starts = np.append(first, len(owner)).astype(np.int64)
    upper = upper_of[subjects]
    if upper_extra:
        upper += upper_extra
    return RowBlock(
        family,
        subjects,
        np.full(len(subjects), -INF),
        upper,
        starts,
        cols[order],
        vals[order],
    )


def _supply_rows(net: Network, m: Model, family: str, kind: int) -> RowBlock:
    """Σ units drawn from each supply node of ``kind`` ≤ its capacity (one row per node)."""
    nodes = net.arc_node[m.arcs]
    return _rows_by(
        family,
        nodes,
        np.arange(len(m.arcs)),
        net.node_capacity,
        net.node_kind[nodes] == kind,
        upper_extra=PERTURBATION,
    )


def add_supply_per_sku_location(net: Network, m: Model) -> RowBlock:
    """Σ units drawn from free stock of a SKU at a location ≤ on hand − committed."""
    return _supply_rows(net, m, SUPPLY_ON_HAND, ON_HAND)


def add_supply_per_po_line(net: Network, m: Model) -> RowBlock:
    """Σ units promised from a PO line ≤ its open quantity."""
    return _supply_rows(net, m, SUPPLY_PO_LINE, PO_LINE)


def add_open_quantity(net: Network, m: Model) -> RowBlock:
    """Σ units to a line ≤ its open quantity."""
    lines = net.arc_line[m.arcs]
    return _rows_by(OPEN_QUANTITY, lines, np.arange(len(m.arcs)), net.line_quantity)


def add_all_or_nothing(net: Network, m: Model) -> RowBlock:
    """Σ units to an all-or-nothing line = its quantity × y(order), y binary per order."""
    lines = net.arc_line[m.arcs]
    # Every selected line of an order, also one without any arc: it forces the order to zero.
    sel_lines = m.lines[net.line_group[m.lines] >= 0].astype(np.int64)
    if len(sel_lines) == 0 or len(m.groups) == 0:
        return _empty(ALL_OR_NOTHING)
    # Row r is sel_lines[r]: its arcs (+1 each), then its order's column (−quantity).
    by_line = np.argsort(sel_lines, kind="stable")
    arcs_in = np.flatnonzero(net.line_group[lines] >= 0)
    arc_rows = by_line[np.searchsorted(sel_lines[by_line], lines[arcs_in])]
    group_cols = len(m.arcs) + np.searchsorted(m.groups, net.line_group[sel_lines])
    keys = np.concatenate([arc_rows, np.arange(len(sel_lines))]).astype(np.int64)
    cols = np.concatenate([arcs_in, group_cols]).astype(np.int64)
    vals = np.concatenate([np.ones(len(arcs_in)), -net.line_quantity[sel_lines]])
    zeros = np.zeros(len(sel_lines))
    return _grouped_rows(
        ALL_OR_NOTHING,
        keys,
        cols,
        vals,
        zeros,
        zeros.copy(),
        sel_lines,
    )


def add_minimum_fill(net: Network, m: Model) -> RowBlock:
    """Σ units to a line ≥ its contract's minimum fill share × open quantity."""
    return _lower_bound_rows(MINIMUM_FILL, net, m, net.line_minimum)


def add_customer_minimum_fill(net: Network, m: Model) -> RowBlock:
    """Σ units to a customer's lines ≥ its contract's fill commitment × their open quantity."""
    lines = net.arc_line[m.arcs]
    sel_lines = m.lines[net.line_commitment[m.lines] >= 0]
    if len(sel_lines) == 0:
        return _empty(CUSTOMER_MINIMUM_FILL)
    # Components keep a customer's lines together, so every commitment here is whole.
    commitments = np.unique(net.line_commitment[sel_lines])
    row_of = np.full(len(net.commitment_units), -1, dtype=np.int64)
    row_of[commitments] = np.arange(len(commitments))
    keys = np.where(net.line_commitment[lines] >= 0, row_of[net.line_commitment[lines]], -1)
    keep = keys >= 0
    return _grouped_rows(
        CUSTOMER_MINIMUM_FILL,
        keys[keep],
        np.flatnonzero(keep).astype(np.int64),
        np.ones(int(keep.sum())),
        net.commitment_units[commitments],
        np.full(len(commitments), INF),
        net.commitment_line[commitments],
    )


def add_locked(net: Network, m: Model) -> RowBlock:
    """Σ units to a line ≥ the quantity already committed to it (kept by every plan)."""
    return _lower_bound_rows(LOCKED, net, m, net.line_locked)


def _lower_bound_rows(family: str, net: Network, m: Model, bound: FloatArray) -> RowBlock:
    lines = net.arc_line[m.arcs]
    # Filter before the unique: most lines have no such bound (then there is nothing to sort).
    everyone = np.concatenate([lines, m.lines])
    subjects = np.unique(everyone[bound[everyone] > 0]).astype(np.int64)
    if len(subjects) == 0:
        return _empty(family)
    row_of = np.full(net.n_lines, -1, dtype=np.int64)
    row_of[subjects] = np.arange(len(subjects))
    keys = row_of[lines]
    keep = keys >= 0
    return _grouped_rows(
        family,
        keys[keep],
        np.flatnonzero(keep).astype(np.int64),
        np.ones(int(keep.sum())),
        bound[subjects],
        np.full(len(subjects), INF),
        subjects,
    )


def add_protected_share(net: Network, m: Model) -> RowBlock:
    """Σ units lower tiers draw from a node ≤ supply − the share reserved for higher tiers."""
    lines = net.arc_line[m.arcs]
    nodes = net.arc_node[m.arcs]
    keys: list[IntArray] = []
    cols: list[IntArray] = []
    subjects: list[int] = []
    extra: list[int] = []
    upper: list[float] = []
    for r in range(net.protect_limit.shape[0]):
        lim = net.protect_limit[r]
        take = np.isfinite(lim[nodes]) & (net.line_rank[lines] > r)
        if not take.any():
            continue
        uniq, inv = np.unique(nodes[take], return_inverse=True)
        keys.append(inv.astype(np.int64) + len(subjects))
        cols.append(np.flatnonzero(take).astype(np.int64))
        subjects += [int(u) for u in uniq]
        extra += [r] * len(uniq)
        upper += [float(lim[u]) for u in uniq]
    if not subjects:
        return _empty(PROTECTED_SHARE)
    k = np.concatenate(keys)
    c = np.concatenate(cols)
    return _grouped_rows(
        PROTECTED_SHARE,
        k,
        c,
        np.ones(len(c)),
        np.full(len(subjects), -INF),
        np.array(upper, dtype=np.float64),
        np.array(subjects, dtype=np.int64),
        np.array(extra, dtype=np.int64),
    )


def _empty(family: str) -> RowBlock:
    z = np.zeros(0, dtype=np.int64)
    f = np.zeros(0, dtype=np.float64)
    return RowBlock(family, z, f, f, np.zeros(1, dtype=np.int64), z, f)


#: The constraint families, in the order rows are added.
FAMILIES = (
    add_supply_per_sku_location,
    add_supply_per_po_line,
    add_open_quantity,
    add_all_or_nothing,
    add_minimum_fill,
    add_customer_minimum_fill,
    add_protected_share,
    add_locked,
)


def build_model(
    net: Network,
    arcs: IntArray,
    lines: IntArray,
    *,
    integer: bool,
    integer_units: bool = False,
    fixed_groups: dict[int, float] | None = None,
    drop_all_or_nothing: bool = False,
) -> Model:
    """Variables and every constraint family for the lines ``lines`` and arcs ``arcs``.

    Parameters
    ----------
    arcs, lines
        The selection (a union of whole components), global indices.
    integer
        All-or-nothing choices are binary (a MIP); else an LP.
    integer_units
        Units are integer too (only needed when the LP optimum is fractional).
    fixed_groups
        All-or-nothing choices fixed at these values (the LP re-solve that yields duals).
    drop_all_or_nothing
        Leave the all-or-nothing rows out (the relaxation that proposes which orders ship).
    """
    groups = np.unique(net.line_group[lines])
    groups = groups[groups >= 0].astype(np.int64)
    if drop_all_or_nothing:
        groups = groups[:0]
    arc_upper = net.line_quantity[net.arc_line[arcs]]
    group_upper = np.ones(len(groups))
    group_lower = np.zeros(len(groups))
    if fixed_groups:
        for k, g in enumerate(groups):
            if int(g) in fixed_groups:
                group_lower[k] = group_upper[k] = fixed_groups[int(g)]
    m = Model(
        arcs=arcs,
        groups=groups,
        cost=np.concatenate([net.arc_gain[arcs], np.zeros(len(groups))]),
        col_upper=np.concatenate([arc_upper, group_upper]),
        integer=np.concatenate(
            [np.full(len(arcs), integer_units), np.full(len(groups), integer)]
        ).astype(np.bool_),
        col_lower=np.concatenate([np.zeros(len(arcs)), group_lower]),
        lines=lines,
    )
    m.blocks = [family(net, m) for family in FAMILIES]
    return m


def model_lp_arrays(
    m: Model,
) -> tuple[FloatArray, FloatArray, IntArray, IntArray, FloatArray]:
    """All rows stacked: (lower, upper, starts, index, value)."""
    blocks: Sequence[RowBlock] = [b for b in m.blocks if b.n_rows]
    if not blocks:
        return (
            np.zeros(0),
            np.zeros(0),
            np.zeros(1, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            np.zeros(0),
        )
    lower = np.concatenate([b.lower for b in blocks])
    upper = np.concatenate([b.upper for b in blocks])
    index = np.concatenate([b.index for b in blocks])
    value = np.concatenate([b.value for b in blocks])
    starts_parts = [np.zeros(1, dtype=np.int64)]
    offset = 0
    for b in blocks:
        starts_parts.append(b.starts[1:] + offset)
        offset += int(b.starts[-1])
    return lower, upper, np.concatenate(starts_parts), index, value

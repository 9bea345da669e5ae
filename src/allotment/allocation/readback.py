"""Step 5: read the solution back as a plan a person can act on.

Per line: what it got, from where, when it arrives and — when it got less than it asked for — a
plain reason naming the binding constraint and, from the duals, what one more unit would be
worth. Per supply: the shadow price (USD per unit), the money argument for expediting.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from allotment.allocation.model import (
    ALL_OR_NOTHING,
    ON_HAND,
    PROTECTED_SHARE,
    SUPPLY_ON_HAND,
    SUPPLY_PO_LINE,
    FloatArray,
    IntArray,
    Network,
)
from allotment.allocation.problem import TIER_ORDER

_TOL = 1e-6


@dataclass(frozen=True)
class RowValues:
    """Solved rows of one constraint family (activity and dual per row)."""

    family: str
    subject: IntArray
    extra: IntArray
    lower: FloatArray
    upper: FloatArray
    activity: FloatArray
    dual: FloatArray


@dataclass(frozen=True)
class ComponentIssue:
    """A component that is infeasible, fell back to greedy, or was solved without minimum fill.

    ``lines`` are positions in ``problem.lines``; ``conflicts`` names the constraints.
    """

    kind: str  # "infeasible" | "fallback" | "relaxed" | "time_limit" | "heuristic"
    component: int
    lines: list[int]
    detail: str
    conflicts: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready, with the number of lines instead of their positions."""
        return {
            "kind": self.kind,
            "lines": len(self.lines),
            "detail": self.detail,
            "conflicts": self.conflicts[:50],
        }


@dataclass(slots=True)
class PlanRow:
    """Units of one source promised to one line (money in USD per unit).

    The three record types of a result are plain slotted dataclasses, not frozen ones: a 100k-line
    plan builds about 250k of them, and a frozen dataclass is four times slower to construct
    (each field goes through ``object.__setattr__``). Treat them as read-only.
    """

    line_id: int
    line: str
    source_kind: str  # "on_hand" or "po_line"
    source: str  # "SKU@LOCATION" or "PO line <id>"
    location: str  # where the supply is
    po_line_id: int | None
    sku: str  # the SKU shipped (differs from the line's for a substitute)
    substitute: bool
    quantity: int
    arrival: str  # expected arrival at the line's location (ISO date)
    unit_gain: float
    unit_transfer_cost: float
    unit_substitution_cost: float
    unit_lateness_cost: float


@dataclass(slots=True)
class LineOutcome:
    """What a line asked for and got; ``reason`` and ``binding`` explain a shortfall."""

    line_id: int
    line: str
    customer_id: int
    tier: str
    sku: str
    location: str
    requested: int
    allocated: int
    from_stock: int  # on hand now (here or by transfer): can ship now
    in_transit: int  # reserved on open PO lines
    shortfall: int
    value: float  # USD: unit value × allocated
    gain: float  # USD: this line's part of the objective
    reason: str = ""
    binding: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ShadowPrice:
    """The value of one more unit of a supply (USD per unit) and how much of it is used."""

    kind: str  # "sku_location" or "po_line"
    sku: str
    location: str
    po_line_id: int | None
    usd_per_unit: float
    capacity: int
    used: int


@dataclass(frozen=True)
class AllocationResult:
    """The outcome of :func:`allotment.allocation.solve.solve`.

    ``status`` is ``optimal`` (every component solved to optimality), ``relaxed`` (some
    components were solved without their minimum fill), ``time_limit`` (a MIP component stopped
    at the time limit with a feasible plan, at least as good as greedy's), ``heuristic`` (a
    large all-or-nothing component: greedy chose its orders, the LP the rest), ``fallback`` (some
    components got the greedy plan) or ``infeasible`` (some components have no plan;
    ``issues`` names the conflicting constraints; the other components still have theirs).
    """

    status: str
    objective: float
    plan: list[PlanRow]
    lines: list[LineOutcome]
    binding_rows: list[tuple[str, int, int]]  # (family, subject, extra) of every binding row
    shadow_prices: list[ShadowPrice]
    issues: list[ComponentIssue]
    stats: dict[str, float]
    network: Network
    flows: FloatArray

    def binding(self, limit: int | None = None) -> list[str]:
        """Names of the binding constraints (rows at a bound with a non-zero dual)."""
        rows = self.binding_rows[:limit]
        return [self.network.row_name(f, s, e) for f, s, e in rows]

    @property
    def conflicts(self) -> list[str]:
        """Every constraint named by an infeasible component."""
        return [c for i in self.issues if i.kind == "infeasible" for c in i.conflicts]

    def line(self, line_id: int) -> LineOutcome:
        """The outcome of one line by its id."""
        for outcome in self.lines:
            if outcome.line_id == line_id:
                return outcome
        raise KeyError(line_id)

    def shadow_price(self, sku: str, location: str) -> float:
        """USD per unit of one more unit of ``sku`` at ``location`` (0 when not modelled)."""
        for sp in self.shadow_prices:
            if sp.kind == "sku_location" and sp.sku == sku and sp.location == location:
                return sp.usd_per_unit
        return 0.0

    def to_dict(self, *, top: int | None = None) -> dict[str, Any]:
        """JSON-ready; ``top`` limits the lines, binding names and shadow prices listed."""
        short = [o for o in self.lines if o.shortfall > 0]
        return {
            "status": self.status,
            "objective_usd": round(self.objective, 2),
            "stats": self.stats,
            "issues": [i.summary() for i in self.issues[:top]],
            "plan": [asdict(p) for p in self.plan[:top]],
            "lines_short": [asdict(o) for o in short[:top]],
            "binding": self.binding(top),
            "shadow_prices": [asdict(s) for s in self.shadow_prices[:top]],
        }


def _status(issues: list[ComponentIssue]) -> str:
    kinds = {i.kind for i in issues}
    for kind in ("infeasible", "fallback", "relaxed", "time_limit", "heuristic"):
        if kind in kinds:
            return kind
    return "optimal"


def _money(v: float) -> str:
    return f"${v:,.2f}"


class _Texts:
    """Names and sentences about supply nodes, each built once (many lines share a node)."""

    def __init__(
        self,
        net: Network,
        node_dual: FloatArray,
        used: FloatArray,
        min_weight_taker: FloatArray,
    ) -> None:
        self.net = net
        self.node_dual = node_dual
        self.used = used
        self.min_weight_taker = min_weight_taker.tolist()  # read one node at a time
        self._supply: dict[int, str] = {}
        self._supply_text: dict[tuple[int, bool], str] = {}
        self._guard: dict[tuple[int, int], tuple[str, str]] = {}

    def node_name(self, n: int) -> str:
        return self.net.node_names[n]

    def supply_name(self, n: int) -> str:
        """The supply row of node ``n``."""
        if n not in self._supply:
            family = SUPPLY_ON_HAND if self.net.node_kind[n] == ON_HAND else SUPPLY_PO_LINE
            self._supply[n] = self.net.row_name(family, n)
        return self._supply[n]

    def supply_text(self, n: int, weight: float) -> str:
        """Why a line of priority ``weight`` got nothing more from node ``n`` (exhausted)."""
        higher = bool(self.min_weight_taker[n] >= weight)
        key = (n, higher)
        if key in self._supply_text:
            return self._supply_text[key]
        net, p = self.net, self.net.problem
        cap = int(net.node_capacity[n])
        whom = "higher-priority lines" if higher else "lines that earn more per unit from it"
        if net.node_kind[n] == ON_HAND:
            sku, loc = net.skus[net.node_sku[n]], net.node_location[n]
            head = f"{sku} at {loc}: " + (
                f"all {cap} units went to {whom}" if cap > 0 else "no free stock"
            )
        else:
            eta = p.today + timedelta(days=int(net.node_available[n]))
            head = f"PO line {net.node_po_line[n]} (arriving {eta}): " + (
                f"all {cap} units went to {whom}" if cap > 0 else "nothing open"
            )
        d = self.node_dual[n]
        if math.isfinite(d) and d > _TOL:
            head += f"; one more unit is worth {_money(d)}"
        self._supply_text[key] = head
        return head

    def guard(self, r: int, n: int) -> tuple[str, str]:
        """Name and text of the protected-share row of tier rank ``r`` at node ``n``."""
        if (r, n) not in self._guard:
            share = float(self.net.protect_reserved[r, n])
            self._guard[(r, n)] = (
                self.net.row_name(PROTECTED_SHARE, n, r),
                f"{self.node_name(n)}: {share:.0f} units are reserved for"
                f" {'/'.join(TIER_ORDER[: r + 1])} lines by the protected share",
            )
        return self._guard[(r, n)]


def _binding_names(
    net: Network,
    texts: _Texts,
    arcs: IntArray,
    owner: IntArray,
    position: IntArray,
    n_short: int,
    protected: npt.NDArray[np.bool_],
) -> tuple[list[list[str]], list[tuple[int, int] | None], list[int]]:
    """Per short line: the binding rows on its profitable sources, in order.

    ``arcs`` are the short lines' arcs, most profitable first within a line; ``owner`` is the
    short line (0..n_short-1) of each arc, ``position`` its place in that line's arcs. A
    protected-share row at its limit is named before exhausted supplies (it is the more specific
    reason why a lower tier stopped). Returns (names, first guard (rank, node) or None, first
    exhausted node or -1) per short line.
    """
    nodes = net.arc_node[arcs]
    profitable = net.arc_gain[arcs] > _TOL
    exhausted = texts.used[nodes] >= net.node_capacity[nodes] - _TOL
    rank = net.line_rank[net.arc_line[arcs]]
    parts: list[tuple[IntArray, IntArray]] = []  # (entry mask → arc index, rank or -1)
    for r in range(protected.shape[0]):
        take = np.flatnonzero(profitable & (rank > r) & protected[r, nodes])
        if len(take):
            parts.append((take, np.full(len(take), r, dtype=np.int64)))
    take = np.flatnonzero(profitable & exhausted)
    parts.append((take, np.full(len(take), -1, dtype=np.int64)))
    entry_arc = np.concatenate([a for a, _ in parts])
    entry_rank = np.concatenate([r for _, r in parts])
    is_supply = (entry_rank < 0).astype(np.int64)
    order = np.lexsort((entry_rank, position[entry_arc], is_supply, owner[entry_arc]))
    entry_arc, entry_rank, is_supply = entry_arc[order], entry_rank[order], is_supply[order]
    entry_node = nodes[entry_arc]
    entry_owner = owner[entry_arc]
    # One name per distinct row, then a list per line by slicing.
    key = (entry_rank + 1) * net.n_nodes + entry_node
    uniq, inverse = np.unique(key, return_inverse=True)
    n_nodes = net.n_nodes
    uniq_names = [
        texts.supply_name(k) if k < n_nodes else texts.guard(k // n_nodes - 1, k % n_nodes)[0]
        for k in uniq.tolist()
    ]
    names_all = np.array(uniq_names, dtype=object)[inverse].tolist()
    bounds = np.searchsorted(entry_owner, np.arange(n_short + 1)).tolist()
    names = [names_all[bounds[k] : bounds[k + 1]] for k in range(n_short)]
    first_guard: list[tuple[int, int] | None] = [None] * n_short
    first_supply = [-1] * n_short
    kinds = entry_owner * 2 + is_supply
    _, first = np.unique(kinds, return_index=True)
    for k, supply, r, n in zip(
        entry_owner[first].tolist(),
        is_supply[first].tolist(),
        entry_rank[first].tolist(),
        entry_node[first].tolist(),
        strict=True,
    ):
        if supply:
            first_supply[k] = n
        else:
            first_guard[k] = (r, n)
    return names, first_guard, first_supply


def _shortfall_reasons(
    net: Network,
    short: IntArray,
    line_units: FloatArray,
    texts: _Texts,
    protected: npt.NDArray[np.bool_],
    issues: list[ComponentIssue],
) -> list[tuple[str, list[str]]]:
    """A plain reason and the binding rows for every line in ``short`` (it got less than asked).

    Vectorised over the short lines' arcs; only the sentences are built per line.
    """
    p = net.problem
    starts, by_line = net.arcs_by_line
    count = starts[short + 1] - starts[short]
    owner = np.repeat(np.arange(len(short), dtype=np.int64), count)
    position = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(count) - count, count
    )
    arcs = by_line[starts[short][owner] + position]
    cap = net.node_capacity
    some_stock = np.bincount(
        owner, weights=(cap[net.arc_node[arcs]] > 0).astype(np.float64), minlength=len(short)
    )
    n_profitable = np.bincount(
        owner, weights=(net.arc_gain[arcs] > _TOL).astype(np.float64), minlength=len(short)
    )
    first_arc = np.where(
        count > 0, by_line[np.minimum(starts[short], max(0, len(by_line) - 1))], -1
    )
    names, first_guard, first_supply = _binding_names(
        net, texts, arcs, owner, position, len(short), protected
    )
    issue_of: dict[int, ComponentIssue] = {}
    for each in issues:
        for i in each.lines:
            issue_of[i] = each
    subs_without_consent: dict[str, list[str]] = {}
    for sub in p.substitutes:
        subs_without_consent.setdefault(sub.sku, []).append(sub.substitute_sku)
    group = net.line_group.tolist()
    # Plain lists: the loop below reads one element at a time (numpy scalars are slow there).
    first_arc_l, some_stock_l = first_arc.tolist(), some_stock.tolist()
    n_profitable_l, short_units = n_profitable.tolist(), line_units[short].tolist()
    out: list[tuple[str, list[str]]] = []
    for k, i in enumerate(short.tolist()):
        line = p.lines[i]
        issue = issue_of.get(i)
        if issue is not None and issue.kind == "infeasible":
            out.append(
                (
                    "infeasible: these constraints cannot all hold: " + "; ".join(issue.conflicts),
                    list(issue.conflicts),
                )
            )
            continue
        prefix = "greedy fallback (solver stopped): " if issue and issue.kind == "fallback" else ""
        a0 = first_arc_l[k]
        if a0 < 0 or some_stock_l[k] == 0:
            subs = subs_without_consent.get(line.sku, [])
            extra = (
                f"; substitute {', '.join(subs)} needs the customer's consent"
                if subs and not line.substitution_consent
                else ""
            )
            dual = texts.node_dual[net.arc_node[a0]] if a0 >= 0 else math.nan
            worth = f"; one more unit is worth {_money(dual)}" if dual > _TOL else ""
            out.append(
                (
                    f"{prefix}no supply of {line.sku} can reach {line.location} (no free stock,"
                    f" no open PO line, no transfer lane){extra}{worth}",
                    [texts.supply_name(int(net.arc_node[a0]))] if a0 >= 0 else [],
                )
            )
        elif group[i] >= 0 and short_units[k] < _TOL:
            out.append(
                (
                    f"{prefix}all-or-nothing: the customer takes order {line.order_id} complete"
                    " or not at all, and the supply left cannot complete it at a profit",
                    [net.row_name(ALL_OR_NOTHING, i)],
                )
            )
        elif n_profitable_l[k] == 0:
            cost = float(net.arc_transfer[a0] + net.arc_substitution[a0] + net.arc_lateness[a0])
            out.append(
                (
                    f"{prefix}not worth it: the best source costs {_money(cost)} per unit"
                    f" (transfer, substitution, lateness), more than the line's priority"
                    f" {_money(line.priority_weight)} per unit",
                    [],
                )
            )
        else:
            guard, supply = first_guard[k], first_supply[k]
            if guard is not None:
                first = texts.guard(*guard)[1]
            elif supply >= 0:
                first = texts.supply_text(supply, line.priority_weight)
            else:
                out.append((f"{prefix}kept short by other constraints of its component", []))
                continue
            more = f" (and {len(names[k]) - 1} more)" if len(names[k]) > 1 else ""
            out.append((prefix + first + more, names[k]))
    return out


def read_back(
    net: Network,
    flows: FloatArray,
    rows: list[RowValues],
    issues: list[ComponentIssue],
    *,
    seconds: float,
    build_seconds: float,
    n_components: int,
    mip_components: int,
    integer_resolves: int,
    solver_calls: int,
) -> AllocationResult:
    """Turn flows and solved rows into the plan, line outcomes, reasons and shadow prices."""
    p = net.problem
    node_dual = np.full(net.n_nodes, math.nan)
    # protected[r, n]: the protected-share row of tier rank r at node n is at its limit.
    protected = np.zeros(net.protect_limit.shape, dtype=np.bool_)
    binding: list[tuple[str, int, int]] = []
    for rv in rows:
        at_bound = (np.abs(rv.activity - rv.upper) <= _TOL) | (
            np.abs(rv.activity - rv.lower) <= _TOL
        )
        hit = np.flatnonzero(at_bound & (np.abs(rv.dual) > _TOL))
        binding += zip(
            [rv.family] * len(hit), rv.subject[hit].tolist(), rv.extra[hit].tolist(), strict=True
        )
        if rv.family in (SUPPLY_ON_HAND, SUPPLY_PO_LINE):
            node_dual[rv.subject] = rv.dual
        elif rv.family == PROTECTED_SHARE:
            full = rv.activity >= rv.upper - _TOL
            protected[rv.extra[full], rv.subject[full]] = True

    # (bincount with weights is float64 already; astype only tells the type checker)
    used = np.bincount(net.arc_node, weights=flows, minlength=net.n_nodes).astype(
        np.float64, copy=False
    )
    line_units = np.bincount(net.arc_line, weights=flows, minlength=net.n_lines).astype(
        np.float64, copy=False
    )
    on_hand_arc = net.node_kind[net.arc_node] == ON_HAND
    from_stock = np.bincount(net.arc_line, weights=flows * on_hand_arc, minlength=net.n_lines)
    gains = np.bincount(net.arc_line, weights=flows * net.arc_gain, minlength=net.n_lines)
    # The best weight among lines that took units of each node: "higher-priority" or not.
    min_weight_taker = np.full(net.n_nodes, math.inf)
    took = flows > 0.5
    np.minimum.at(min_weight_taker, net.arc_node[took], net.line_weight[net.arc_line[took]])
    texts = _Texts(net, node_dual, used, min_weight_taker)

    chosen = np.flatnonzero(flows > 0.5)
    kinds = net.node_kind.tolist()
    node_loc = net.node_location
    node_po = net.node_po_line.tolist()
    node_sku_name = [net.skus[k] for k in net.node_sku.tolist()]
    line_names = [ln.name for ln in p.lines]
    line_ids = [ln.line_id for ln in p.lines]
    node_names = net.node_names
    # Arrival dates: whole days from today (rounded up), each date written once.
    days = np.ceil(net.arc_arrival[chosen] - 1e-9).astype(np.int64)
    uniq_days, day_of = np.unique(days, return_inverse=True)
    day_texts = [(p.today + timedelta(days=d)).isoformat() for d in uniq_days.tolist()]
    # Positional arguments, in PlanRow's field order (the fastest way to build 100k rows).
    plan = [
        PlanRow(
            line_ids[i],
            line_names[i],
            "on_hand" if kinds[n] == ON_HAND else "po_line",
            node_names[n],
            node_loc[n],
            None if kinds[n] == ON_HAND else node_po[n],
            node_sku_name[n],
            sub,
            qty,
            day_texts[d],
            gain,
            transfer,
            substitution,
            lateness,
        )
        for i, n, sub, qty, d, gain, transfer, substitution, lateness in zip(
            net.arc_line[chosen].tolist(),
            net.arc_node[chosen].tolist(),
            net.arc_substitute[chosen].tolist(),
            np.round(flows[chosen]).astype(np.int64).tolist(),
            day_of.tolist(),
            np.round(net.arc_gain[chosen], 4).tolist(),
            np.round(net.arc_transfer[chosen], 4).tolist(),
            np.round(net.arc_substitution[chosen], 4).tolist(),
            np.round(net.arc_lateness[chosen], 4).tolist(),
            strict=True,
        )
    ]

    units_l = np.round(line_units).astype(np.int64).tolist()
    short = np.flatnonzero(np.round(line_units) < net.line_quantity).astype(np.int64)
    reasons = dict(
        zip(
            short.tolist(),
            _shortfall_reasons(net, short, line_units, texts, protected, issues),
            strict=True,
        )
    )
    stock_l = np.round(from_stock).astype(np.int64).tolist()
    gains_l = np.round(gains, 4).tolist()
    outcomes = [
        LineOutcome(
            line.line_id,
            line_names[i],
            line.customer_id,
            line.tier,
            line.sku,
            line.location,
            line.quantity,
            got,
            stock_l[i],
            got - stock_l[i],
            line.quantity - got,
            round(line.unit_value * got, 2),
            gains_l[i],
            *(reasons.get(i) or ("", [])),
        )
        for i, (line, got) in enumerate(zip(p.lines, units_l, strict=True))
    ]

    # Highest price first; ties by SKU, location and PO line (ranks of the names, so the sort
    # runs on arrays).
    priced = np.flatnonzero(np.isfinite(node_dual))
    dual = np.round(np.maximum(0.0, node_dual[priced]), 4)
    sku_rank = np.argsort(np.argsort(np.array(net.skus, dtype=object)))
    location_rank = {x: r for r, x in enumerate(sorted(set(node_loc)))}
    loc_rank = np.array([location_rank[x] for x in node_loc], dtype=np.int64)
    priced = priced[
        np.lexsort(
            (
                np.maximum(net.node_po_line[priced], 0),
                loc_rank[priced],
                sku_rank[net.node_sku[priced]],
                -dual,
            )
        )
    ]
    cap_l = net.node_capacity.tolist()
    dual_l = np.round(np.maximum(0.0, np.nan_to_num(node_dual)), 4).tolist()
    used_int = np.round(used).astype(np.int64).tolist()
    prices = [
        ShadowPrice(
            "sku_location" if kinds[n] == ON_HAND else "po_line",
            node_sku_name[n],
            node_loc[n],
            None if kinds[n] == ON_HAND else node_po[n],
            dual_l[n],
            int(cap_l[n]),
            used_int[n],
        )
        for n in priced.tolist()
    ]
    stats: dict[str, float] = {
        "seconds": round(seconds, 4),
        "build_seconds": round(build_seconds, 4),
        "lines": net.n_lines,
        "supply_nodes": net.n_nodes,
        "variables": net.n_arcs,
        "components": n_components,
        "mip_components": mip_components,
        "integer_resolves": integer_resolves,
        "solver_calls": solver_calls,
    }
    return AllocationResult(
        status=_status(issues),
        objective=float(np.dot(net.arc_gain, flows)),
        plan=plan,
        lines=outcomes,
        binding_rows=binding,
        shadow_prices=prices,
        issues=issues,
        stats=stats,
        network=net,
        flows=flows,
    )

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


@dataclass(frozen=True)
class PlanRow:
    """Units of one source promised to one line (money in USD per unit)."""

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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    # (tier rank, node) of every protected-share row at its limit.
    protected: set[tuple[int, int]] = set()
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
            protected.update(zip(rv.extra[full].tolist(), rv.subject[full].tolist(), strict=True))

    used = np.bincount(net.arc_node, weights=flows, minlength=net.n_nodes)
    line_units = np.bincount(net.arc_line, weights=flows, minlength=net.n_lines)
    on_hand_arc = net.node_kind[net.arc_node] == ON_HAND
    from_stock = np.bincount(net.arc_line, weights=flows * on_hand_arc, minlength=net.n_lines)
    gains = np.bincount(net.arc_line, weights=flows * net.arc_gain, minlength=net.n_lines)
    starts, order = net.arcs_by_line
    # The best weight among lines that took units of each node: "higher-priority" or not.
    min_weight_taker = np.full(net.n_nodes, math.inf)
    took = flows > 0.5
    np.minimum.at(min_weight_taker, net.arc_node[took], net.line_weight[net.arc_line[took]])

    issue_of: dict[int, ComponentIssue] = {}
    for issue in issues:
        for i in issue.lines:
            issue_of[i] = issue
    subs_without_consent: dict[str, list[str]] = {}
    for sub in p.substitutes:
        subs_without_consent.setdefault(sub.sku, []).append(sub.substitute_sku)

    day_text: dict[int, str] = {}

    def arrival_text(days: float) -> str:
        d = math.ceil(days - 1e-9)
        if d not in day_text:
            day_text[d] = (p.today + timedelta(days=d)).isoformat()
        return day_text[d]

    node_names: dict[int, str] = {}

    def node_name(n: int) -> str:
        if n not in node_names:
            node_names[n] = net.node_name(n)
        return node_names[n]

    plan: list[PlanRow] = []
    chosen = np.flatnonzero(flows > 0.5)
    kinds = net.node_kind.tolist()
    node_loc = net.node_location
    node_po = net.node_po_line.tolist()
    node_sku_name = [net.skus[k] for k in net.node_sku.tolist()]
    a_line = net.arc_line[chosen].tolist()
    a_node = net.arc_node[chosen].tolist()
    a_sub = net.arc_substitute[chosen].tolist()
    a_qty = np.round(flows[chosen]).astype(np.int64).tolist()
    a_arr = net.arc_arrival[chosen].tolist()
    a_gain = np.round(net.arc_gain[chosen], 4).tolist()
    a_tr = np.round(net.arc_transfer[chosen], 4).tolist()
    a_su = np.round(net.arc_substitution[chosen], 4).tolist()
    a_la = np.round(net.arc_lateness[chosen], 4).tolist()
    for k in range(len(chosen)):
        line = p.lines[a_line[k]]
        n = a_node[k]
        is_stock = kinds[n] == ON_HAND
        plan.append(
            PlanRow(
                line_id=line.line_id,
                line=line.name,
                source_kind="on_hand" if is_stock else "po_line",
                source=node_name(n),
                location=node_loc[n],
                po_line_id=None if is_stock else node_po[n],
                sku=node_sku_name[n],
                substitute=a_sub[k],
                quantity=a_qty[k],
                arrival=arrival_text(a_arr[k]),
                unit_gain=a_gain[k],
                unit_transfer_cost=a_tr[k],
                unit_substitution_cost=a_su[k],
                unit_lateness_cost=a_la[k],
            )
        )

    node_l = net.arc_node.tolist()
    gain_l = net.arc_gain.tolist()
    rank_l = net.line_rank.tolist()
    cap_l = net.node_capacity.tolist()
    used_l = used.tolist()
    min_taker_l = min_weight_taker.tolist()
    supply_names: dict[int, str] = {}
    supply_texts: dict[tuple[int, bool], str] = {}

    def supply_name(n: int) -> str:
        if n not in supply_names:
            family = SUPPLY_ON_HAND if net.node_kind[n] == ON_HAND else SUPPLY_PO_LINE
            supply_names[n] = net.row_name(family, n)
        return supply_names[n]

    def supply_text(n: int, higher: bool) -> str:
        """Why a line got nothing more from node ``n`` (which is exhausted)."""
        key = (n, higher)
        if key in supply_texts:
            return supply_texts[key]
        cap = int(cap_l[n])
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
        d = node_dual[n]
        if math.isfinite(d) and d > _TOL:
            head += f"; one more unit is worth {_money(d)}"
        supply_texts[key] = head
        return head

    guards: dict[tuple[int, int], tuple[str, str]] = {}

    def guard(r: int, n: int) -> tuple[str, str]:
        """Name and text of the protected-share row of tier rank ``r`` at node ``n``."""
        if (r, n) not in guards:
            share = float(net.protect_reserved[r, n])
            guards[(r, n)] = (
                net.row_name(PROTECTED_SHARE, n, r),
                f"{node_name(n)}: {share:.0f} units are reserved for"
                f" {'/'.join(TIER_ORDER[: r + 1])} lines by the protected share",
            )
        return guards[(r, n)]

    def why(i: int) -> tuple[str, list[str]]:
        line = p.lines[i]
        issue = issue_of.get(i)
        if issue is not None and issue.kind == "infeasible":
            return (
                "infeasible: these constraints cannot all hold: " + "; ".join(issue.conflicts),
                list(issue.conflicts),
            )
        prefix = "greedy fallback (solver stopped): " if issue and issue.kind == "fallback" else ""
        arcs = order[starts[i] : starts[i + 1]]
        if len(arcs) == 0 or all(cap_l[node_l[a]] <= 0 for a in arcs.tolist()):
            subs = subs_without_consent.get(line.sku, [])
            extra = (
                f"; substitute {', '.join(subs)} needs the customer's consent"
                if subs and not line.substitution_consent
                else ""
            )
            dual = node_dual[net.arc_node[arcs[0]]] if len(arcs) else math.nan
            worth = f"; one more unit is worth {_money(dual)}" if dual > _TOL else ""
            return (
                f"{prefix}no supply of {line.sku} can reach {line.location} (no free stock, no"
                f" open PO line, no transfer lane){extra}{worth}",
                [net.row_name(SUPPLY_ON_HAND, int(net.arc_node[arcs[0]]))] if len(arcs) else [],
            )
        if net.line_group[i] >= 0 and line_units[i] < _TOL:
            return (
                f"{prefix}all-or-nothing: the customer takes order {line.order_id} complete or not"
                " at all, and the supply left cannot complete it at a profit",
                [net.row_name(ALL_OR_NOTHING, i)],
            )
        names: list[str] = []
        guard_names: list[str] = []
        first_supply: tuple[int, bool] | None = None
        first_guard: tuple[int, int] | None = None
        profitable = [a for a in arcs.tolist() if gain_l[a] > _TOL]
        weight = line.priority_weight
        for a in profitable:
            n = node_l[a]
            if protected:
                for r in range(rank_l[i]):
                    if (r, n) in protected:
                        guard_names.append(guard(r, n)[0])
                        first_guard = first_guard or (r, n)
            if used_l[n] >= cap_l[n] - _TOL:
                names.append(supply_name(n))
                first_supply = first_supply or (n, min_taker_l[n] >= weight)
        # A reserve that binds is the more specific reason: it names why a lower tier stopped.
        names = guard_names + names
        if first_guard is not None:
            first = guard(*first_guard)[1]
        elif first_supply is not None:
            first = supply_text(*first_supply)
        else:
            first = ""
        if not profitable:
            best = int(arcs[0])
            cost = float(
                net.arc_transfer[best] + net.arc_substitution[best] + net.arc_lateness[best]
            )
            return (
                f"{prefix}not worth it: the best source costs {_money(cost)} per unit"
                f" (transfer, substitution, lateness), more than the line's priority"
                f" {_money(line.priority_weight)} per unit",
                [],
            )
        if not first:
            return (f"{prefix}kept short by other constraints of its component", [])
        more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        return (prefix + first + more, names)

    outcomes: list[LineOutcome] = []
    units_l = np.round(line_units).astype(np.int64).tolist()
    stock_l = np.round(from_stock).astype(np.int64).tolist()
    gains_l = np.round(gains, 4).tolist()
    for i, line in enumerate(p.lines):
        got = units_l[i]
        reason, names = ("", []) if got >= line.quantity else why(i)
        outcomes.append(
            LineOutcome(
                line_id=line.line_id,
                line=line.name,
                customer_id=line.customer_id,
                tier=line.tier,
                sku=line.sku,
                location=line.location,
                requested=line.quantity,
                allocated=got,
                from_stock=stock_l[i],
                in_transit=got - stock_l[i],
                shortfall=line.quantity - got,
                value=round(line.unit_value * got, 2),
                gain=gains_l[i],
                reason=reason,
                binding=names,
            )
        )

    prices: list[ShadowPrice] = []
    dual_l = np.round(np.maximum(0.0, np.nan_to_num(node_dual)), 4).tolist()
    used_int = np.round(used).astype(np.int64).tolist()
    for n in np.flatnonzero(np.isfinite(node_dual)).tolist():
        is_stock = kinds[n] == ON_HAND
        prices.append(
            ShadowPrice(
                kind="sku_location" if is_stock else "po_line",
                sku=node_sku_name[n],
                location=node_loc[n],
                po_line_id=None if is_stock else node_po[n],
                usd_per_unit=dual_l[n],
                capacity=int(cap_l[n]),
                used=used_int[n],
            )
        )
    prices.sort(key=lambda s: (-s.usd_per_unit, s.sku, s.location, s.po_line_id or 0))
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

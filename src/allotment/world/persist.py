"""Write a stepped world to the database: one transaction, bulk Core inserts, explicit ids.

Ids are the world's array indexes plus one, so SQLite and PostgreSQL receive identical rows.
Timestamps are derived from the simulated day (and the hour of the step that produced the
event), never from the wall clock, so the same seed gives the same contents.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import JSON, Connection, Engine, Table, func, select, text

from allotment.audit import append_only
from allotment.domain.backorders import backorder_number
from allotment.domain.models import Base
from allotment.errors import AppError
from allotment.world.model import (
    CATEGORIES,
    GENERATOR_VERSION,
    MODES,
    ROOT_CAUSES,
    ST_RESOLVED,
    STATUSES,
    SUPPLIER_REGIONS,
    TIERS,
    World,
)
from allotment.world.policies import AGE_USD_PER_DAY, EMERGENCY_MULTIPLIER, TIER_MULTIPLIER

Arr = npt.NDArray[Any]
Columns = dict[str, Sequence[Any]]
ProgressFn = Callable[[str, int], None]

#: Rows per executemany batch.
CHUNK_ROWS = 20_000
#: Tables with fewer rows take the plain ``table.insert()`` path.
FAST_MIN_ROWS = 1_000
#: SQLite page cache during the bulk load (KiB).
SQLITE_CACHE_KIB = 256 * 1024
ACTOR = "world-generator"

_STATUS_REASONS = {
    0: "created",
    1: "supplier sent a new ETA",
    2: "partial shipment",
    3: "fully shipped",
    4: "overdue: escalated",
    5: "customer cancelled the line",
}
_ETA_REASONS = {
    -1: "order confirmed",
    0: "supplier delay",
    1: "quality hold at supplier",
    2: "carrier delay",
}
_BACKORDER_REASONS = {
    0: "PO line delayed by the supplier",
    1: "PO line held for a quality issue",
    2: "PO line delayed in transit",
    3: "demand above forecast: inbound supply arrives after the promised date",
    4: "out of stock: inbound supply arrives after the promised date",
    5: "other",
}
_NAME_A = (
    "Metro", "Apex", "Summit", "Harbor", "Prairie", "Granite", "Pioneer", "Keystone", "Atlas",
    "Cascade", "Beacon", "Frontier", "Iron", "Liberty", "Northern", "Pacific", "Redwood",
    "Sterling", "Tristate", "Valley",
)  # fmt: skip
_NAME_B = (
    "Manufacturing", "Industrial Services", "Fabrication", "Controls", "Automation",
    "Mechanical", "Process Systems", "Utilities", "Engineering", "Maintenance Co",
)  # fmt: skip
_MANAGERS = ("a.rivera", "b.chen", "c.okafor", "d.novak", "e.schmidt", "f.haddad")


class DatabaseNotEmptyError(AppError):
    """The target database already holds data and ``replace`` was not requested."""

    status_code = 409
    code = "database_not_empty"


# --- small converters ------------------------------------------------------------------------


class _Calendar:
    """Day index -> date / datetime, cached (millions of rows share a few hundred days)."""

    def __init__(self, start: date) -> None:
        self.start = start
        self._dates: dict[int, date] = {}
        self._times: dict[tuple[int, int], datetime] = {}

    def day_date(self, day: int) -> date:
        value = self._dates.get(day)
        if value is None:
            value = self.start + timedelta(days=day)
            self._dates[day] = value
        return value

    def dates(self, days: Arr) -> list[date]:
        return [self.day_date(d) for d in np.asarray(days).tolist()]

    def opt_dates(self, days: Arr, present: Arr) -> list[date | None]:
        return [
            self.day_date(d) if p else None
            for d, p in zip(days.tolist(), present.tolist(), strict=True)
        ]

    def stamp(self, day: int, hour: int) -> datetime:
        key = (day, hour)
        value = self._times.get(key)
        if value is None:
            value = datetime.combine(self.day_date(day), time(hour), tzinfo=UTC)
            self._times[key] = value
        return value

    def stamps(self, days: Arr, hours: Arr) -> list[datetime]:
        return [
            self.stamp(d, h)
            for d, h in zip(np.asarray(days).tolist(), np.asarray(hours).tolist(), strict=True)
        ]


def _money(cents: Arr) -> list[Decimal]:
    return [Decimal(c).scaleb(-2) for c in np.asarray(cents, dtype=np.int64).tolist()]


def _ids(n: int) -> list[int]:
    return list(range(1, n + 1))


def _opt_ids(idx: Arr) -> list[int | None]:
    return [i + 1 if i >= 0 else None for i in np.asarray(idx).tolist()]


def _pick(names: Sequence[str], codes: Arr) -> list[str]:
    return [names[c] for c in np.asarray(codes).tolist()]


# --- table builders --------------------------------------------------------------------------


def iter_tables(world: World, *, state_path: str | None) -> Iterator[dict[str, Columns]]:
    """Every table's rows as columns of plain Python values, a few tables at a time.

    Groups come in insert order (parents first); building them lazily keeps only one group's
    Python objects alive at a time, which matters for the ``large`` world.
    """
    cal = _Calendar(world.start)
    today = world.day
    yield {
        "locations": _locations(world),
        "suppliers": _suppliers(world),
        "customers": _customers(world, cal, today),
        "contracts": _contracts(world, cal, today),
        "products": _products(world),
        "product_substitutes": {
            "product_id": (world.sub_product + 1).tolist(),
            "substitute_id": (world.sub_substitute + 1).tolist(),
            "price_premium_rate": world.sub_premium.tolist(),
        },
        "inventory_positions": _inventory(world, cal, today),
    }
    yield _purchasing(world, cal, today)
    yield _orders(world, cal, today)
    yield _backorders(world, cal, today)
    yield {
        "sim_worlds": {
            "id": [1],
            "scale": [world.scale.name],
            "seed": [world.seed],
            "start_date": [world.start],
            "today": [cal.day_date(today)],
            "policy": ["+".join(world.policy_names) or "none"],
            "generator_version": [GENERATOR_VERSION],
            "params": [world.scale.as_params()],
            "state_path": [state_path],
            "created_at": [cal.stamp(today, 0)],
        },
        "sim_truths": _truths(world, cal, today),
    }


def build_tables(world: World, *, state_path: str | None) -> dict[str, Columns]:
    """All tables at once (see :func:`iter_tables`), keyed by table name."""
    tables: dict[str, Columns] = {}
    for group in iter_tables(world, state_path=state_path):
        tables.update(group)
    return tables


def expected_rows(world: World) -> int:
    """Rows :func:`iter_tables` will produce (for a progress bar), without building them."""
    truths = sum(len(f["subject"]) for f in truth_frames(world).values())
    return int(
        world.scale.n_locations
        + world.scale.n_suppliers
        + 1
        + world.scale.n_customers
        + world.contracts.n
        + world.scale.n_products
        + len(world.sub_product)
        + world.n_pairs
        + world.pos.n
        + world.pol.n
        + len(world.eta_log)
        + len(world.receipts)
        + world.orders.n
        + world.lines.n
        + len(world.shipments)
        + world.backorders.n
        + len(world.status_log)
        + 1
        + truths
    )


def _locations(world: World) -> Columns:
    n = world.scale.n_locations
    return {
        "id": _ids(n),
        "code": [f"WH-{i + 1:02d}" for i in range(n)],
        "name": [f"{world.loc_city[i]} DC" for i in range(n)],
        "region": list(world.loc_region),
    }


def _suppliers(world: World) -> Columns:
    # The last supplier is the spot market planners buy backordered lines from.
    n = world.scale.n_suppliers
    return {
        "id": _ids(n + 1),
        "code": [f"SUP-{i + 1:04d}" for i in range(n)] + ["SPOT"],
        "name": [f"{_NAME_A[(i * 7) % len(_NAME_A)]} Supply {i + 1}" for i in range(n)]
        + ["Spot market (alternate sources)"],
        "region": [*_pick(SUPPLIER_REGIONS, world.sup_region), "domestic"],
        "default_ship_mode": [*_pick(MODES, world.sup_mode), "air"],
        "lead_time_days": [*world.sup_lead.tolist(), 2],
    }


def _customers(world: World, cal: _Calendar, today: int) -> Columns:
    n = world.scale.n_customers
    churned = (world.cust_churn_day >= 0) & (world.cust_churn_day < today)
    tier = world.cust_tier
    return {
        "id": _ids(n),
        "code": [f"CUST-{i + 1:05d}" for i in range(n)],
        "name": [
            f"{_NAME_A[i % len(_NAME_A)]} {_NAME_B[(i // len(_NAME_A)) % len(_NAME_B)]} {i + 1}"
            for i in range(n)
        ],
        "tier": _pick(TIERS, tier),
        "account_manager": [
            _MANAGERS[i % len(_MANAGERS)] if t < 2 else None for i, t in enumerate(tier.tolist())
        ],
        "region": [world.loc_region[loc] for loc in world.cust_loc.tolist()],
        "lifetime_value": _money(world.cust_shipped_cents),
        "created_on": cal.dates(world.cust_created_day),
        "status": ["churned" if c else "active" for c in churned.tolist()],
        "churned_on": cal.opt_dates(world.cust_churn_day, churned),
    }


def _contracts(world: World, cal: _Calendar, today: int) -> Columns:
    c = world.contracts
    n = c.n
    churn_day = world.cust_churn_day[c["customer"]]
    churned = (churn_day >= 0) & (churn_day < today)
    current = np.zeros(n, dtype=bool)
    current[world.cust_contract] = True
    # A churned customer's current contract ends the day before they left.
    to_day = np.where(current & churned, np.maximum(churn_day - 1, c["from_day"]), c["to_day"])
    return {
        "id": _ids(n),
        "customer_id": (c["customer"] + 1).tolist(),
        "version": c["version"].tolist(),
        "sla_days": c["sla_days"].tolist(),
        "fill_rate_commitment": c["fill_rate"].tolist(),
        "penalty_rate_per_day": c["penalty_rate"].tolist(),
        "penalty_cap_rate": c["penalty_cap"].tolist(),
        "allows_partial_ship": c["partial_ok"].tolist(),
        "allows_substitution": c["subst_ok"].tolist(),
        "effective_from": cal.dates(c["from_day"]),
        "effective_to": cal.opt_dates(to_day, to_day >= c["from_day"]),
        "renewal_date": cal.dates(c["renewal_day"]),
    }


def _products(world: World) -> Columns:
    n = world.scale.n_products
    cat = world.prod_category
    return {
        "id": _ids(n),
        "sku": [f"SKU-{i + 1:06d}" for i in range(n)],
        "name": [
            f"{CATEGORIES[c][0].rstrip('s').title()} item {i + 1}"
            for i, c in enumerate(cat.tolist())
        ],
        "category": [CATEGORIES[c][0] for c in cat.tolist()],
        "unit_price": _money(world.prod_price_cents),
        "unit_cost": _money(world.prod_cost_cents),
        "supplier_id": (world.prod_supplier + 1).tolist(),
        "active": [True] * n,
    }


def _inventory(world: World, cal: _Calendar, today: int) -> Columns:
    # Units on the dock reserved for backordered lines are on hand and committed.
    held = np.zeros(world.n_pairs, dtype=np.int64)
    pol = world.pol
    np.add.at(held, pol["pair"], pol["held"])
    n = world.n_pairs
    stamp = cal.stamp(today, 0)
    return {
        "id": _ids(n),
        "product_id": (world.pair_product + 1).tolist(),
        "location_id": (world.pair_loc + 1).tolist(),
        "on_hand": (world.on_hand + held).tolist(),
        "committed": held.tolist(),
        "updated_at": [stamp] * n,
    }


def _po_line_status(pol: Any) -> Arr:
    received = pol["received"]
    qty = pol["qty"]
    return np.where(
        pol["cancelled"],
        "cancelled",
        np.where(received >= qty, "received", np.where(received > 0, "partially_received", "open")),
    )


def _purchasing(world: World, cal: _Calendar, today: int) -> dict[str, Columns]:
    pos, pol = world.pos, world.pol
    line_status = _po_line_status(pol)
    # Header status: all lines cancelled -> cancelled; all done -> received; any -> partial.
    n_po = pos.n
    po = pol["po"]
    n_lines = np.bincount(po, minlength=n_po)
    n_cancel = np.bincount(po, weights=pol["cancelled"], minlength=n_po)
    n_recv = np.bincount(po, weights=line_status == "received", minlength=n_po)
    n_part = np.bincount(po, weights=line_status == "partially_received", minlength=n_po)
    head = np.where(
        n_cancel == n_lines,
        "cancelled",
        np.where(
            n_recv + n_cancel == n_lines,
            "received",
            np.where((n_recv + n_part) > 0, "partially_received", "open"),
        ),
    )
    receipts_day = world.receipts.column("day")
    eta_day = world.eta_log.column("day")
    return {
        "purchase_orders": {
            "id": _ids(n_po),
            "number": [
                f"PO-{cal.day_date(d).year}-{i + 1:07d}" for i, d in enumerate(pos["day"].tolist())
            ],
            "supplier_id": (pos["supplier"] + 1).tolist(),
            "location_id": (pos["loc"] + 1).tolist(),
            "ordered_on": cal.dates(pos["day"]),
            "ship_mode": _pick(MODES, pos["mode"]),
            "status": head.tolist(),
        },
        "purchase_order_lines": {
            "id": _ids(pol.n),
            "purchase_order_id": (pol["po"] + 1).tolist(),
            "line_no": pol["line_no"].tolist(),
            "product_id": (world.pair_product[pol["pair"]] + 1).tolist(),
            "quantity": pol["qty"].tolist(),
            "unit_cost": _money(pol["cost"]),
            "promised_date": cal.dates(pol["promised"]),
            "current_eta": cal.opt_dates(pol["eta"], ~pol["cancelled"]),
            "received_quantity": pol["received"].tolist(),
            "received_on": cal.opt_dates(pol["received_day"], pol["received_day"] >= 0),
            "status": line_status.tolist(),
        },
        "po_line_eta_history": {
            "id": _ids(len(eta_day)),
            "po_line_id": (world.eta_log.column("po_line") + 1).tolist(),
            "recorded_at": cal.stamps(eta_day, world.eta_log.column("hour")),
            "previous_eta": cal.opt_dates(
                world.eta_log.column("prev"), world.eta_log.column("prev") >= 0
            ),
            "new_eta": cal.dates(world.eta_log.column("new")),
            "reason": [_ETA_REASONS[r] for r in world.eta_log.column("reason").tolist()],
        },
        "po_receipts": {
            "id": _ids(len(receipts_day)),
            "po_line_id": (world.receipts.column("po_line") + 1).tolist(),
            "received_on": cal.dates(receipts_day),
            "quantity": world.receipts.column("qty").tolist(),
        },
    }


def _orders(world: World, cal: _Calendar, today: int) -> dict[str, Columns]:
    orders, lines = world.orders, world.lines
    cancelled = lines["cancel_day"] >= 0
    shipped_all = lines["shipped"] >= lines["qty"]
    status = np.where(
        cancelled,
        "cancelled",
        np.where(
            shipped_all, "shipped", np.where(lines["shipped"] > 0, "partially_shipped", "open")
        ),
    )
    n_o = orders.n
    o = lines["order"]
    n_lines = np.bincount(o, minlength=n_o)
    n_cancel = np.bincount(o, weights=cancelled, minlength=n_o)
    n_done = np.bincount(o, weights=shipped_all | cancelled, minlength=n_o)
    n_any = np.bincount(o, weights=lines["shipped"] > 0, minlength=n_o)
    head = np.where(
        n_cancel == n_lines,
        "cancelled",
        np.where(n_done == n_lines, "shipped", np.where(n_any > 0, "partially_shipped", "open")),
    )
    price = lines["price"]
    ship_day = world.shipments.column("day")
    return {
        "customer_orders": {
            "id": _ids(n_o),
            "number": [
                f"SO-{cal.day_date(d).year}-{i + 1:08d}"
                for i, d in enumerate(orders["day"].tolist())
            ],
            "customer_id": (orders["customer"] + 1).tolist(),
            "location_id": (orders["loc"] + 1).tolist(),
            "ordered_on": cal.dates(orders["day"]),
            "requested_date": cal.dates(orders["requested"]),
            "promised_date": cal.dates(orders["promised"]),
            "is_emergency": orders["emergency"].tolist(),
            "status": head.tolist(),
        },
        "customer_order_lines": {
            "id": _ids(lines.n),
            "order_id": (o + 1).tolist(),
            "line_no": lines["line_no"].tolist(),
            "product_id": (world.pair_product[lines["pair"]] + 1).tolist(),
            "quantity": lines["qty"].tolist(),
            "unit_price": _money(price),
            "shipped_quantity": lines["shipped"].tolist(),
            "po_line_id": _opt_ids(lines["peg"]),
            "status": status.tolist(),
            "shipped_on": cal.opt_dates(lines["last_ship_day"], lines["last_ship_day"] >= 0),
        },
        "order_line_shipments": {
            "id": _ids(len(ship_day)),
            "order_line_id": (world.shipments.column("line") + 1).tolist(),
            "location_id": (world.shipments.column("loc") + 1).tolist(),
            "shipped_on": cal.dates(ship_day),
            "quantity": world.shipments.column("qty").tolist(),
        },
    }


def _backorders(world: World, cal: _Calendar, today: int) -> dict[str, Columns]:
    world.check_histories()  # never write a history the lifecycle would refuse
    bos, lines, pol = world.backorders, world.lines, world.pol
    n = bos.n
    line = bos["line"]
    status = bos["status"]
    active = status < ST_RESOLVED
    open_qty = np.where(status == ST_RESOLVED, 0, lines["qty"][line] - lines["shipped"][line])
    open_qty = np.minimum(open_qty, bos["qty"])
    price = lines["price"][line]
    peg = bos["po_line"]
    eta = np.where(peg >= 0, pol["eta"][np.maximum(peg, 0)], -1)
    expected = np.where(status == ST_RESOLVED, bos["closed_day"], np.where(active, eta, -1))
    # The handbook's static priority, for the live queue (USD-equivalent).
    age = today - lines["day"][line]
    mult = TIER_MULTIPLIER[lines["tier"][line]] * np.where(
        lines["emergency"][line], EMERGENCY_MULTIPLIER, 1.0
    )
    priority = mult * (open_qty * price / 100.0 + AGE_USD_PER_DAY * age)
    alloc = np.where(peg >= 0, "allocated", "unallocated")
    # Last status change per backorder, from the history.
    h_bo = world.status_log.column("backorder")
    h_day = world.status_log.column("day")
    h_hour = world.status_log.column("hour")
    last = np.zeros(n, dtype=np.int64)
    last[h_bo] = np.arange(len(h_bo))  # later rows overwrite earlier ones
    closed = ~active
    h_from = world.status_log.column("from_")
    h_to = world.status_log.column("to")
    po_number = {i: f"PO line {i + 1}" for i in np.unique(peg[peg >= 0]).tolist()}
    reasons = [
        _BACKORDER_REASONS[r] + (f" ({po_number[p]})" if p >= 0 else "")
        for r, p in zip(bos["root"].tolist(), peg.tolist(), strict=True)
    ]
    return {
        "backorders": {
            "id": _ids(n),
            "number": [
                backorder_number(i + 1, cal.day_date(d).year)
                for i, d in enumerate(bos["day"].tolist())
            ],
            "order_line_id": (line + 1).tolist(),
            "po_line_id": _opt_ids(peg),
            "quantity": bos["qty"].tolist(),
            "open_quantity": open_qty.tolist(),
            "root_cause": _pick(ROOT_CAUSES, bos["root"]),
            "status": _pick(STATUSES, status),
            "value_at_risk": _money(bos["qty"] * price),
            "expected_fulfillment_date": cal.opt_dates(expected, expected >= 0),
            "priority": [
                float(round(p, 2)) if a else None
                for p, a in zip(priority.tolist(), active.tolist(), strict=True)
            ],
            "allocation_status": alloc.tolist(),
            "reason": reasons,
            "created_at": cal.stamps(bos["day"], bos["hour"]),
            "created_by": [ACTOR] * n,
            "updated_at": cal.stamps(h_day[last], h_hour[last]),
            "closed_at": [
                cal.stamp(d, h) if c else None
                for d, h, c in zip(
                    h_day[last].tolist(), h_hour[last].tolist(), closed.tolist(), strict=True
                )
            ],
        },
        "backorder_status_history": {
            "id": _ids(len(h_bo)),
            "backorder_id": (h_bo + 1).tolist(),
            "from_status": [STATUSES[s] if s >= 0 else None for s in h_from.tolist()],
            "to_status": _pick(STATUSES, h_to),
            "changed_at": cal.stamps(h_day, h_hour),
            "changed_by": [ACTOR] * len(h_bo),
            "reason": [_STATUS_REASONS[r] for r in world.status_log.column("reason").tolist()],
        },
    }


def truth_frames(world: World) -> dict[str, dict[str, Arr]]:
    """The recorded truths per kind as arrays.

    Outcomes not yet observable at "today" are -1 (stored as NULL): a PO line before its
    promised date, an SLA whose promised date is still ahead, a churn window still open. The
    world knows them already; a later simulation realizes them.
    """
    today = world.day
    pol, bos, lines = world.pol, world.backorders, world.lines
    live = np.flatnonzero(~pol["cancelled"] & (pol["p_late"] >= 0))
    late = pol["late"][live]
    # Observable the day after the promised date: it came by then, or it is late.
    known = pol["promised"][live] < today
    arrived = pol["arrival"][live] < today
    delay = {
        "subject": live,
        "as_of": pol["day"][live],
        "horizon": pol["promised"][live] - pol["day"][live],
        "p": pol["p_late"][live],
        "outcome": np.where(known, late.astype(np.int64), -1),
        "magnitude": np.where(
            known & arrived, np.where(late, pol["arrival"][live] - pol["promised"][live], 0), -1
        ),
    }
    sel = np.flatnonzero(bos["has_truth"])
    line = bos["line"][sel]
    done = lines["done_day"][line]
    due = lines["promised"][line]
    outcome = np.where(done >= 0, (done > due).astype(np.int64), np.where(today > due, 1, -1))
    sla = {
        "subject": line,
        "as_of": bos["day"][sel],
        "horizon": due - bos["day"][sel],
        "p": bos["p_breach"][sel],
        "outcome": outcome,
        "magnitude": np.full(len(sel), -1),
    }
    c_day = world.churn_log.column("day")
    c_cust = world.churn_log.column("customer")
    c_out = world.churn_log.column("outcome", np.int64)
    realized = c_day + 30 <= today  # the 30-day window has closed
    churn = {
        "subject": c_cust,
        "as_of": c_day,
        "horizon": np.full(len(c_day), 30),
        "p": world.churn_log.column("p", np.float64),
        "outcome": np.where(realized, c_out, -1),
        "magnitude": np.full(len(c_day), -1),
    }
    return {"supplier_delay": delay, "sla_breach": sla, "churn": churn}


def _truths(world: World, cal: _Calendar, today: int) -> Columns:
    frames = truth_frames(world)
    kinds: list[str] = []
    subject: list[int] = []
    as_of: list[date] = []
    horizon: list[int | None] = []
    prob: list[float] = []
    outcome: list[bool | None] = []
    magnitude: list[float | None] = []
    for kind, f in frames.items():
        n = len(f["subject"])
        kinds += [kind] * n
        subject += (f["subject"] + 1).tolist()
        as_of += cal.dates(f["as_of"])
        horizon += f["horizon"].tolist()
        prob += np.round(f["p"], 6).tolist()
        outcome += [None if o < 0 else bool(o) for o in f["outcome"].tolist()]
        magnitude += [None if m < 0 else float(m) for m in f["magnitude"].tolist()]
    return {
        "id": _ids(len(kinds)),
        "kind": kinds,
        "subject_id": subject,
        "as_of": as_of,
        "horizon_days": horizon,
        "probability": prob,
        "outcome": outcome,
        "magnitude": magnitude,
    }


# --- writing ---------------------------------------------------------------------------------

#: Insert order (parents before children).
TABLE_ORDER = (
    "locations",
    "suppliers",
    "customers",
    "contracts",
    "products",
    "product_substitutes",
    "inventory_positions",
    "purchase_orders",
    "purchase_order_lines",
    "po_line_eta_history",
    "po_receipts",
    "customer_orders",
    "customer_order_lines",
    "order_line_shipments",
    "backorders",
    "backorder_status_history",
    "sim_worlds",
    "sim_truths",
)


def existing_rows(conn: Connection) -> dict[str, int]:
    """Tables of the schema that already hold rows (name -> 1 when non-empty)."""
    found: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        if conn.execute(select(1).select_from(table).limit(1)).first() is not None:
            found[table.name] = 1
    return found


def not_empty_message(found: dict[str, int]) -> str:
    names = sorted(found)
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"the database already holds data ({shown}); pass --replace to delete it first"


def clear_all(conn: Connection) -> None:
    """Delete every row of every schema table, the audit trail included (caller's transaction).

    ``audit_records`` refuses DELETE and TRUNCATE; replacing the whole world is the one
    deliberate exception, so its triggers are lifted for this transaction only.
    """
    tables = list(reversed(Base.metadata.sorted_tables))
    with append_only.lifted(conn):
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


def _chunks(columns: Columns, size: int) -> Iterator[list[dict[str, Any]]]:
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    for lo in range(0, n, size):
        hi = min(lo + size, n)
        cols = [columns[name][lo:hi] for name in names]
        yield [dict(zip(names, values, strict=True)) for values in zip(*cols, strict=True)]


def _insert(conn: Connection, table: Table, columns: Columns, progress: ProgressFn | None) -> None:
    """Insert one table's rows in chunks.

    Small tables (and any with JSON) go through ``table.insert()``. Big ones are converted
    column by column with the columns' own SQLAlchemy bind processors (the same conversion
    ``table.insert()`` would apply, without its per-row overhead) and sent with the driver's
    ``executemany`` (SQLite) or ``COPY`` (PostgreSQL): about five times faster.
    """
    names = list(columns)
    n = len(columns[names[0]])
    if n < FAST_MIN_ROWS or any(isinstance(table.c[c].type, JSON) for c in names):
        for chunk in _chunks(columns, CHUNK_ROWS):
            conn.execute(table.insert(), chunk)
            if progress is not None:
                progress(table.name, len(chunk))
        return
    dialect = conn.dialect
    converted: list[Sequence[Any]] = []
    for name in names:
        processor = table.c[name].type.bind_processor(dialect)
        values = columns[name]
        converted.append(list(map(processor, values)) if processor else values)
    quote = dialect.identifier_preparer.quote
    column_list = ", ".join(quote(c) for c in names)
    if dialect.name == "postgresql":
        # psycopg 3's COPY, on the connection (and transaction) SQLAlchemy holds.
        raw: Any = conn.connection.dbapi_connection
        with raw.cursor() as cursor:
            for lo in range(0, n, CHUNK_ROWS):
                hi = min(lo + CHUNK_ROWS, n)
                with cursor.copy(f"COPY {quote(table.name)} ({column_list}) FROM STDIN") as copy:
                    for row in zip(*(col[lo:hi] for col in converted), strict=True):
                        copy.write_row(row)
                if progress is not None:
                    progress(table.name, hi - lo)
        return
    marks = ", ".join("?" for _ in names)
    sql = f"INSERT INTO {quote(table.name)} ({column_list}) VALUES ({marks})"
    for lo in range(0, n, CHUNK_ROWS):
        hi = min(lo + CHUNK_ROWS, n)
        conn.exec_driver_sql(sql, list(zip(*(col[lo:hi] for col in converted), strict=True)))
        if progress is not None:
            progress(table.name, hi - lo)


def write_world(
    engine: Engine,
    tables: Iterable[dict[str, Columns]] | dict[str, Columns],
    *,
    replace: bool = False,
    progress: ProgressFn | None = None,
) -> dict[str, int]:
    """Insert ``tables`` (one dict, or groups of them in insert order) in one transaction.

    Returns rows written per table. The cyclic garbage collector is paused meanwhile: millions
    of short-lived tuples would otherwise trigger it over and over for nothing.

    Raises
    ------
    DatabaseNotEmptyError
        When any schema table already holds rows and ``replace`` is false.
    """
    groups: Iterable[dict[str, Columns]] = [tables] if isinstance(tables, dict) else tables
    metadata_tables: dict[str, Table] = {t.name: t for t in Base.metadata.sorted_tables}
    counts: dict[str, int] = {}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with engine.begin() as conn:
            found = existing_rows(conn)
            if found and not replace:
                raise DatabaseNotEmptyError(not_empty_message(found), tables=sorted(found))
            if found:
                clear_all(conn)
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # A bigger page cache keeps index B-trees in memory during the bulk load.
                old_cache = conn.exec_driver_sql("PRAGMA cache_size").scalar()
                conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            for group in groups:
                for name in TABLE_ORDER:
                    if name not in group:
                        continue
                    columns = group[name]
                    counts[name] = len(next(iter(columns.values())))
                    _insert(conn, metadata_tables[name], columns, progress)
                group.clear()
            missing = set(TABLE_ORDER) - counts.keys()
            if missing:
                raise ValueError(f"no rows given for tables {sorted(missing)}")
            if sqlite:
                conn.exec_driver_sql(f"PRAGMA cache_size = {int(old_cache or -2000)}")
            else:
                _advance_sequences(conn, metadata_tables)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: counts[name] for name in TABLE_ORDER}


def _advance_sequences(conn: Connection, tables: dict[str, Table]) -> None:
    """PostgreSQL: move each ``id`` sequence past the explicit ids we inserted."""
    for name in TABLE_ORDER:
        table = tables[name]
        if "id" in table.c and table.c.id.primary_key:
            top = select(func.max(table.c.id)).scalar_subquery()
            conn.execute(
                select(
                    func.setval(
                        func.pg_get_serial_sequence(name, "id"),
                        func.coalesce(top, 1),
                        top.is_not(None),
                    )
                )
            )

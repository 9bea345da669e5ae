"""A seeded stream of events over a generated world, and a canonical dump of what they change.

The stream mixes every event type, ETA updates out of order (some stale), receipts that
overshoot (parked), references to nothing (parked) and exact resends (duplicates).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

Dump = dict[str, list[tuple[Any, ...]]]


def _rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _day(value: Any) -> date:
    # Raw SQL gives SQLite's dates back as text.
    return date.fromisoformat(str(value)[:10]) if not isinstance(value, date) else value


def event_stream(engine: Engine, *, n: int, seed: int = 11) -> list[dict[str, Any]]:
    """``n`` events (JSON-ready dicts) about the world in ``engine``."""
    rng = random.Random(seed)
    today = _day(_rows(engine, "SELECT today FROM sim_worlds")[0][0])
    start = datetime.combine(today, time(8), tzinfo=UTC) + timedelta(days=1)
    po_lines = [
        [number, line_no, quantity - received, _day(eta)]
        for number, line_no, quantity, received, eta in _rows(
            engine,
            "SELECT po.number, l.line_no, l.quantity, l.received_quantity,"
            " COALESCE(l.current_eta, l.promised_date) FROM purchase_order_lines l"
            " JOIN purchase_orders po ON po.id = l.purchase_order_id"
            " WHERE l.status IN ('open', 'partially_received') ORDER BY l.id",
        )
    ]
    customers = [c for (c,) in _rows(engine, "SELECT code FROM customers ORDER BY id")]
    locations = [c for (c,) in _rows(engine, "SELECT code FROM locations ORDER BY id")]
    skus = [s for (s,) in _rows(engine, "SELECT sku FROM products ORDER BY id")]
    orders = [
        o for (o,) in _rows(engine, "SELECT number FROM customer_orders WHERE status = 'open'")
    ]
    orders.sort()
    contract_day = {c: today + timedelta(days=1) for c in customers}
    out: list[dict[str, Any]] = []
    for i in range(n):
        at = start + timedelta(seconds=10 * i)
        base = {"event_id": f"ev-{seed}-{i:06d}", "occurred_at": at.isoformat()}
        roll = rng.random()
        if out and roll < 0.03:  # an exact resend of an earlier event
            out.append(dict(out[rng.randrange(len(out))]))
            continue
        if roll < 0.05:  # names a PO that does not exist: parked
            out.append(
                {
                    **base,
                    "type": "eta_updated",
                    "po_number": "PO-NONE",
                    "line_no": 1,
                    "eta": (today + timedelta(days=9)).isoformat(),
                }
            )
            continue
        line = rng.choice(po_lines)
        ref = {"po_number": line[0], "line_no": line[1]}
        eta = line[3] + timedelta(days=rng.randint(-5, 30))
        if roll < 0.35:
            # Up to an hour back in time: some arrive after a later one (stale).
            early = at - timedelta(seconds=rng.choice([0, 0, 0, 600, 3600]))
            out.append(
                {
                    **base,
                    "occurred_at": early.isoformat(),
                    "type": "eta_updated",
                    **ref,
                    "eta": eta.isoformat(),
                }
            )
        elif roll < 0.50:
            out.append(
                {
                    **base,
                    "type": "po_delayed",
                    **ref,
                    "new_eta": (line[3] + timedelta(days=rng.randint(3, 40))).isoformat(),
                }
            )
        elif roll < 0.65:
            left = line[2]
            qty = rng.randint(1, max(1, left // 3)) if rng.random() < 0.9 else left + 5
            line[2] = max(0, left - qty) if qty <= left else left
            out.append({**base, "type": "goods_received", **ref, "quantity": qty})
        elif roll < 0.78:
            delta = rng.choice([-1, 1]) * rng.randint(1, 20)
            out.append(
                {
                    **base,
                    "type": "inventory_adjusted",
                    "sku": rng.choice(skus),
                    "location_code": rng.choice(locations),
                    "delta": delta,
                }
            )
        elif roll < 0.88:
            number = f"EV-SO-{seed}-{i:06d}"
            orders.append(number)
            lines = [
                {"line_no": k + 1, "sku": rng.choice(skus), "quantity": rng.randint(1, 30)}
                for k in range(rng.randint(1, 3))
            ]
            out.append(
                {
                    **base,
                    "type": "order_created",
                    "order_number": number,
                    "customer_code": rng.choice(customers),
                    "location_code": rng.choice(locations),
                    "ordered_on": today.isoformat(),
                    "requested_date": (today + timedelta(days=7)).isoformat(),
                    "promised_date": (today + timedelta(days=10)).isoformat(),
                    "is_emergency": rng.random() < 0.1,
                    "lines": lines,
                }
            )
        elif roll < 0.94:
            out.append({**base, "type": "order_cancelled", "order_number": rng.choice(orders)})
        else:
            code = rng.choice(customers)
            contract_day[code] += timedelta(days=rng.randint(1, 30))
            out.append(
                {
                    **base,
                    "type": "contract_changed",
                    "customer_code": code,
                    "effective_from": contract_day[code].isoformat(),
                    "tier": rng.choice(["vip", "premium", "standard"]),
                    "penalty_rate_per_day": round(rng.uniform(0, 0.02), 4),
                }
            )
    return out


def write_jsonl(events: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return path


_BO_KEY = (
    "(SELECT o.number || '/' || ol.line_no || '@' || CAST(b.created_at AS VARCHAR(40))"
    " FROM customer_order_lines ol JOIN customer_orders o ON o.id = ol.order_id"
    " WHERE ol.id = b.order_line_id)"
)

#: name -> SQL of the state events change, keyed by natural keys (never by ids the database
#: assigns while ingesting: PostgreSQL does not give back sequence values a killed
#: transaction took, so a clean run and a killed-and-resent one number new rows differently).
CANONICAL: dict[str, str] = {
    "po_lines": "SELECT po.number, l.line_no, l.current_eta, l.received_quantity,"
    " l.received_on, l.status FROM purchase_order_lines l"
    " JOIN purchase_orders po ON po.id = l.purchase_order_id",
    "eta_history": "SELECT po_line_id, recorded_at, previous_eta, new_eta, reason"
    " FROM po_line_eta_history",
    "receipts": "SELECT po_line_id, received_on, quantity FROM po_receipts",
    "orders": "SELECT number, customer_id, location_id, ordered_on, requested_date,"
    " promised_date, is_emergency, status FROM customer_orders",
    "order_lines": "SELECT o.number, ol.line_no, ol.product_id, ol.quantity, ol.unit_price,"
    " ol.shipped_quantity, ol.po_line_id, ol.status FROM customer_order_lines ol"
    " JOIN customer_orders o ON o.id = ol.order_id",
    "backorders": f"SELECT {_BO_KEY}, b.po_line_id, b.quantity, b.open_quantity, b.root_cause,"
    " b.status, b.value_at_risk, b.expected_fulfillment_date, b.reason, b.created_by,"
    " b.updated_at, b.closed_at FROM backorders b",
    "status_history": f"SELECT {_BO_KEY}, h.from_status, h.to_status, h.changed_at,"
    " h.changed_by, h.reason FROM backorder_status_history h"
    " JOIN backorders b ON b.id = h.backorder_id",
    "customers": "SELECT code, tier, status FROM customers",
    "contracts": "SELECT customer_id, version, sla_days, fill_rate_commitment,"
    " penalty_rate_per_day, penalty_cap_rate, allows_partial_ship, allows_substitution,"
    " effective_from, effective_to, renewal_date FROM contracts",
    "inventory": "SELECT product_id, location_id, on_hand, committed, updated_at"
    " FROM inventory_positions",
    # A parked event's error by class: its message may name an id assigned while ingesting.
    "events": "SELECT event_id, type, occurred_at, subject, payload_hash, status, error"
    " FROM events",
    "rescore_queue": f"SELECT {_BO_KEY} FROM rescore_queue q JOIN backorders b"
    " ON b.id = q.backorder_id",
    "audit": "SELECT action, entity_type FROM audit_records",
}


def canonical_dump(engine: Engine) -> Dump:
    """Every table events change, as sorted rows of plain values."""
    out: Dump = {}
    for name, sql in CANONICAL.items():
        rows = _rows(engine, sql)
        if name == "events":
            rows = [(*r[:-1], str(r[-1]).split(":")[0] if r[-1] else None) for r in rows]
        out[name] = sorted(rows, key=lambda r: tuple(str(v) for v in r))
    return out

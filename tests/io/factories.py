"""Rows of each entity as a user's file would hold them (text cells, our column names).

Every factory takes keyword-only overrides; ``None`` leaves a cell blank.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

Row = dict[str, str | None]


def _row(defaults: Row, overrides: dict[str, str | None]) -> Row:
    return {**defaults, **overrides}


def supplier(**overrides: str | None) -> Row:
    return _row(
        {
            "code": "S-1",
            "name": "Acme Fasteners",
            "region": "west",
            "default_ship_mode": "ocean",
            "lead_time_days": "30",
        },
        overrides,
    )


def location(**overrides: str | None) -> Row:
    return _row({"code": "WH-1", "name": "Reno DC", "region": "west"}, overrides)


def customer(**overrides: str | None) -> Row:
    return _row(
        {
            "code": "C-1",
            "name": "Metro Manufacturing",
            "tier": "vip",
            "account_manager": "ana",
            "region": "west",
            "lifetime_value": "1234.50",
            "created_on": "2024-01-15",
            "status": "active",
            "churned_on": None,
        },
        overrides,
    )


def contract(**overrides: str | None) -> Row:
    return _row(
        {
            "customer_code": "C-1",
            "version": "1",
            "sla_days": "5",
            "fill_rate_commitment": "0.95",
            "penalty_rate_per_day": "0.005",
            "penalty_cap_rate": "0.1",
            "allows_partial_ship": "true",
            "allows_substitution": "false",
            "effective_from": "2024-01-01",
            "effective_to": None,
            "renewal_date": "2025-01-01",
        },
        overrides,
    )


def product(**overrides: str | None) -> Row:
    return _row(
        {
            "sku": "P-1",
            "name": "Hex bolt M8",
            "category": "fasteners",
            "unit_price": "1.50",
            "unit_cost": "0.90",
            "supplier_code": "S-1",
            "active": "true",
        },
        overrides,
    )


def substitute(**overrides: str | None) -> Row:
    return _row({"sku": "P-1", "substitute_sku": "P-2", "price_premium_rate": "0.05"}, overrides)


def inventory(**overrides: str | None) -> Row:
    return _row(
        {"sku": "P-1", "location_code": "WH-1", "on_hand": "100", "committed": "10"}, overrides
    )


def purchase_order(**overrides: str | None) -> Row:
    return _row(
        {
            "number": "PO-1",
            "supplier_code": "S-1",
            "location_code": "WH-1",
            "ordered_on": "2024-02-01",
            "ship_mode": "ocean",
            "status": "open",
        },
        overrides,
    )


def po_line(**overrides: str | None) -> Row:
    return _row(
        {
            "po_number": "PO-1",
            "line_no": "1",
            "sku": "P-1",
            "quantity": "500",
            "unit_cost": "0.90",
            "promised_date": "2024-03-01",
            "current_eta": "2024-03-10",
            "received_quantity": "0",
            "received_on": None,
            "status": "open",
        },
        overrides,
    )


def order(**overrides: str | None) -> Row:
    return _row(
        {
            "number": "SO-1",
            "customer_code": "C-1",
            "location_code": "WH-1",
            "ordered_on": "2024-02-10",
            "requested_date": "2024-02-20",
            "promised_date": "2024-02-25",
            "is_emergency": "false",
            "status": "open",
        },
        overrides,
    )


def order_line(**overrides: str | None) -> Row:
    return _row(
        {
            "order_number": "SO-1",
            "line_no": "1",
            "sku": "P-1",
            "quantity": "40",
            "unit_price": "1.50",
            "shipped_quantity": "0",
            "po_number": "PO-1",
            "po_line_no": "1",
            "status": "open",
            "shipped_on": None,
        },
        overrides,
    )


def backorder(**overrides: str | None) -> Row:
    return _row(
        {
            "number": "BO-1",
            "order_number": "SO-1",
            "line_no": "1",
            "po_number": "PO-1",
            "po_line_no": "1",
            "quantity": "40",
            "open_quantity": "40",
            "root_cause": "supplier_delay",
            "status": "open",
            "value_at_risk": "60.00",
            "expected_fulfillment_date": "2024-03-12",
            "reason": "PO-1 late",
        },
        overrides,
    )


# One consistent small world, in dependency order: entity -> rows.
def world() -> dict[str, list[Row]]:
    return {
        "suppliers": [supplier(), supplier(code="S-2", name="Beta Parts", default_ship_mode="air")],
        "locations": [location(), location(code="WH-2", name="Austin DC", region="south")],
        "customers": [
            customer(),
            customer(code="C-2", name="Small Shop", tier="standard", account_manager=None),
        ],
        "contracts": [contract(), contract(version="2", effective_from="2024-06-01")],
        "products": [product(), product(sku="P-2", name="Hex bolt M8 zinc", supplier_code=None)],
        "product_substitutes": [substitute()],
        "inventory": [inventory(), inventory(sku="P-2", location_code="WH-2", committed="0")],
        "purchase_orders": [purchase_order()],
        "purchase_order_lines": [po_line(), po_line(line_no="2", sku="P-2", current_eta=None)],
        "orders": [order(), order(number="SO-2", customer_code="C-2", is_emergency="true")],
        "order_lines": [
            order_line(),
            order_line(order_number="SO-2", po_number=None, po_line_no=None, quantity="3"),
        ],
        "backorders": [backorder()],
    }


def write_csv(path: Path, rows: list[Row], *, columns: list[str] | None = None) -> Path:
    """Write ``rows`` as CSV (header = ``columns`` or the first row's keys)."""
    header = columns or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in header])
    return path


def write_parquet(path: Path, rows: list[Row]) -> Path:
    """Write ``rows`` as a Parquet file of text columns."""
    header = list(rows[0])
    table = pa.table({c: pa.array([r.get(c) for r in rows], type=pa.string()) for c in header})
    pq.write_table(table, path)
    return path

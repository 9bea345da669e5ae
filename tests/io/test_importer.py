"""Importing files: all rows or none, every problem named, natural-key upserts (both backends)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from allotment.domain.enums import BackorderStatus, CustomerStatus, Tier
from allotment.domain.models import (
    Backorder,
    BackorderStatusChange,
    Customer,
    CustomerOrderLine,
    EtaChange,
    InventoryPosition,
    Product,
    Supplier,
)
from allotment.errors import ImportValidationError
from allotment.io import ImportSource, import_file, import_files
from tests.dumps import Dump
from tests.io.factories import (
    backorder,
    customer,
    order_line,
    po_line,
    product,
    supplier,
    world,
    write_csv,
    write_parquet,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "mappings"
DATA = Path(__file__).resolve().parent / "data"


def problem(file: str, row: int | str, column: str | None, reason: str) -> dict[str, Any]:
    return {"file": file, "row": row, "column": column, "reason": reason}


def rejected(engine: Engine, dump: Callable[[], Dump], entity: str, path: Path) -> list[Any]:
    """Import ``path``, expect it refused, check the database did not change; the problems."""
    before = dump()
    with pytest.raises(ImportValidationError) as info:
        import_file(engine, entity, path)
    assert dump() == before
    return info.value.problems


def count(engine: Engine, model: type[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


# --- refusals: each names file, row and column, and leaves the database as it was ----------


def test_missing_required_column(seeded: Engine, dump: Callable[[], Dump], csv_file: Any) -> None:
    rows = [customer(code="C-9")]
    path = csv_file("customers", rows, columns=[c for c in rows[0] if c != "tier"])
    assert rejected(seeded, dump, "customers", path) == [
        problem("customers.csv", "header", "tier", "required column is missing")
    ]


def test_unknown_enum_value_lists_allowed_values(
    seeded: Engine, dump: Callable[[], Dump], csv_file: Any
) -> None:
    path = csv_file("customers", [customer(code="C-8"), customer(code="C-9", tier="gold")])
    assert rejected(seeded, dump, "customers", path) == [
        problem("customers.csv", 3, "tier", "'gold' is not one of vip, premium, standard")
    ]


def test_bad_date(seeded: Engine, dump: Callable[[], Dump], csv_file: Any) -> None:
    path = csv_file("customers", [customer(code="C-9", created_on="2024-02-30")])
    assert rejected(seeded, dump, "customers", path) == [
        problem(
            "customers.csv",
            2,
            "created_on",
            "'2024-02-30' is not a date in the format %Y-%m-%d",
        )
    ]


def test_duplicate_key_names_both_rows(
    seeded: Engine, dump: Callable[[], Dump], csv_file: Any
) -> None:
    rows = [customer(code="C-7"), customer(code="C-8"), customer(code="C-7", name="Again")]
    path = csv_file("customers", rows)
    assert rejected(seeded, dump, "customers", path) == [
        problem("customers.csv", 2, "code", "duplicate key code='C-7' (also on row 4)"),
        problem("customers.csv", 4, "code", "duplicate key code='C-7' (also on row 2)"),
    ]


def test_unknown_reference(seeded: Engine, dump: Callable[[], Dump], csv_file: Any) -> None:
    path = csv_file("products", [product(sku="P-9", supplier_code="S-404")])
    assert rejected(seeded, dump, "products", path) == [
        problem(
            "products.csv",
            2,
            "supplier_code",
            "no suppliers with code='S-404' in the database or this import",
        )
    ]


def test_unknown_composite_reference(
    seeded: Engine, dump: Callable[[], Dump], csv_file: Any
) -> None:
    path = csv_file("order_lines", [order_line(line_no="7", po_line_no="9")])
    assert rejected(seeded, dump, "order_lines", path) == [
        problem(
            "order_lines.csv",
            2,
            "po_number+po_line_no",
            "no purchase_order_lines with po_number='PO-1', line_no='9'"
            " in the database or this import",
        )
    ]


def test_negative_quantity(seeded: Engine, dump: Callable[[], Dump], csv_file: Any) -> None:
    path = csv_file("inventory", [{"sku": "P-1", "location_code": "WH-2", "on_hand": "-5"}])
    assert rejected(seeded, dump, "inventory", path) == [
        problem("inventory.csv", 2, "on_hand", "must be at least 0, got -5")
    ]


def test_several_problems_are_reported_together(
    seeded: Engine, dump: Callable[[], Dump], csv_file: Any
) -> None:
    rows = [
        po_line(line_no="5", quantity="0"),
        po_line(line_no="6", promised_date="01/03/2024", unit_cost="abc"),
        po_line(line_no="7", received_quantity="900"),
        po_line(line_no="8", sku="P-404", status="lost"),
    ]
    assert rejected(seeded, dump, "purchase_order_lines", csv_file("po_lines", rows)) == [
        problem("po_lines.csv", 2, "quantity", "must be at least 1, got 0"),
        problem("po_lines.csv", 3, "unit_cost", "'abc' is not an amount"),
        problem(
            "po_lines.csv", 3, "promised_date", "'01/03/2024' is not a date in the format %Y-%m-%d"
        ),
        problem(
            "po_lines.csv", 4, "received_quantity", "received_quantity must not exceed quantity"
        ),
        problem(
            "po_lines.csv", 5, "sku", "no products with sku='P-404' in the database or this import"
        ),
        problem(
            "po_lines.csv",
            5,
            "status",
            "'lost' is not one of open, partially_received, received, cancelled",
        ),
    ]


def test_blank_required_cell_and_too_long_value(
    seeded: Engine, dump: Callable[[], Dump], csv_file: Any
) -> None:
    path = csv_file("suppliers", [supplier(code="S-9", name=None, region="x" * 65)])
    assert rejected(seeded, dump, "suppliers", path) == [
        problem("suppliers.csv", 2, "name", "value is required (the cell is blank)"),
        problem("suppliers.csv", 2, "region", "value is longer than 64 characters (65)"),
    ]


def test_problem_in_one_file_rejects_the_whole_import(
    engine: Engine, dump: Callable[[], Dump], tmp_path: Path
) -> None:
    good = write_csv(tmp_path / "suppliers.csv", [supplier()])
    bad = write_csv(tmp_path / "products.csv", [product(unit_price="-1")])
    before = dump()
    with pytest.raises(ImportValidationError) as info:
        import_files(engine, [ImportSource("products", bad), ImportSource("suppliers", good)])
    assert info.value.problems == [
        problem("products.csv", 2, "unit_price", "must be at least 0, got -1.00")
    ]
    assert dump() == before


def test_csv_rows_are_file_lines(seeded: Engine, dump: Callable[[], Dump], tmp_path: Path) -> None:
    # A quoted field spanning two lines and a blank line shift the later records' line numbers.
    path = tmp_path / "suppliers.csv"
    path.write_text(
        "code,name,region,default_ship_mode,lead_time_days\n"
        'S-7,"Two\nlines",west,ocean,3\n'
        "\n"
        "S-8,Eight,west,boat,3\n"
        "S-9,Nine,west\n"
    )
    assert rejected(seeded, dump, "suppliers", path) == [
        problem("suppliers.csv", 5, "default_ship_mode", "'boat' is not one of ocean, ground, air"),
        problem("suppliers.csv", 6, None, "expected 5 fields (as in the header), found 3"),
    ]


# --- writing --------------------------------------------------------------------------------


def test_reimport_updates_rather_than_duplicates(engine: Engine, csv_file: Any) -> None:
    first = csv_file("customers", [customer(), customer(code="C-2")])
    assert _counts(import_file(engine, "customers", first)) == (2, 0, 0)
    again = csv_file(
        "customers",
        [
            customer(name="Metro Mfg", lifetime_value="99.10"),
            customer(code="C-2"),
            customer(code="C-3"),
        ],
    )
    assert _counts(import_file(engine, "customers", again)) == (1, 1, 1)
    assert _counts(import_file(engine, "customers", again)) == (0, 0, 3)
    assert count(engine, Customer) == 3
    with engine.connect() as conn:
        row = conn.execute(
            select(Customer.name, Customer.lifetime_value).where(Customer.code == "C-1")
        ).one()
    assert (row.name, row.lifetime_value) == ("Metro Mfg", Decimal("99.10"))


def test_columns_absent_from_the_file_are_kept_on_update(engine: Engine, csv_file: Any) -> None:
    import_file(
        engine,
        "customers",
        csv_file("full", [customer(status="churned", churned_on="2024-05-01")]),
    )
    rows = [customer(name="Renamed")]
    partial = csv_file(
        "partial", rows, columns=[c for c in rows[0] if c not in ("status", "churned_on")]
    )
    assert _counts(import_file(engine, "customers", partial)) == (0, 1, 0)
    with engine.connect() as conn:
        row = conn.execute(select(Customer.name, Customer.status, Customer.churned_on)).one()
    assert tuple(row) == ("Renamed", CustomerStatus.CHURNED, date(2024, 5, 1))


def test_references_resolve_against_files_of_the_same_import(
    engine: Engine, tmp_path: Path
) -> None:
    products = write_csv(tmp_path / "products.csv", [product(), product(sku="P-2")])
    suppliers = write_csv(tmp_path / "suppliers.csv", [supplier()])
    results = import_files(
        engine, [ImportSource("products", products), ImportSource("suppliers", suppliers)]
    )
    assert [(r.entity, r.inserted) for r in results] == [("suppliers", 1), ("products", 2)]
    with engine.connect() as conn:
        joined = conn.execute(
            select(Product.sku, Supplier.code).join(Supplier).order_by(Product.sku)
        ).all()
    assert [tuple(r) for r in joined] == [("P-1", "S-1"), ("P-2", "S-1")]


def test_whole_world_imports_and_reimports_unchanged(seeded: Engine, tmp_path: Path) -> None:
    sources = [
        ImportSource(entity, write_csv(tmp_path / f"{entity}.csv", rows))
        for entity, rows in world().items()
    ]
    results = import_files(seeded, sources)
    assert all(r.inserted == r.updated == 0 and r.unchanged == r.rows for r in results)
    assert count(seeded, CustomerOrderLine) == 2
    assert count(seeded, InventoryPosition) == 2


def test_parquet_is_read_like_csv(engine: Engine, dump: Callable[[], Dump], tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "customers.parquet", [customer(), customer(code="C-2", tier="Premium")]
    )
    assert _counts(import_file(engine, "customers", path)) == (2, 0, 0)
    with engine.connect() as conn:
        tiers = conn.execute(select(Customer.tier).order_by(Customer.code)).scalars().all()
    assert tiers == [Tier.VIP, Tier.PREMIUM]
    bad = write_parquet(tmp_path / "bad.parquet", [customer(), customer(created_on="yesterday")])
    assert rejected(engine, dump, "customers", bad) == [
        problem("bad.parquet", 1, "code", "duplicate key code='C-1' (also on row 2)"),
        problem("bad.parquet", 2, "code", "duplicate key code='C-1' (also on row 1)"),
        problem("bad.parquet", 2, "created_on", "'yesterday' is not a date in the format %Y-%m-%d"),
    ]


def test_po_line_eta_change_is_recorded(seeded: Engine, csv_file: Any) -> None:
    path = csv_file("po_lines", [po_line(current_eta="2024-03-20")])
    assert _counts(import_file(seeded, "purchase_order_lines", path)) == (0, 1, 0)
    with seeded.connect() as conn:
        change = conn.execute(select(EtaChange.previous_eta, EtaChange.new_eta)).one()
    assert tuple(change) == (date(2024, 3, 10), date(2024, 3, 20))


# --- backorders: status follows the lifecycle -----------------------------------------------


def _history(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                BackorderStatusChange.from_status,
                BackorderStatusChange.to_status,
                BackorderStatusChange.reason,
            ).order_by(BackorderStatusChange.id)
        ).all()
    return [tuple(r) for r in rows]


def test_imported_backorder_starts_with_an_imported_history(seeded: Engine) -> None:
    assert _history(seeded) == [(None, BackorderStatus.OPEN, "imported")]
    with seeded.connect() as conn:
        row = conn.execute(select(Backorder.created_by, Backorder.closed_at)).one()
    assert tuple(row) == ("import", None)


def test_backorder_status_change_goes_through_the_lifecycle(
    seeded: Engine, dump: Callable[[], Dump], csv_file: Any
) -> None:
    escalate = csv_file("escalate", [backorder(status="escalated")])
    assert _counts(import_file(seeded, "backorders", escalate)) == (0, 1, 0)
    resolve = csv_file("resolve", [backorder(status="resolved", open_quantity="0")])
    assert _counts(import_file(seeded, "backorders", resolve)) == (0, 1, 0)
    assert _history(seeded)[1:] == [
        (BackorderStatus.OPEN, BackorderStatus.ESCALATED, "imported"),
        (BackorderStatus.ESCALATED, BackorderStatus.RESOLVED, "imported"),
    ]
    with seeded.connect() as conn:
        assert conn.scalar(select(Backorder.closed_at)) is not None
    reopen = csv_file("reopen", [backorder(status="open")])
    assert rejected(seeded, dump, "backorders", reopen) == [
        problem(
            "reopen.csv",
            2,
            "status",
            "backorder BO-1 cannot go from 'resolved' to 'open'; 'resolved' is final",
        )
    ]


def test_second_active_backorder_on_an_order_line_is_refused(
    seeded: Engine, dump: Callable[[], Dump], csv_file: Any
) -> None:
    path = csv_file("backorders", [backorder(number="BO-2")])
    assert rejected(seeded, dump, "backorders", path) == [
        problem(
            "backorders.csv",
            2,
            "order_number+line_no",
            "order line already has the active backorder 'BO-1'",
        )
    ]


# --- a real public file through the example mapping -----------------------------------------


def test_telco_sample_through_the_example_mapping(engine: Engine) -> None:
    result = import_file(
        engine,
        "customers",
        DATA / "telco_customers_sample.csv",
        mapping=EXAMPLES / "telco_customers.toml",
    )
    assert (result.rows, result.inserted) == (300, 300)
    with engine.connect() as conn:
        tiers = dict(
            conn.execute(select(Customer.tier, func.count()).group_by(Customer.tier)).all()
        )
        statuses = dict(
            conn.execute(select(Customer.status, func.count()).group_by(Customer.status)).all()
        )
        first = conn.execute(
            select(Customer.name, Customer.tier, Customer.lifetime_value)
            .add_columns(Customer.region, Customer.created_on)
            .where(Customer.code == "5575-GNVDE")
        ).one()
    assert tiers == {Tier.STANDARD: 167, Tier.VIP: 74, Tier.PREMIUM: 59}
    assert statuses == {CustomerStatus.ACTIVE: 223, CustomerStatus.CHURNED: 77}
    assert tuple(first) == (
        "5575-GNVDE",
        Tier.PREMIUM,
        Decimal("1889.50"),
        "unknown",
        date(2024, 1, 1),
    )
    again = import_file(
        engine,
        "customers",
        DATA / "telco_customers_sample.csv",
        mapping=EXAMPLES / "telco_customers.toml",
    )
    assert _counts(again) == (0, 0, 300)


def _counts(result: Any) -> tuple[int, int, int]:
    return (result.inserted, result.updated, result.unchanged)


def test_a_database_error_rolls_back_every_file(
    seeded: Engine, dump: Callable[[], Dump], tmp_path: Path
) -> None:
    # Without an open_quantity column the stored 40 is kept, above the new quantity: the
    # database's CHECK refuses it after the suppliers file was already written.
    suppliers = write_csv(tmp_path / "suppliers.csv", [supplier(code="S-9")])
    rows = [backorder(quantity="10")]
    backorders = write_csv(
        tmp_path / "backorders.csv", rows, columns=[c for c in rows[0] if c != "open_quantity"]
    )
    before = dump()
    with pytest.raises(ImportValidationError) as info:
        import_files(
            seeded,
            [ImportSource("suppliers", suppliers), ImportSource("backorders", backorders)],
        )
    [only] = info.value.problems
    assert (only["file"], only["row"]) == ("backorders.csv", "file")
    assert only["reason"].startswith("database error:")
    assert dump() == before


def test_undecodable_file_is_reported(
    seeded: Engine, dump: Callable[[], Dump], tmp_path: Path
) -> None:
    path = tmp_path / "locations.csv"
    path.write_bytes("code,name,region\nWH-9,Düsseldorf,west\n".encode("latin-1"))
    [only] = rejected(seeded, dump, "locations", path)
    assert (only["row"], only["column"]) == ("file", None)
    assert only["reason"].startswith("cannot decode as utf-8-sig")

"""Mapping files: renames and conversions, and refusals that name the file and the key."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from allotment.errors import ImportMappingError
from allotment.io.entities import get_spec
from allotment.io.mapping import identity_mapping, load_mapping
from allotment.io.reading import read_table
from allotment.io.validate import ValidatedTable, validate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "mappings"


def run(
    tmp_path: Path, content: str, mapping: str | None, *, entity: str = "customers"
) -> ValidatedTable:
    """Validate file ``content`` through the TOML ``mapping`` (no database; customer C-1 exists)."""
    spec = get_spec(entity)
    data = tmp_path / "input.csv"
    data.write_bytes(content.encode("utf-8"))
    if mapping is None:
        parsed = identity_mapping(spec)
    else:
        toml = tmp_path / "map.toml"
        toml.write_text(mapping)
        parsed = load_mapping(toml, spec)
    raw = read_table(data, parsed.csv)
    return validate(raw, spec, parsed, known_keys=lambda _entity: {"C-1"})


def values(table: ValidatedTable, *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in table.frame[list(columns)].itertuples(index=False)]


def test_renames_value_maps_dates_money_in_cents_and_constants(tmp_path: Path) -> None:
    table = run(
        tmp_path,
        "Customer ID;Name;Level;Since;LTV (cents)\nA1;Ann;Gold;31/12/2023;123456\n"
        "A2;Bob;Bronze;01/02/2024;\n",
        """
        [csv]
        delimiter = ";"
        [columns]
        "Customer ID" = "code"
        Name = "name"
        Level = "tier"
        Since = "created_on"
        "LTV (cents)" = "lifetime_value"
        [values.tier]
        Gold = "vip"
        Bronze = "standard"
        [dates]
        created_on = "%d/%m/%Y"
        [money]
        unit = "cents"
        [defaults]
        lifetime_value = "0"
        [constants]
        region = "north"
        """,
    )
    assert table.problems == []
    assert values(table, "code", "tier", "created_on", "lifetime_value", "region") == [
        ("A1", "vip", date(2023, 12, 31), Decimal("1234.56"), "north"),
        ("A2", "standard", date(2024, 2, 1), Decimal("0.00"), "north"),
    ]
    assert table.present >= {"region", "lifetime_value", "tier"}
    assert "status" not in table.present  # absent: a default on insert, untouched on update


def test_decimal_comma_thousands_and_boolean_words(tmp_path: Path) -> None:
    table = run(
        tmp_path,
        "customer_code;version;sla_days;fill_rate_commitment;penalty_rate_per_day;"
        "allows_partial_ship;effective_from;renewal_date\n"
        "C-1;1;5;0,95;0,005;Ja;2024-01-01;2025-01-01\n"
        "C-1;2;5;1.000,5;0;Nein;2024-01-01;2025-01-01\n",
        """
        [csv]
        delimiter = ";"
        decimal = ","
        thousands = "."
        [booleans]
        true = ["Ja"]
        false = ["Nein"]
        """,
        entity="contracts",
    )
    assert values(table, "fill_rate_commitment", "allows_partial_ship") == [
        (0.95, True),
        (None, False),
    ]
    assert [(p.row, p.column, p.reason) for p in table.problems] == [
        (3, "fill_rate_commitment", "must be at most 1, got 1000.5"),
    ]


def test_one_file_column_may_feed_two_of_ours(tmp_path: Path) -> None:
    table = run(
        tmp_path,
        "id,tier,region,created_on\nX-1,VIP,west,2024-01-01\n",
        '[columns]\nid = ["code", "name"]\n',
    )
    assert table.problems == []
    assert values(table, "code", "name", "tier") == [("X-1", "X-1", "vip")]


def test_a_mapped_column_missing_from_the_file_is_named(tmp_path: Path) -> None:
    table = run(tmp_path, "code,name\nX,Y\n", '[columns]\nLevel = "tier"\n')
    reasons = [(p.row, p.column, p.reason) for p in table.problems]
    assert ("header", "Level", "missing from the file (mapped to tier)") in reasons
    assert ("header", "region", "required column is missing") in reasons


def test_value_map_to_blank_uses_the_default(tmp_path: Path) -> None:
    table = run(
        tmp_path,
        "code,name,tier,region,created_on,lifetime_value\nX,Y,vip,w,2024-01-01,n/a\n",
        '[values.lifetime_value]\n"n/a" = ""\n[defaults]\nlifetime_value = 5\n',
    )
    assert table.problems == []
    assert values(table, "lifetime_value") == [(Decimal("5.00"),)]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("colums = {}", "map.toml: colums: unknown key"),
        ('[columns]\nLevel = "grade"', "map.toml: columns.Level: unknown column 'grade'"),
        ('[columns]\nA = "tier"\nB = "tier"', "map.toml: columns.B: column 'tier' is already"),
        ('[dates]\ntier = "%d/%m/%Y"', "map.toml: dates.tier: column 'tier' is not a date"),
        ('[dates]\ncreated_on = "dd/mm"', "map.toml: dates.created_on: 'dd/mm' is not a strptime"),
        ('[money]\nunit = "euros"', "map.toml: money.unit: 'euros' is not one of dollars, cents"),
        ('[csv]\ndelimiter = ";;"', "map.toml: csv.delimiter: must be a single character"),
        ('[csv]\nencoding = "klingon"', "map.toml: csv.encoding: unknown encoding"),
        ('[constants]\ntier = "gold"', "map.toml: constants.tier: 'gold' is not one of"),
        (
            '[columns]\nLevel = "tier"\n[constants]\ntier = "vip"',
            "map.toml: constants.tier: column 'tier' is also mapped",
        ),
        ('[booleans]\ntrue = ["x"]\nfalse = ["X"]', "map.toml: booleans: word(s) both"),
        ('entity = "products"', "map.toml: entity: mapping is for 'products'"),
        ("columns = [", "map.toml: not valid TOML"),
    ],
)
def test_mapping_errors_name_file_and_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "map.toml"
    path.write_text(toml)
    with pytest.raises(ImportMappingError) as info:
        load_mapping(path, get_spec("customers"))
    assert info.value.message.startswith(str(tmp_path / message)) or (
        message.split(": ", 1)[1] in info.value.message
    )
    assert info.value.message.startswith(str(path))


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_example_mappings_load(path: Path) -> None:
    entity = path.read_text().split('entity = "', 1)[1].split('"', 1)[0]
    assert load_mapping(path, get_spec(entity)).entity == entity


def test_telco_mapping_fills_blank_total_charges(tmp_path: Path) -> None:
    # Rows as in the real file: CRLF endings; new customers have TotalCharges " " (a space).
    header = (
        "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,"
        "InternetService,OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,"
        "StreamingMovies,Contract,PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn"
    )
    rows = [
        "4472-LVYGI,Female,0,Yes,Yes,0,No,No phone service,DSL,Yes,No,Yes,Yes,Yes,No,Two year,"
        "Yes,Bank transfer (automatic),52.55, ,No",
        "7590-VHVEG,Female,0,Yes,No,1,No,No phone service,DSL,No,Yes,No,No,No,No,"
        "Month-to-month,Yes,Electronic check,29.85,29.85,Yes",
    ]
    spec = get_spec("customers")
    data = tmp_path / "telco.csv"
    data.write_bytes("\r\n".join([header, *rows, ""]).encode())
    mapping = load_mapping(EXAMPLES / "telco_customers.toml", spec)
    table = validate(read_table(data, mapping.csv), spec, mapping, known_keys=lambda _e: set())
    assert table.problems == []
    assert values(table, "code", "tier", "lifetime_value", "status", "created_on") == [
        ("4472-LVYGI", "vip", Decimal("0.00"), "active", date(2024, 1, 1)),
        ("7590-VHVEG", "standard", Decimal("29.85"), "churned", date(2024, 1, 1)),
    ]
    assert list(table.rows) == [2, 3]


def test_the_documented_example_mapping_is_valid(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "README.md"
    block = docs.read_text().split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "documented.toml"
    path.write_text(block)
    mapping = load_mapping(path, get_spec("customers"))
    assert mapping.columns["Customer ID"] == ("code",)
    assert mapping.csv.decimal == ","

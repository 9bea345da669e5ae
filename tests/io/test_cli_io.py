"""`allotment import` / `allotment export` through the command line."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from typer.testing import CliRunner

from allotment.cli.main import app
from tests.dumps import dump_tables
from tests.io.factories import customer, write_csv

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "mappings"
DATA = Path(__file__).resolve().parent / "data"


def test_import_reports_counts(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "customers.csv", [customer(), customer(code="C-2")])
    result = runner.invoke(app, ["import", "customers", str(path)])
    assert result.exit_code == 0, result.output
    assert "customers: 2 rows from customers.csv — 2 inserted, 0 updated, 0 unchanged" in (
        result.stdout
    )


def test_import_with_mapping(engine: Engine) -> None:
    result = runner.invoke(
        app,
        [
            "import",
            "customers",
            str(DATA / "telco_customers_sample.csv"),
            "--mapping",
            str(EXAMPLES / "telco_customers.toml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "300 inserted" in result.stdout


def test_invalid_file_lists_problems_exits_1_and_writes_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [customer(code=f"C-{i}", tier="gold") for i in range(4)]
    path = write_csv(tmp_path / "customers.csv", rows)
    before = dump_tables(engine)
    result = runner.invoke(app, ["import", "customers", str(path), "--show", "3"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "customers.csv:2: column 'tier': 'gold' is not one of vip, premium, standard",
        "customers.csv:3: column 'tier': 'gold' is not one of vip, premium, standard",
        "customers.csv:4: column 'tier': 'gold' is not one of vip, premium, standard",
        "… and 1 more",
        "customers.csv: 4 problems; nothing was imported",
    ]
    assert dump_tables(engine) == before


def test_mapping_error_exits_2(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "customers.csv", [customer()])
    mapping = tmp_path / "bad.toml"
    mapping.write_text('[columns]\nLevel = "grade"\n')
    result = runner.invoke(app, ["import", "customers", str(path), "-m", str(mapping)])
    assert result.exit_code == 2
    assert "columns.Level: unknown column 'grade'" in result.stderr


def test_unknown_entity_is_a_usage_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [customer()])
    result = runner.invoke(app, ["import", "clients", str(path)])
    assert result.exit_code == 2
    assert "unknown entity 'clients'" in result.output


def test_export_writes_the_file(engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "customers.csv", [customer()])
    assert runner.invoke(app, ["import", "customers", str(path)]).exit_code == 0
    out = tmp_path / "out" / "customers.parquet"
    result = runner.invoke(app, ["export", "customers", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"customers: wrote 1 rows to {out}"
    assert out.exists()


def test_import_into_a_new_embedded_database_creates_the_schema(tmp_path: Path) -> None:
    """No `db upgrade` needed first: the default SQLite file under the data folder is set up."""
    path = write_csv(tmp_path / "customers.csv", [customer()])
    result = runner.invoke(app, ["import", "customers", str(path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "var" / "allotment.db").exists()
    exported = runner.invoke(app, ["export", "customers", str(tmp_path / "out.csv")])
    assert exported.exit_code == 0, exported.output
    assert "customers: wrote 1 rows" in exported.stdout

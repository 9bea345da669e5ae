"""Reading facts column by column (SQLite) gives exactly the frames of the row-by-row read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields

import pandas as pd
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)

from allotment.domain.models import CustomerOrderLine
from allotment.features import Tables, load_tables, tables
from tests.features.conftest import generate_tiny

_meta = MetaData()
_facts = Table(
    "facts",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("ref", BigInteger, nullable=True),
    Column("flag", Boolean, nullable=True),
    Column("label", String, nullable=True),
    Column("none", Integer, nullable=True),
)


@pytest.fixture()
def conn() -> Iterator[Connection]:
    engine = create_engine("sqlite://")
    _meta.create_all(engine)
    with engine.connect() as c:
        yield c
    engine.dispose()


def _both(conn: Connection, stmt: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    by_column = tables.read_frame(conn, stmt)  # type: ignore[arg-type]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tables, "_CONCAT_TYPES", ())  # the row-by-row read
        by_row = tables.read_frame(conn, stmt)  # type: ignore[arg-type]
    return by_column, by_row


def _rows(conn: Connection, rows: list[dict[str, object]]) -> None:
    conn.execute(insert(_facts), rows)


def test_nulls_booleans_and_text_read_as_the_row_read_does(conn: Connection) -> None:
    _rows(
        conn,
        [
            {"id": 1, "ref": 7, "flag": True, "label": "open", "none": None},
            {"id": 2, "ref": None, "flag": False, "label": None, "none": None},
            {"id": 3, "ref": 2**40, "flag": True, "label": "", "none": None},
            {"id": 4, "ref": -5, "flag": False, "label": "a,b", "none": None},
        ],
    )
    stmt = select(_facts.c.id, _facts.c.ref, _facts.c.flag, _facts.c.label, _facts.c.none)
    by_column, by_row = _both(conn, stmt)
    pd.testing.assert_frame_equal(by_column, by_row, check_exact=True)
    assert by_column["ref"].isna().tolist() == [False, True, False, False]
    assert by_column["label"].tolist()[1] is None or pd.isna(by_column["label"].tolist()[1])


def test_text_holding_the_separator_is_read_row_by_row(conn: Connection) -> None:
    _rows(conn, [{"id": 1, "label": "x\x1fy"}, {"id": 2, "label": "z\x1e"}])
    by_column, by_row = _both(conn, select(_facts.c.id, _facts.c.label))
    pd.testing.assert_frame_equal(by_column, by_row, check_exact=True)
    assert by_column["label"].tolist() == ["x\x1fy", "z\x1e"]


def test_an_empty_result_keeps_typed_columns(conn: Connection) -> None:
    by_column, by_row = _both(conn, select(_facts.c.id, _facts.c.ref).where(_facts.c.id < 0))
    pd.testing.assert_frame_equal(by_column, by_row, check_exact=True)
    assert len(by_column) == 0


def test_the_row_order_is_the_statement_order(conn: Connection) -> None:
    _rows(conn, [{"id": i, "ref": (i * 7919) % 101} for i in range(1, 300)])
    stmt = select(_facts.c.ref, _facts.c.id).order_by(_facts.c.ref.desc(), _facts.c.id)
    by_column, by_row = _both(conn, stmt)
    pd.testing.assert_frame_equal(by_column, by_row, check_exact=True)


def test_loaded_tables_equal_the_row_by_row_read(engine: Engine) -> None:
    """A generated world's facts: every table the features read is the same frame."""
    generate_tiny(engine)
    by_column = load_tables(engine)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tables, "_CONCAT_TYPES", ())
        by_row = load_tables(engine)
    for field in fields(Tables):
        a, b = getattr(by_column, field.name), getattr(by_row, field.name)
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True, obj=field.name)


def test_many_ids_select_the_same_rows_as_a_literal_list(engine: Engine) -> None:
    """``_in`` passes 1,000 ids or more as one array literal (SQLite ``json_each``,
    PostgreSQL ``unnest``): the same rows as an ``IN (...)`` of each id."""
    generate_tiny(engine)
    with engine.connect() as conn:
        every = conn.execute(select(CustomerOrderLine.id)).scalars().all()
        wanted = [i for i in every if i % 3 != 0] + [10**9]  # and an id that is not there
        assert len(wanted) >= tables._ARRAY_IN
        stmt = select(CustomerOrderLine.id, CustomerOrderLine.quantity).order_by(
            CustomerOrderLine.id
        )
        by_array = tables.read_frame(conn, stmt.where(tables._in(CustomerOrderLine.id, wanted)))
        by_list = tables.read_frame(conn, stmt.where(CustomerOrderLine.id.in_(wanted)))
        scalars = conn.execute(
            select(CustomerOrderLine.id).where(tables._in(CustomerOrderLine.id, wanted))
        ).scalars()
        assert sorted(scalars) == sorted(i for i in every if i % 3 != 0)
    pd.testing.assert_frame_equal(by_array, by_list, check_exact=True)
    assert len(by_array) == len(wanted) - 1

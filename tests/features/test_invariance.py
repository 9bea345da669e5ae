"""Invariance: names, codes and row order carry no signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, String, cast, literal, update

from allotment.domain.models import (
    Backorder,
    Customer,
    CustomerOrder,
    Location,
    Product,
    PurchaseOrder,
    Supplier,
)
from allotment.features import BUILDERS, Tables, Task, TaskFrame, load_tables
from tests.features.conftest import generate_tiny


def _canonical(frame: TaskFrame) -> pd.DataFrame:
    table = frame.X.assign(_id=frame.ids, _as_of=frame.as_of)
    if frame.y is not None:
        table["_y"] = frame.y
    return table.sort_values(["_as_of", "_id"]).reset_index(drop=True)


def test_renaming_codes_and_names_changes_no_feature_value(engine: Engine) -> None:
    generate_tiny(engine)
    before = {task: BUILDERS[task](load_tables(engine)) for task in Task}
    with engine.begin() as conn:
        # Reverse-sort-order codes, so nothing keyed or ordered by code could survive.
        for model, column in (
            (Supplier, Supplier.code),
            (Customer, Customer.code),
            (Location, Location.code),
            (Product, Product.sku),
            (PurchaseOrder, PurchaseOrder.number),
            (CustomerOrder, CustomerOrder.number),
            (Backorder, Backorder.number),
        ):
            new_code = literal("Z-") + cast(model.id, String)
            conn.execute(update(model).values({column: new_code}))
        conn.execute(update(Customer).values(name="renamed", account_manager="someone.else"))
        conn.execute(update(Supplier).values(name="renamed"))
    for task in Task:
        after = BUILDERS[task](load_tables(engine))
        pd.testing.assert_frame_equal(_canonical(after), _canonical(before[task]))


def _shuffled(tables: Tables, seed: int) -> Tables:
    rng = np.random.default_rng(seed)
    frames = {
        name: value.sample(frac=1.0, random_state=rng).reset_index(drop=True)
        for name, value in vars(tables).items()
        if isinstance(value, pd.DataFrame)
    }
    return Tables(**frames)


@pytest.mark.parametrize("task", list(Task))
def test_the_order_of_rows_in_every_table_changes_no_feature_value(
    tiny_tables: Tables, task: Task
) -> None:
    expected = _canonical(BUILDERS[task](tiny_tables))
    got = _canonical(BUILDERS[task](_shuffled(tiny_tables, seed=5)))
    pd.testing.assert_frame_equal(got, expected)

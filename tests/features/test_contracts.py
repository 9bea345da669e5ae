"""Data contracts of the feature frames, on the tiny world (training and scoring mode)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import allotment.features
from allotment.features import (
    BUILDERS,
    SPECS,
    TASK_FEATURES,
    FeatureKind,
    Tables,
    Task,
    TaskFrame,
    feature_table,
    scoring_frame,
    training_frame,
)
from allotment.features.registry import FEATURES
from allotment.features.tables import day_to_timestamp
from allotment.world.generate import GenerateSummary
from allotment.world.metrics import auc

TASKS = list(Task)
#: Value ranges by unit (inclusive); units not listed are only checked for finiteness.
RANGES = {
    "ratio": (0.0, 1.0),
    "share": (0.0, np.inf),
    "flag": (0.0, 1.0),
    "count": (0.0, np.inf),
    "units": (0.0, np.inf),
    "USD": (0.0, np.inf),
    "month": (1.0, 12.0),
    "day of year": (1.0, 366.0),
    "share per day": (0.0, 1.0),
    "index": (0.0, np.inf),
}
#: Signed quantities: a range of their own.
SIGNED = {
    "revenue_trend": (-1.0, 1.0),
    "days_to_renewal": (0.0, 364.0),
    "cancels_per_late_day_365d": (0.0, 1.0),
}


def _training(tables: Tables, task: Task) -> TaskFrame:
    return BUILDERS[task](tables)


def _scoring(tables: Tables, task: Task) -> TaskFrame:
    return BUILDERS[task](tables, as_of=day_to_timestamp(np.array([tables.data_end]))[0])


def _check_features(frame: TaskFrame) -> None:
    assert list(frame.X.columns) == list(TASK_FEATURES[frame.task])
    assert frame.features == {n: SPECS[n].kind for n in TASK_FEATURES[frame.task]}
    assert not any(c.startswith("sim_") or c == "oracle" for c in frame.X.columns)
    for name in frame.X.columns:
        spec, col = SPECS[name], frame.X[name]
        if spec.kind is FeatureKind.CATEGORICAL:
            assert isinstance(col.dtype, pd.CategoricalDtype), name
            assert tuple(col.cat.categories) == spec.categories, name
            values = col
        else:
            assert col.dtype == np.float64, name
            values = col
            assert not np.isinf(col.to_numpy()).any(), name
            low, high = SIGNED.get(name, RANGES.get(spec.unit, (-np.inf, np.inf)))
            present = col.dropna()
            assert ((present >= low) & (present <= high)).all(), (
                name,
                present.min(),
                present.max(),
            )
        if spec.nan_when is None:
            assert values.notna().all(), f"{name} has NaN but the registry allows none"


@pytest.mark.parametrize("task", TASKS)
def test_training_frame_columns_dtypes_ranges_and_nan_follow_the_registry(
    tiny_tables: Tables, task: Task
) -> None:
    frame = _training(tiny_tables, task)
    assert len(frame) > 50
    _check_features(frame)


@pytest.mark.parametrize("task", TASKS)
def test_training_frame_has_one_row_per_subject_and_day_binary_labels_in_data_range(
    tiny_tables: Tables, task: Task
) -> None:
    frame = _training(tiny_tables, task)
    keys = pd.DataFrame({"id": frame.ids, "as_of": frame.as_of})
    assert not keys.duplicated().any()
    assert frame.y is not None and frame.y.dtype == np.int8
    assert set(frame.y.unique()) == {0, 1}
    assert frame.as_of.dtype == "datetime64[ns]"
    end = day_to_timestamp(np.array([tiny_tables.data_end]))[0]
    first = day_to_timestamp(np.array([tiny_tables.orders["ordered_day"].min() - 366]))[0]
    assert frame.as_of.between(first, end).all()
    assert frame.ids.dtype == np.int64


def test_supplier_delay_days_late_is_nonnegative_and_zero_for_on_time_lines(
    tiny_tables: Tables,
) -> None:
    frame = _training(tiny_tables, Task.SUPPLIER_DELAY)
    assert frame.y is not None
    days = frame.extra_targets["days_late"]
    assert (days.dropna() >= 0).all()
    on_time = frame.y == 0
    assert (days[on_time] == 0).all()  # known on time means received: never censored
    assert (days[frame.y == 1].dropna() > 0).all()


@pytest.mark.parametrize("task", TASKS)
def test_scoring_frame_has_the_training_columns_and_dtypes_and_no_labels(
    tiny_tables: Tables, task: Task
) -> None:
    train, score = _training(tiny_tables, task), _scoring(tiny_tables, task)
    assert len(score) > 0
    assert score.y is None and score.oracle is None and score.extra_targets == {}
    pd.testing.assert_series_equal(score.X.dtypes, train.X.dtypes)
    _check_features(score)
    assert not score.ids.duplicated().any()
    assert (score.as_of == score.as_of.iloc[0]).all()


def test_scoring_rows_are_the_open_subjects_only(tiny_tables: Tables) -> None:
    t, end = tiny_tables, tiny_tables.data_end
    po = _scoring(t, Task.SUPPLIER_DELAY)
    received = t.receipts[t.receipts["received_day"] <= end].groupby("po_line_id")["quantity"].sum()
    qty = t.po_lines.set_index("id")["quantity"]
    assert (received.reindex(po.ids).fillna(0).to_numpy() < qty.loc[po.ids].to_numpy()).all()
    assert (po.X["received_share_known"] < 1).all()
    sla = _scoring(t, Task.SLA_BREACH)
    active = t.backorders.merge(
        t.status_changes.sort_values(["changed_day", "id"]).drop_duplicates(
            "backorder_id", keep="last"
        ),
        left_on="id",
        right_on="backorder_id",
    )
    active = active[~active["to_status"].isin(["resolved", "cancelled"])]
    assert sorted(sla.ids) == sorted(active["order_line_id"])
    churn = _scoring(t, Task.CHURN)
    churned = t.customers.set_index("id")["churned_day"]
    assert (churned.loc[churn.ids] > end).all()


def test_registry_is_complete_and_documented() -> None:
    for spec in FEATURES:
        assert spec.description and spec.label and spec.unit and spec.tasks
    for task in TASKS:
        assert len(TASK_FEATURES[task]) >= 10


@pytest.mark.parametrize("task", TASKS)
def test_oracle_is_aligned_with_the_labels_as_the_generator_reports(
    tiny_world: tuple[Tables, GenerateSummary], task: Task
) -> None:
    tables, summary = tiny_world
    frame = _training(tables, task)
    assert frame.oracle is not None and frame.y is not None
    has = frame.oracle.notna()
    # Every truth the generator could score has its row (spot buys have no truth); SLA rows
    # shipped early but not yet due are left out here and kept by the generator.
    n_truths = summary.stats.truths[task.value]
    assert has.sum() == n_truths if task is not Task.SLA_BREACH else 0.9 * n_truths <= has.sum()
    got = auc(frame.oracle[has], frame.y[has])
    assert got == pytest.approx(summary.stats.oracle_auc[task.value], abs=0.01)


@pytest.mark.parametrize("task", TASKS)
def test_several_as_of_days_stack_the_single_day_scoring_frames(
    tiny_tables: Tables, task: Task
) -> None:
    end = tiny_tables.data_end
    days = [day_to_timestamp(np.array([end - k]))[0] for k in (40, 10)]
    stacked = BUILDERS[task](tiny_tables, as_of=days)
    singles = [BUILDERS[task](tiny_tables, as_of=d) for d in days]
    expected = pd.concat([f.X for f in singles], ignore_index=True)
    pd.testing.assert_frame_equal(stacked.X, expected)
    assert stacked.ids.tolist() == [i for f in singles for i in f.ids]
    labelled = BUILDERS[task](tiny_tables, as_of=days, labels=True)
    assert labelled.y is not None and len(labelled) <= len(stacked)


def test_scoring_frame_defaults_to_the_latest_day_with_data(tiny_tables: Tables) -> None:
    latest = scoring_frame(Task.SLA_BREACH, tiny_tables)
    explicit = BUILDERS[Task.SLA_BREACH](
        tiny_tables, as_of=day_to_timestamp(np.array([tiny_tables.data_end]))[0]
    )
    pd.testing.assert_frame_equal(latest.X, explicit.X)
    assert (latest.as_of == day_to_timestamp(np.array([tiny_tables.data_end]))[0]).all()
    assert training_frame("churn", tiny_tables).y is not None


def test_feature_table_lists_every_feature_of_a_task_once() -> None:
    table = feature_table(Task.CHURN)
    for name in TASK_FEATURES[Task.CHURN]:
        assert table.count(f"`{name}`") == 1
    assert "`ship_mode`" not in table


def test_only_the_oracle_module_touches_the_generators_tables() -> None:
    package = Path(allotment.features.__file__).parent
    for source in package.glob("*.py"):
        text = source.read_text()
        if source.name != "oracle.py":
            assert "SimTruth" not in text and "SimWorld" not in text, source.name

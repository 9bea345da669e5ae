"""Time and stratified splits."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from allotment.modeling.split import SplitError, check_split, stratified_split, time_split


def _days(*offsets: int) -> pd.Series:
    return pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(list(offsets), unit="D"))


def test_fraction_split_is_strictly_ordered_in_time() -> None:
    as_of = _days(*np.random.default_rng(0).integers(0, 100, 1000))
    split = time_split(as_of, train_fraction=0.6, valid_fraction=0.2)
    t = as_of.to_numpy()
    assert t[split.train].max() < t[split.valid].min()
    assert t[split.valid].max() < t[split.test].min()
    assert sum(split.sizes().values()) == 1000
    assert split.sizes()["train"] == pytest.approx(600, abs=20)  # cut at a date boundary


def test_a_date_never_straddles_two_parts() -> None:
    # 10 rows on day 0, 10 on day 1, ...: a 0.55 cut falls inside day 5
    as_of = _days(*np.repeat(np.arange(10), 10))
    split = time_split(as_of, train_fraction=0.55, valid_fraction=0.2)
    assert split.sizes() == {"train": 50, "valid": 20, "test": 30}
    assert split.windows["valid"] == (pd.Timestamp("2024-01-06"), pd.Timestamp("2024-01-07"))


def test_explicit_dates() -> None:
    as_of = _days(*range(10))
    split = time_split(as_of, valid_start=date(2024, 1, 5), test_start=date(2024, 1, 8))
    assert list(split.train) == [0, 1, 2, 3]
    assert list(split.valid) == [4, 5, 6]
    assert list(split.test) == [7, 8, 9]


def test_embargo_drops_rows_just_before_the_next_part() -> None:
    as_of = _days(*range(10))
    split = time_split(
        as_of, valid_start=date(2024, 1, 5), test_start=date(2024, 1, 8), embargo_days=1
    )
    assert list(split.train) == [0, 1, 2]  # day 3 is within 1 day of validation's start
    assert list(split.valid) == [4, 5]
    assert list(split.test) == [7, 8, 9]


def test_maturity_drops_the_latest_rows_before_cutting() -> None:
    split = time_split(_days(*range(12)), train_fraction=0.5, valid_fraction=0.25, maturity_days=2)
    # days 10 and 11 are immature; the 10 remaining rows are cut 5 / 2 / 3
    assert list(split.train) == [0, 1, 2, 3, 4]
    assert list(split.valid) == [5, 6]
    assert list(split.test) == [7, 8, 9]
    with pytest.raises(SplitError, match="maturity_days"):
        time_split(_days(0, 1), maturity_days=5)


def test_empty_part_is_a_clear_error() -> None:
    with pytest.raises(SplitError, match="test part of the time split is empty"):
        time_split(_days(*range(10)), valid_start=date(2024, 1, 5), test_start=date(2025, 1, 1))
    with pytest.raises(SplitError, match="valid part"):
        time_split(_days(*([0] * 5 + [1] * 5)), train_fraction=0.5, valid_fraction=0.2)


def test_bad_parameters() -> None:
    with pytest.raises(SplitError, match="both"):
        time_split(_days(0, 1), valid_start=date(2024, 1, 1))
    with pytest.raises(SplitError, match="below 1"):
        time_split(_days(0, 1), train_fraction=0.8, valid_fraction=0.3)
    with pytest.raises(SplitError, match="missing"):
        time_split(pd.Series([pd.Timestamp("2024-01-01"), pd.NaT]))


def test_single_class_part_is_a_clear_error() -> None:
    as_of = _days(*range(10))
    split = time_split(as_of, valid_start=date(2024, 1, 5), test_start=date(2024, 1, 8))
    y = np.array([0, 1, 0, 1, 0, 1, 0, 0, 0, 0])
    with pytest.raises(SplitError, match=r"test part \(as_of 2024-01-08 to 2024-01-10\).*single"):
        check_split(y, split)
    check_split(np.array([0, 1, 0, 1, 0, 1, 0, 0, 1, 0]), split)


def test_stratified_split_keeps_base_rate_and_is_seeded() -> None:
    y = (np.arange(1000) % 10 == 0).astype(int)  # 10% positives
    split = stratified_split(y, train_fraction=0.6, valid_fraction=0.2, seed=3)
    for part in ("train", "valid", "test"):
        assert y[split.part(part)].mean() == pytest.approx(0.1, abs=0.002)
    all_rows = np.concatenate([split.train, split.valid, split.test])
    assert sorted(all_rows) == list(range(1000))
    again = stratified_split(y, train_fraction=0.6, valid_fraction=0.2, seed=3)
    assert np.array_equal(split.test, again.test)
    other = stratified_split(y, train_fraction=0.6, valid_fraction=0.2, seed=4)
    assert not np.array_equal(split.test, other.test)
    assert split.method == "stratified" and split.windows == {}

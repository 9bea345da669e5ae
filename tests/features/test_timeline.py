"""Point-in-time aggregates, checked by hand on a handful of events."""

from __future__ import annotations

import numpy as np
import pandas as pd

from allotment.features.timeline import cum_at, cumulate, last_at, window_sum

EVENTS = pd.DataFrame(
    {
        "key": [1, 1, 1, 2, 1],
        "day": [10, 12, 12, 11, 20],
        "n": [1.0, 1.0, 1.0, 1.0, 1.0],
        "v": [5.0, 1.0, 2.0, 7.0, 100.0],
    }
)


def test_cum_at_counts_events_on_or_before_the_query_day_per_key_in_query_order() -> None:
    got = cum_at(EVENTS, [1, 1, 2, 1, 3], [9, 12, 30, 19, 12], values=["n", "v"])
    assert got["n"].tolist() == [0.0, 3.0, 1.0, 3.0, 0.0]
    assert got["v"].tolist() == [0.0, 8.0, 7.0, 8.0, 0.0]


def test_window_sum_covers_the_half_open_window_ending_on_the_query_day() -> None:
    # (12, 20] holds only the day-20 event; (11, 19] holds the two day-12 events.
    got = window_sum(EVENTS, [1, 1], [20, 19], values=["v"], window_days=8)
    assert got["v"].tolist() == [100.0, 3.0]


def test_last_at_takes_the_latest_event_by_day_then_order_and_nan_when_none() -> None:
    events = pd.DataFrame(
        {"key": [1, 1, 1], "day": [5, 7, 7], "id": [1, 3, 2], "eta": [50.0, 70.0, 60.0]}
    )
    got = last_at(events, [1, 1, 1, 2], [4, 6, 7, 7], value="eta", order="id")
    assert np.isnan(got[0]) and np.isnan(got[3])
    assert got[1] == 50.0
    assert got[2] == 70.0  # same day: the higher id (recorded later) wins


def test_empty_queries_and_empty_events_give_zero_rows_or_zeros() -> None:
    assert len(cum_at(EVENTS, [], [], values=["n"])) == 0
    empty = EVENTS.iloc[:0]
    assert cum_at(empty, [1], [10], values=["n"])["n"].tolist() == [0.0]


def test_a_cumulated_history_answers_every_query_as_its_events_do() -> None:
    history = cumulate(EVENTS, values=["n", "v"])
    keys, days = [1, 1, 2, 1, 3], [9, 12, 30, 19, 12]
    pd.testing.assert_frame_equal(
        cum_at(history, keys, days, values=["v"]), cum_at(EVENTS, keys, days, values=["v"])
    )
    pd.testing.assert_frame_equal(
        window_sum(history, keys, days, values=["n", "v"], window_days=8),
        window_sum(EVENTS, keys, days, values=["n", "v"], window_days=8),
    )
    assert cum_at(cumulate(EVENTS.iloc[:0], values=["n"]), [1], [10], values=["n"])[
        "n"
    ].tolist() == [0.0]


def _merge_asof_cum_at(events: pd.DataFrame, qk: np.ndarray, qd: np.ndarray) -> pd.DataFrame:
    """The reference: per-key running sums looked up with pandas.merge_asof."""
    ev = events.groupby(["key", "day"], sort=True)[["n", "v"]].sum().groupby(level=0).cumsum()
    ev = ev.reset_index().sort_values("day", kind="stable")
    queries = pd.DataFrame({"key": qk, "day": qd, "pos": np.arange(len(qk))})
    merged = pd.merge_asof(
        queries.sort_values("day", kind="stable"), ev, on="day", by="key", direction="backward"
    )
    return merged.sort_values("pos")[["n", "v"]].fillna(0.0).reset_index(drop=True)


def test_the_binary_search_answers_as_merge_asof_on_random_histories() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        m = int(rng.integers(1, 400))
        events = pd.DataFrame(
            {
                "key": rng.integers(0, 30, m) * 1_000_003,  # sparse, large keys
                "day": rng.integers(19_000, 19_400, m),
                "n": 1.0,
                "v": rng.normal(size=m),
            }
        )
        q = 500
        qk = rng.integers(-1, 32, q) * 1_000_003  # some keys without events
        qd = rng.integers(18_900, 19_500, q)  # before, inside and after the events
        want = _merge_asof_cum_at(events, qk, qd)
        pd.testing.assert_frame_equal(cum_at(events, qk, qd, values=["n", "v"]), want)
        pd.testing.assert_frame_equal(
            cum_at(cumulate(events, values=["n", "v"]), qk, qd, values=["n", "v"]), want
        )
        last = events.sort_values("day", kind="stable").drop_duplicates(["key", "day"], keep="last")
        ref = pd.merge_asof(
            pd.DataFrame({"key": qk, "day": qd, "pos": np.arange(q)}).sort_values("day"),
            last.sort_values("day"),
            on="day",
            by="key",
            direction="backward",
        ).sort_values("pos")
        got = last_at(events, qk, qd, value="v")
        np.testing.assert_array_equal(got.to_numpy(), ref["v"].to_numpy())


def test_days_too_far_apart_for_one_search_key_still_answer() -> None:
    # Day numbers 2**55 apart over 5,000 keys: the one-key search cannot hold them (merge_asof).
    never = 2**55
    keys = np.arange(5_000)
    events = pd.DataFrame(
        {"key": np.repeat(keys, 2), "day": np.tile([10, never], 5_000), "n": 1.0, "v": 2.0}
    )
    got = cum_at(events, keys, np.full(5_000, 11), values=["n", "v"])
    assert got["n"].tolist() == [1.0] * 5_000
    got = cum_at(events, keys[:3], np.array([9, never, never + 1]), values=["n", "v"])
    assert got["v"].tolist() == [0.0, 4.0, 4.0]

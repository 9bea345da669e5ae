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

"""Customer service-history rules behind the churn features, on lines checkable by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from allotment.features.build import _late_line_days, overdue_events
from allotment.features.tables import NEVER

P = 50  # every line's promised day


def _lines(complete: list[int | np.int64], cancel: list[int | np.int64]) -> pd.DataFrame:
    n = len(complete)
    complete_day = np.array(complete, dtype=np.int64)
    cancel_day = np.array(cancel, dtype=np.int64)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "promised_day": np.full(n, P, dtype=np.int64),
            "complete_day": complete_day,
            "cancel_day": cancel_day,
            "end_day": np.minimum(complete_day, cancel_day),
        }
    )


def test_a_line_overdue_past_the_day_of_grace_counts_once_the_day_after_its_promise() -> None:
    # customers: 1 on time, 2 next morning, 3 two days late, 4 cancelled the day after,
    # 5 never shipped
    lines = _lines([P, P + 1, P + 2, NEVER, NEVER], [NEVER, NEVER, NEVER, P + 1, NEVER])
    events = overdue_events(lines)
    assert events["key"].tolist() == [3, 4, 5]
    assert (events["day"] == P + 1).all() and (events["n"] == 1.0).all()


def test_late_line_days_count_the_waiting_days_past_the_promise_and_the_cancellation_day() -> None:
    # 1 shipped on P+3: late on P+1 and P+2; 2 cancelled on P+2: late on P+1 and P+2;
    # 3 shipped on P+1: never late at the end of a day; 4 still open: late P+1 .. T
    lines = _lines([P + 3, NEVER, P + 1, NEVER], [NEVER, P + 2, NEVER, NEVER])
    customers = np.array([1, 2, 3, 4], dtype=np.int64)
    day = np.full(4, P + 10, dtype=np.int64)
    got = _late_line_days(lines, customers, day, 90)
    np.testing.assert_array_equal(got, [2.0, 2.0, 0.0, 10.0])


def test_late_line_days_only_count_days_inside_the_window() -> None:
    lines = _lines([NEVER], [NEVER])
    customers = np.array([1, 1, 1], dtype=np.int64)
    day = np.array([P, P + 1, P + 30], dtype=np.int64)
    np.testing.assert_array_equal(_late_line_days(lines, customers, day, 7), [0.0, 1.0, 7.0])

"""Label rules, one per test, on rows small enough to check by hand (day numbers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from allotment.features.build import churn_labels, sla_breach_labels, supplier_delay_labels
from allotment.features.tables import NEVER

END = 100  # the last day of data


def _nan_equal(got: np.ndarray, expected: list[float]) -> None:
    np.testing.assert_array_equal(got, np.array(expected, dtype=np.float64))


def test_supplier_delay_late_days_late_and_unknown_until_the_promise_has_passed() -> None:
    pol = pd.DataFrame(
        {
            "final_day": [48, 50, 57, NEVER, NEVER, 95],
            "promised_day": [50, 50, 50, 90, 101, 101],
            "cancelled": [False, False, False, False, False, False],
        }
    )
    late, days = supplier_delay_labels(pol, END)
    # early, on the day, 7 late, still out past promise, not yet due, early but not yet due
    _nan_equal(late, [0, 0, 1, 1, np.nan, np.nan])
    _nan_equal(days, [0, 0, 7, np.nan, np.nan, np.nan])  # still out: censored


def test_supplier_delay_cancelled_lines_have_no_label() -> None:
    pol = pd.DataFrame({"final_day": [NEVER], "promised_day": [10], "cancelled": [True]})
    late, _ = supplier_delay_labels(pol, END)
    assert np.isnan(late).all()


def test_sla_breach_is_shipped_after_the_promise_or_never_and_unknown_before_it() -> None:
    lines = pd.DataFrame(
        {"complete_day": [60, 61, NEVER, NEVER, 99], "promised_day": [60, 60, 60, 101, 101]}
    )
    _nan_equal(sla_breach_labels(lines, END), [0, 1, 1, np.nan, np.nan])


def test_churn_counts_the_30_days_starting_at_the_as_of_day() -> None:
    customers = pd.DataFrame({"churned_day": [10, 39, 40, NEVER, NEVER, 75]})
    day = np.array([10, 10, 10, 10, 71, 72])
    # churn on the day, on the 30th day, one day too late, never; window 71..100 is over;
    # window 72..101 is not (an early churn in it is not counted either)
    _nan_equal(churn_labels(customers, day, END), [1, 1, 0, 0, 0, np.nan])

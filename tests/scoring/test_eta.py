"""ETA P50/P90 from the supplier-delay quantile companions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from allotment.scoring.eta import P50, P90, eta_quantiles


class _Constant:
    """A stand-in quantile regressor predicting fixed days late per row."""

    def __init__(self, values: list[float]) -> None:
        self.values = np.asarray(values, dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        assert len(X) == len(self.values)
        return self.values


X = pd.DataFrame({"f": [0.0, 1.0, 2.0]})


def test_quantiles_add_to_the_promised_date_and_never_cross() -> None:
    companions = {P50: _Constant([0.0, 3.4, 6.0]), P90: _Constant([5.0, 9.0, 2.0])}
    eta = eta_quantiles(X, [11, 12, 13], [100, 100, 100], [90, 90, 90], companions)
    assert eta is not None
    assert eta.p50.tolist() == [100, 103, 106]
    # Row 3: the P90 model predicts fewer days than the P50 one; the wider bound wins.
    assert eta.p90.tolist() == [105, 109, 106]
    assert not eta.floored.any()
    frame = eta.as_frame()
    assert frame.loc[12, "eta_p50"] == pd.Timestamp("1970-04-14")  # day 103


def test_early_arrival_is_on_time_and_the_past_is_floored() -> None:
    companions = {P50: _Constant([-4.0, 0.0, 2.0]), P90: _Constant([1.0, 1.0, 2.0])}
    # Row 2 and 3: promised day 100 already passed on day 110 without a receipt.
    eta = eta_quantiles(X, [1, 2, 3], [100, 100, 100], [95, 110, 110], companions)
    assert eta is not None
    assert eta.p50.tolist() == [100, 111, 111]
    assert eta.p90.tolist() == [101, 111, 111]
    assert eta.floored.tolist() == [False, True, True]


def test_a_model_without_quantile_companions_gives_no_eta() -> None:
    assert eta_quantiles(X, [1, 2, 3], [1, 1, 1], [0, 0, 0], {P50: _Constant([0, 0, 0])}) is None

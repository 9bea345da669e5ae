"""Feature digests and input flags: the fast paths agree with the explanation package's."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from allotment.explain import InputFlag
from allotment.explain.cache import feature_digest
from allotment.scoring.risks import imputed_json, row_digests


def test_vectorised_digests_equal_the_cache_key_of_each_row() -> None:
    X = pd.DataFrame(
        {
            "days": [3.0, np.nan, -0.0, 1e-300, 12.5],
            "tier": pd.Categorical(
                ["vip", None, "standard", "vip", "premium"],
                categories=["vip", "premium", "standard"],
            ),
            "count": [1.0, 2.0, 3.0, 4.0, 0.0],
        }
    )
    expected = [feature_digest({c: X[c].iat[i] for c in X.columns}) for i in range(len(X))]
    assert row_digests(X) == expected
    assert len(set(expected)) == len(expected)


def test_equal_feature_values_share_a_digest_and_any_change_does_not() -> None:
    X = pd.DataFrame({"a": [1.0, 1.0, 1.0, 0.0], "b": [0.5, 0.5, 0.25, -0.0]})
    d = row_digests(X)
    assert d[0] == d[1] and d[0] != d[2]
    assert d[3] == row_digests(pd.DataFrame({"a": [0.0], "b": [0.0]}))[0]


def test_a_rows_input_flags_are_summarised_as_json() -> None:
    flags = (
        InputFlag("days_to_promise", "out_of_range", -10.0, 1.0),
        InputFlag("supply_ship_mode", "unseen_category", "rail", "ocean"),
        InputFlag("sup_ontime_rate_90d", "missing", None, None),
    )
    assert json.loads(imputed_json("allotment-sla-breach", flags)) == {
        "model": "allotment-sla-breach",
        "problem": "imputed",
        "features": {
            "days_to_promise": "out_of_range",
            "supply_ship_mode": "unseen_category",
            "sup_ontime_rate_90d": "missing",
        },
    }
    assert imputed_json("allotment-sla-breach", ()) == ""

"""A synthetic TaskFrame generator whose true probabilities are known (the oracle).

Truth: ``logit p = b0 + f(x)`` over a few numeric features and one categorical feature, nonlinear
by default (an interaction and a threshold), monotone decreasing in ``sup_ontime_rate_90d``.
Rows get ``as_of`` dates spread evenly over ``days`` days from 2024-01-01.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from allotment.features.frame import FeatureKind, Task, TaskFrame

REGIONS = ("north", "south", "east", "west")
REGION_EFFECT = {"north": -0.6, "south": 0.0, "east": 0.4, "west": 0.9}


def make_frame(
    *,
    n: int = 4000,
    seed: int = 0,
    task: Task = Task.SUPPLIER_DELAY,
    nonlinear: bool = True,
    intercept: float = -1.0,
    n_noise: int = 2,
    days: int = 720,
    with_days_late: bool = True,
) -> TaskFrame:
    """Build a labelled frame with known true probabilities.

    Parameters
    ----------
    n
        Rows.
    nonlinear
        Add an interaction and a threshold effect (a logistic model cannot fit them).
    intercept
        Log-odds intercept; lower gives rarer positives.
    n_noise
        Extra pure-noise numeric features.
    """
    rng = np.random.default_rng(seed)
    on_time = rng.beta(6, 2, n)  # share of lines on time, 0..1
    lead_sd = rng.gamma(2.0, 2.0, n)  # days
    qty_ratio = rng.lognormal(0.0, 0.7, n)  # open qty / on hand, ratio
    region = rng.choice(REGIONS, n)
    logit = intercept - 4.0 * (on_time - 0.75) + 0.15 * (lead_sd - 4.0)
    logit += np.vectorize(REGION_EFFECT.get)(region)
    if nonlinear:
        logit += 1.5 * (qty_ratio > 1.5) + 0.25 * (lead_sd - 4.0) * (region == "west")
        logit -= 1.0 * np.sin(3 * qty_ratio)
    else:
        logit += 0.8 * np.log(qty_ratio)
    p = 1.0 / (1.0 + np.exp(-logit))
    y = (rng.random(n) < p).astype(np.int8)
    lead_sd_missing = rng.random(n) < 0.05  # some missing numerics, LightGBM handles NaN
    cols: dict[str, object] = {
        "sup_ontime_rate_90d": on_time,
        "lead_time_sd": np.where(lead_sd_missing, np.nan, lead_sd),
        "qty_ratio": qty_ratio,
        "region": pd.Categorical(region, categories=REGIONS),
    }
    for k in range(n_noise):
        cols[f"noise_{k}"] = rng.normal(size=n)
    X = pd.DataFrame(cols)
    features = {c: FeatureKind.NUMERIC for c in X.columns}
    features["region"] = FeatureKind.CATEGORICAL
    as_of = pd.Series(
        pd.Timestamp("2024-01-01") + pd.to_timedelta(np.sort(rng.integers(0, days, n)), unit="D")
    )
    extra: dict[str, pd.Series] = {}
    if with_days_late:
        # late lines: exponential delay growing with risk (days); on time: 0 to 5 days early
        late_days = rng.exponential(2.0 + 6.0 * p)
        early_days = -rng.uniform(0, 5, n)
        extra["days_late"] = pd.Series(np.where(y == 1, np.ceil(late_days), np.round(early_days)))
    return TaskFrame(
        task=task,
        X=X,
        features=features,
        ids=pd.Series([f"L{i:06d}" for i in range(n)]),
        as_of=as_of,
        y=pd.Series(y),
        extra_targets=extra,
        oracle=pd.Series(p),
    )

"""Input validation: NaN, out-of-range and unseen categories are imputed and flagged; an
in-range row is not; columns that do not match the model are refused."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from allotment.explain import FeatureFrameMismatchError, InputFlag, ModelExplainer
from allotment.features.frame import TaskFrame
from tests.explain.conftest import fit, rows_of


def _row(frame: TaskFrame, **changes: Any) -> dict[str, Any]:
    row = rows_of(frame.X.iloc[[7]])[0]
    row.update(changes)
    return row


def _domain(explainer: ModelExplainer, name: str) -> Any:
    return next(d for d in explainer.validator.domains if d.name == name)


def test_an_in_range_row_gets_no_flag(explainer: ModelExplainer, frame: TaskFrame) -> None:
    in_range = frame.X.iloc[:200].dropna()
    assert all(flags == () for flags in explainer.predict(in_range).flags)
    assert explainer.explain_row(rows_of(in_range.iloc[[0]])[0]).flags == [()]


def test_nan_where_the_model_saw_none_is_imputed_with_the_training_median(
    explainer: ModelExplainer, frame: TaskFrame
) -> None:
    a = explainer.explain_row(_row(frame, qty_ratio=math.nan))
    (flag,) = a.flags[0]
    assert (flag.feature, flag.problem, flag.value) == ("qty_ratio", "missing", None)
    # qty_ratio ~ lognormal(0, 0.7): true median 1.0; estimated from the trees' leaf counts
    assert flag.used == pytest.approx(float(np.median(frame.X["qty_ratio"])), abs=0.2)
    matrix, _ = explainer.validator.row(_row(frame, qty_ratio=None))
    assert matrix[0, list(explainer.names).index("qty_ratio")] == flag.used


def test_nan_where_the_model_learned_a_missing_branch_is_kept_and_not_flagged(
    explainer: ModelExplainer, frame: TaskFrame
) -> None:
    assert _domain(explainer, "lead_time_sd").saw_missing  # ~5% NaN in training
    matrix, flags = explainer.validator.row(_row(frame, lead_time_sd=math.nan))
    assert flags == ()
    assert math.isnan(matrix[0, list(explainer.names).index("lead_time_sd")])


def test_out_of_range_values_are_clipped_to_the_training_range(
    explainer: ModelExplainer, frame: TaskFrame
) -> None:
    d = _domain(explainer, "sup_ontime_rate_90d")
    high = explainer.explain_row(_row(frame, sup_ontime_rate_90d=1.7)).flags[0]
    low = explainer.explain_row(_row(frame, sup_ontime_rate_90d=-0.5)).flags[0]
    assert high == (InputFlag("sup_ontime_rate_90d", "out_of_range", 1.7, d.high),)
    assert low == (InputFlag("sup_ontime_rate_90d", "out_of_range", -0.5, d.low),)
    assert d.high == pytest.approx(frame.X["sup_ontime_rate_90d"][:1000].max())


def test_unseen_category_is_treated_as_missing(explainer: ModelExplainer, frame: TaskFrame) -> None:
    # the model saw no missing region: the most frequent training region is used
    (flag,) = explainer.explain_row(_row(frame, region="atlantis")).flags[0]
    assert (flag.feature, flag.problem, flag.value) == ("region", "unseen_category", "atlantis")
    assert flag.used in ("north", "south", "east", "west")
    (missing,) = explainer.explain_row(_row(frame, region=None)).flags[0]
    assert (missing.problem, missing.used) == ("missing", flag.used)


def test_unseen_category_uses_the_missing_branch_when_training_had_missing(
    frame: TaskFrame,
) -> None:
    X = frame.X.copy()
    X.loc[X.index[::10], "region"] = np.nan
    model = fit(frame, "sigmoid", X=X)
    explainer = ModelExplainer.from_model(model, dict(frame.features), name="m", version=1)
    (flag,) = explainer.explain_row(_row(frame, region="atlantis")).flags[0]
    assert (flag.problem, flag.used) == ("unseen_category", None)
    assert explainer.explain_row(_row(frame, region=None)).flags == [()]
    # the learned missing branch is what the pipeline itself does with an unknown category
    rows = pd.DataFrame([_row(frame, region="atlantis")]).astype({"region": object})
    p = explainer.predict(rows).probability[0]
    assert p == pytest.approx(model.predict_proba(rows)[0, 1], abs=1e-12)


def test_batch_flags_match_the_row_path(explainer: ModelExplainer, frame: TaskFrame) -> None:
    X = frame.X.iloc[:4].copy().astype({"region": object})
    X.loc[X.index[0], "qty_ratio"] = np.nan
    X.loc[X.index[1], "sup_ontime_rate_90d"] = 3.0
    X.loc[X.index[2], "region"] = "atlantis"
    batch = explainer.predict(X).flags
    assert [len(f) for f in batch] == [1, 1, 1, 0]
    assert batch == [explainer.validator.row(r)[1] for r in rows_of(X)]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda X: X.drop(columns=["qty_ratio"]), "missing features ['qty_ratio']"),
        (lambda X: X.assign(extra=1.0), "unexpected features ['extra']"),
        (lambda X: X[list(X.columns[::-1])], "feature order differs"),
    ],
)
def test_mismatched_columns_are_refused(
    explainer: ModelExplainer, frame: TaskFrame, change: Any, problem: str
) -> None:
    X = change(frame.X.iloc[:5])
    for call in (explainer.predict, explainer.explain):
        with pytest.raises(FeatureFrameMismatchError) as err:
            call(X)
        assert problem in err.value.details["problems"]
        assert err.value.status_code == 422


def test_a_row_missing_a_feature_is_refused(explainer: ModelExplainer, frame: TaskFrame) -> None:
    row = _row(frame)
    del row["noise_0"]
    with pytest.raises(FeatureFrameMismatchError, match="missing features"):
        explainer.explain_row(row)


def test_a_value_that_is_not_a_number_is_flagged_even_with_a_missing_branch(
    explainer: ModelExplainer, frame: TaskFrame
) -> None:
    row = _row(frame, lead_time_sd="n/a", qty_ratio="n/a")
    _, flags = explainer.validator.row(row)
    d = _domain(explainer, "qty_ratio")
    expected = {
        InputFlag("lead_time_sd", "missing", "n/a", None),
        InputFlag("qty_ratio", "missing", "n/a", d.fill),
    }
    assert set(flags) == expected
    batch = pd.DataFrame([row]).astype({"lead_time_sd": object, "qty_ratio": object})
    assert set(explainer.predict(batch).flags[0]) == expected


def test_imputed_columns_give_the_matrix_and_flags_of_the_row_path(
    explainer: ModelExplainer, frame: TaskFrame
) -> None:
    """Scoring's column-wise flags (``impute``) and JSON summaries equal the per-row ones."""
    from allotment.scoring.risks import imputed_json, imputed_json_rows

    X = frame.X.iloc[:200].copy().astype({"region": object})
    rng = np.random.default_rng(5)
    for col in ("qty_ratio", "sup_ontime_rate_90d", "lead_time_sd"):
        X.loc[X.index[rng.choice(200, 15, replace=False)], col] = np.nan
        X.loc[X.index[rng.choice(200, 15, replace=False)], col] = 1e6
        X.loc[X.index[rng.choice(200, 15, replace=False)], col] = -1e6
    X.loc[X.index[rng.choice(200, 20, replace=False)], "region"] = "atlantis"
    X.loc[X.index[rng.choice(200, 20, replace=False)], "region"] = None
    matrix, flags = explainer.validator.matrix(X)
    imputed_matrix, imputed = explainer.validator.impute(X)
    np.testing.assert_array_equal(imputed_matrix, matrix)
    assert flags == [explainer.validator.row(r)[1] for r in rows_of(X)]
    assert sum(len(f) for f in flags) > 60
    assert imputed_json_rows("m", imputed, len(X)) == [imputed_json("m", f) for f in flags]

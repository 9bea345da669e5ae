"""Probability-space attributions: exact additivity, equal to the model's probability, agree
with shap's TreeExplainer, one-row path equals the batch path."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from allotment.explain import METHOD, ModelExplainer, ModelNotExplainableError
from allotment.explain.attribution import AttributionRow, _Member
from allotment.features.frame import FeatureKind, TaskFrame
from allotment.modeling.registry import LoadedModel
from tests.explain.conftest import rows_of
from tests.modeling.synthetic import REGIONS

ADD_TOL = 1e-9


def test_probability_equals_predict_proba_and_parts_add_up(
    any_model: tuple[Any, ModelExplainer], frame: TaskFrame
) -> None:
    model, explainer = any_model
    X = frame.X.iloc[:300]
    expected = model.predict_proba(X)[:, 1]  # in-range rows: nothing is imputed
    attribution = explainer.explain(X)
    np.testing.assert_allclose(attribution.probability, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(explainer.predict(X).probability, expected, rtol=0, atol=1e-9)
    total = attribution.base + attribution.contributions.sum(axis=1)
    assert np.max(np.abs(total - attribution.probability)) <= ADD_TOL
    assert attribution.contributions.shape == (300, len(frame.features))
    assert attribution.names == tuple(frame.features)
    assert attribution.method == METHOD


def test_base_is_the_same_for_every_row_and_inside_zero_one(explainer: ModelExplainer) -> None:
    frame_rows = explainer.validator.to_frame(np.full((1, len(explainer.names)), np.nan))
    a = explainer.explain(frame_rows)
    assert 0.0 < a.base[0] < 1.0
    b = explainer.explain_rows([{n: None for n in explainer.names}] * 3)
    assert np.all(b.base == b.base[0])


def test_contributions_keep_the_sign_of_the_log_odds_shap(
    explainer: ModelExplainer, frame: TaskFrame
) -> None:
    matrix, _ = explainer.validator.matrix(frame.X.iloc[:200])
    phi = explainer.log_odds_shap(matrix)[:, :-1]
    contributions = explainer.explain_matrix(matrix).contributions
    clear = np.abs(phi) > 1e-6
    assert np.all(np.sign(contributions[clear]) == np.sign(phi[clear]))


def test_one_row_path_equals_the_batch_path(explainer: ModelExplainer, frame: TaskFrame) -> None:
    X = frame.X.iloc[:25]
    batch = explainer.explain(X)
    for i, row in enumerate(rows_of(X)):
        one = explainer.explain_row(row)
        assert one.probability[0] == pytest.approx(batch.probability[i], abs=1e-12)
        np.testing.assert_allclose(one.contributions[0], batch.contributions[i], atol=1e-12)
        assert explainer.predict_row(row).probability[0] == pytest.approx(
            batch.probability[i], abs=1e-9
        )


_NUMERIC = st.one_of(
    st.floats(min_value=-50, max_value=50, allow_nan=False),
    st.just(math.nan),
    st.none(),
)
_REGION = st.one_of(st.sampled_from(REGIONS), st.just("atlantis"), st.none())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_rows_add_up_exactly_and_match_the_model(
    data: st.DataObject, loaded: LoadedModel, explainer: ModelExplainer
) -> None:
    row: dict[str, Any] = {}
    for name, kind in explainer.features.items():
        row[name] = data.draw(_REGION if kind is FeatureKind.CATEGORICAL else _NUMERIC, label=name)
    a = explainer.explain_row(row)
    assert abs(a.base[0] + a.contributions[0].sum() - a.probability[0]) <= ADD_TOL
    matrix, flags = explainer.validator.row(row)
    imputed = explainer.validator.to_frame(matrix)
    assert a.probability[0] == pytest.approx(loaded.predict_proba(imputed)[0, 1], abs=1e-9)
    assert a.flags == [flags]


def test_a_row_at_the_expected_score_uses_the_calibrator_slope() -> None:
    # sum(phi) = 0: the ratio (p - base) / sum(phi) is undefined; the slope keeps it exact
    class Booster:
        def predict(self, matrix: Any, **kwargs: Any) -> Any:
            return np.array([[0.3, -0.3, 0.0, -1.2]])

    member = _Member(Booster(), True, 1.0, None, None)  # type: ignore[arg-type]
    base, contributions, p = member.attribute(np.zeros((1, 3)), None)
    assert base[0] + contributions[0].sum() == pytest.approx(p[0], abs=1e-15)
    slope = expit(-1.2) * (1 - expit(-1.2))
    np.testing.assert_allclose(contributions[0], [0.3 * slope, -0.3 * slope, 0.0], rtol=1e-6)


def test_pred_contrib_agrees_with_shap_tree_explainer(
    explainer: ModelExplainer, frame: TaskFrame
) -> None:
    import shap  # type: ignore[import-untyped,import-not-found,unused-ignore]

    matrix, _ = explainer.validator.matrix(frame.X.iloc[:200])
    ours = explainer.log_odds_shap(matrix)
    tree = shap.TreeExplainer(explainer.boosters[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's note on its LightGBM output format
        theirs = np.asarray(tree.shap_values(matrix))
    np.testing.assert_allclose(ours[:, :-1], theirs, atol=1e-9)
    assert float(np.ravel(tree.expected_value)[-1]) == pytest.approx(ours[0, -1], abs=1e-9)


def test_a_skops_round_trip_explains_identically(
    loaded: LoadedModel, explainer: ModelExplainer, frame: TaskFrame
) -> None:
    data = skops.io.dumps(loaded.model)
    model = skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))
    again = ModelExplainer.from_loaded(
        LoadedModel(name=loaded.name, version=loaded.version, model=model, features=loaded.features)
    )
    X = frame.X.iloc[:50]
    np.testing.assert_array_equal(
        again.explain(X).contributions, explainer.explain(X).contributions
    )


def test_a_model_without_lightgbm_is_refused(frame: TaskFrame) -> None:
    numeric = frame.X.drop(columns=["region"]).fillna(0.0)
    assert frame.y is not None
    model = LogisticRegression().fit(numeric, frame.y)
    features = {c: FeatureKind.NUMERIC for c in numeric.columns}
    with pytest.raises(ModelNotExplainableError):
        ModelExplainer.from_loaded(LoadedModel("lr", 1, model, features))


def test_payload_round_trip_keeps_the_row(explainer: ModelExplainer, frame: TaskFrame) -> None:
    X = frame.X.iloc[:1].copy()
    X["qty_ratio"] = 99.0
    row = explainer.explain(X).row(0)
    payload = row.to_payload(rows_of(X)[0])
    back = AttributionRow.from_payload(
        payload, model_name=row.model_name, model_version=row.model_version
    )
    assert back.base == row.base
    assert back.probability == row.probability
    np.testing.assert_array_equal(back.contributions, row.contributions)
    assert back.flags == row.flags
    assert back.flag("qty_ratio") is not None


def test_frame_with_category_dtype_or_strings_gives_the_same_result(
    explainer: ModelExplainer, frame: TaskFrame
) -> None:
    X = frame.X.iloc[:40]
    as_strings = X.assign(region=X["region"].astype(str))
    other_order = X.assign(region=pd.Categorical(X["region"].astype(str), categories=REGIONS[::-1]))
    p = explainer.predict(X).probability
    np.testing.assert_array_equal(explainer.predict(as_strings).probability, p)
    np.testing.assert_array_equal(explainer.predict(other_order).probability, p)

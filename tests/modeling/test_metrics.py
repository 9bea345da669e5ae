"""Metrics on tiny hand-computed cases, and against scikit-learn where it has the metric."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from allotment.modeling import metrics as m


def test_roc_auc_hand_case() -> None:
    # positives score 0.8 and 0.4; negatives 0.6 and 0.2: pairs won 3 of 4
    assert m.roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.6, 0.2]) == pytest.approx(0.75)


def test_roc_auc_ties_count_half() -> None:
    assert m.roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    # one positive tied with one of two negatives and above the other: (1 + 0.5) / 2
    assert m.roc_auc([1, 0, 0], [0.5, 0.5, 0.1]) == pytest.approx(0.75)


def test_constant_score_auc_is_half_and_ap_is_base_rate() -> None:
    y = [1, 0, 0, 0, 1, 0, 0, 0]
    assert m.roc_auc(y, [0.3] * 8) == 0.5
    assert m.pr_auc(y, [0.3] * 8) == pytest.approx(0.25)


def test_roc_auc_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        m.roc_auc([1, 1], [0.2, 0.3])


def test_pr_auc_hand_case() -> None:
    # ranked: 1 (P=1, R=.5), 0, 1 (P=2/3, R=1): AP = .5*1 + .5*2/3
    assert m.pr_auc([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 + 1 / 3)


def test_brier_and_log_loss_hand_case() -> None:
    assert m.brier([1, 0], [0.8, 0.4]) == pytest.approx((0.04 + 0.16) / 2)
    assert m.log_loss([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)


def test_log_loss_clips_certain_mistakes() -> None:
    assert m.log_loss([1], [0.0]) == pytest.approx(-math.log(1e-15))


def test_ece_hand_case_two_bins() -> None:
    # bins by sorted p: {0.1, 0.2} observed 0 (gap 0.15); {0.7, 0.9} observed 1 (gap 0.2)
    y, p = [0, 0, 1, 1], [0.2, 0.1, 0.9, 0.7]
    assert m.expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.5 * 0.15 + 0.5 * 0.2)
    curve = m.calibration_curve(y, p, n_bins=2)
    assert curve.mean_predicted == pytest.approx([0.15, 0.8])
    assert curve.observed_rate == [0.0, 1.0]
    assert curve.count == [2, 2]


def test_ece_equal_mass_bins_sizes_differ_by_at_most_one() -> None:
    curve = m.calibration_curve(np.r_[np.zeros(50), np.ones(50)], np.linspace(0, 1, 100))
    assert len(curve.count) == m.N_ECE_BINS
    assert max(curve.count) - min(curve.count) <= 1
    assert sum(curve.count) == 100


def test_ece_of_perfect_bins_is_zero() -> None:
    # every bin's mean prediction equals its positive rate
    y = [0, 1, 0, 1]
    assert m.expected_calibration_error(y, [0.5] * 4, n_bins=2) == pytest.approx(0.0)


def test_pinball_and_coverage_hand_case() -> None:
    y, q = [0.0, 10.0], [2.0, 4.0]
    # row 1: over-predict by 2 -> (1 - 0.9) * 2 = 0.2; row 2: under by 6 -> 0.9 * 6 = 5.4
    assert m.pinball_loss(y, q, 0.9) == pytest.approx((0.2 + 5.4) / 2)
    assert m.coverage(y, q) == 0.5
    assert m.quantile_metrics(y, q, 0.5) == {"pinball_p50": pytest.approx(2.0), "coverage_p50": 0.5}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random(500) < 0.3).astype(int)
    p = np.round(np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, 500), 0.01, 0.99), 2)  # ties
    assert m.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert m.pr_auc(y, p) == pytest.approx(skm.average_precision_score(y, p))
    assert m.brier(y, p) == pytest.approx(skm.brier_score_loss(y, p))
    assert m.log_loss(y, p) == pytest.approx(skm.log_loss(y, p))
    q = rng.normal(size=500)
    t = rng.normal(size=500)
    for alpha in (0.5, 0.9):
        assert m.pinball_loss(t, q, alpha) == pytest.approx(
            skm.mean_pinball_loss(t, q, alpha=alpha)
        )


def test_classification_metrics_with_oracle() -> None:
    y = [1, 1, 0, 0]
    res = m.classification_metrics(y, [0.8, 0.4, 0.6, 0.2], oracle=[0.9, 0.7, 0.3, 0.1])
    assert res.roc_auc == pytest.approx(0.75)
    assert res.oracle_auc == pytest.approx(1.0)
    assert res.auc_ratio == pytest.approx(0.75)
    assert res.base_rate == 0.5 and res.n == 4
    assert m.classification_metrics(y, [0.5] * 4).oracle_auc is None


def test_oracle_metrics_use_only_rows_with_a_known_truth() -> None:
    # row 3's truth is unknown: oracle AUC and the model's AUC in the ratio skip it
    y = [1, 1, 0, 0, 1]
    p = [0.8, 0.4, 0.6, 0.2, 0.1]
    res = m.classification_metrics(y, p, oracle=[0.9, 0.7, 0.3, 0.1, float("nan")])
    assert res.oracle_n == 4
    assert res.oracle_auc == pytest.approx(1.0)
    assert res.auc_ratio == pytest.approx(0.75)  # model AUC on the 4 rows, not on all 5
    assert res.oracle_rows_auc == pytest.approx(0.75)
    assert res.roc_auc == pytest.approx(m.roc_auc(y, p))
    one_class = m.classification_metrics(y, p, oracle=[0.9, 0.7, np.nan, np.nan, 0.5])
    assert one_class.oracle_n == 3 and one_class.oracle_auc is None


def test_inputs_are_validated() -> None:
    with pytest.raises(ValueError, match="0/1"):
        m.brier([2, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="predictions"):
        m.brier([1, 0], [0.1])
    with pytest.raises(ValueError, match="NaN"):
        m.brier([1, 0], [0.1, float("nan")])
    with pytest.raises(ValueError, match="alpha"):
        m.pinball_loss([1.0], [1.0], 1.0)


def test_ece_noise_floor_shrinks_with_more_rows_and_covers_perfect_calibration() -> None:
    rng = np.random.default_rng(5)
    small_p = rng.uniform(0.05, 0.6, 800)
    large_p = rng.uniform(0.05, 0.6, 16_000)
    small, large = m.ece_noise_floor(small_p), m.ece_noise_floor(large_p)
    assert 0.02 < small < 0.07
    assert large < small / 3  # roughly 1/sqrt(n)
    # Outcomes drawn from the predictions themselves (perfect calibration) stay under it
    # about 95% of the time.
    hits = [
        m.expected_calibration_error((rng.random(800) < small_p).astype(int), small_p) <= small
        for _ in range(200)
    ]
    assert 0.88 <= np.mean(hits) <= 0.99
    assert m.ece_noise_floor(small_p) == small  # seeded


def test_ece_noise_floor_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        m.ece_noise_floor([])
    with pytest.raises(ValueError):
        m.ece_noise_floor([0.5], quantile=1.0)

"""The promotion gate: one rule per test, at every boundary (pure; no MLflow)."""

from __future__ import annotations

import pytest

from allotment.modeling.gate import Candidate, GateConfig, GateDecision, decide

WINDOW = "2024-01-01..2024-06-30"


def cand(
    *,
    version: int = 2,
    auc: float | None = 0.80,
    ece: float | None = 0.01,
    baseline: float | None = 0.70,
    window: str | None = WINDOW,
    signature: bool = True,
    ece_floor: float | None = None,
) -> Candidate:
    return Candidate(
        version=version,
        auc=auc,
        ece=ece,
        ece_floor=ece_floor,
        baseline_logistic_auc=baseline,
        test_window=window,
        has_signature=signature,
    )


CHAMPION = cand(version=1, auc=0.80)


def test_better_challenger_is_promoted() -> None:
    decision = decide(cand(auc=0.82), CHAMPION)
    assert decision.promote
    assert decision.failures == []
    assert all(r.startswith("pass:") for r in decision.reasons)


def test_much_worse_challenger_is_refused() -> None:
    decision = decide(cand(auc=0.70), CHAMPION)
    assert not decision.promote
    assert len(decision.failures) == 1
    assert "AUC 0.7000 vs champion v1 0.8000" in decision.failures[0]


@pytest.mark.parametrize(
    ("challenger_auc", "promoted"),
    [
        (0.80, True),  # equal
        (0.796, True),  # drop 0.004
        (0.795, True),  # drop exactly 0.005 (float round-off absorbed)
        (0.7949, False),  # drop 0.0051
        (0.7949999, False),  # drop 0.0050001
    ],
)
def test_auc_drop_boundary(challenger_auc: float, promoted: bool) -> None:
    assert decide(cand(auc=challenger_auc), CHAMPION).promote is promoted


def test_auc_drop_boundary_with_other_champion_values() -> None:
    champ = cand(version=1, auc=0.9)
    assert decide(cand(auc=0.895), champ).promote
    assert not decide(cand(auc=0.8949), champ).promote


def test_max_auc_drop_is_configurable() -> None:
    cfg = GateConfig(max_auc_drop=0.02)
    assert decide(cand(auc=0.78), CHAMPION, cfg).promote
    assert not decide(cand(auc=0.7799), CHAMPION, cfg).promote
    strict = GateConfig(max_auc_drop=0.0)
    assert decide(cand(auc=0.80), CHAMPION, strict).promote
    assert not decide(cand(auc=0.7999), CHAMPION, strict).promote


@pytest.mark.parametrize(
    ("ece", "promoted"), [(0.0, True), (0.0299, True), (0.03, True), (0.0301, False), (0.2, False)]
)
def test_ece_ceiling_boundary(ece: float, promoted: bool) -> None:
    decision = decide(cand(auc=0.85, ece=ece), CHAMPION)
    assert decision.promote is promoted
    if not promoted:
        assert "ECE" in decision.failures[0]


def test_ece_ceiling_is_configurable() -> None:
    cfg = GateConfig(ece_ceiling=0.02)
    assert decide(cand(ece=0.02), CHAMPION, cfg).promote
    assert not decide(cand(ece=0.021), CHAMPION, cfg).promote


@pytest.mark.parametrize(
    ("ece", "floor", "promoted"),
    [
        (0.040, 0.041, True),  # small test split: within what chance alone produces
        (0.041, 0.041, True),
        (0.042, 0.041, False),
        (0.031, 0.010, False),  # a low floor never lowers the ceiling's allowance...
        (0.030, 0.010, True),  # ...nor tightens it
    ],
)
def test_ece_within_the_noise_floor_of_a_small_test_split_passes(
    ece: float, floor: float, promoted: bool
) -> None:
    decision = decide(cand(auc=0.85, ece=ece, ece_floor=floor), CHAMPION)
    assert decision.promote is promoted
    if floor > 0.03:
        assert "chance ECE of a perfectly calibrated model" in decision.reasons[1]


def test_noise_allowance_can_be_switched_off() -> None:
    cfg = GateConfig(ece_allow_noise=False)
    assert not decide(cand(auc=0.85, ece=0.04, ece_floor=0.05), CHAMPION, cfg).promote


def test_missing_ece_is_refused() -> None:
    assert not decide(cand(ece=None), CHAMPION).promote


def test_missing_signature_is_refused() -> None:
    decision = decide(cand(auc=0.9, signature=False), CHAMPION)
    assert not decision.promote
    assert decision.failures == [
        "fail: model signature missing (the service cannot check its inputs)"
    ]


def test_signature_requirement_can_be_switched_off() -> None:
    cfg = GateConfig(require_signature=False)
    assert decide(cand(auc=0.9, signature=False), CHAMPION, cfg).promote


def test_missing_signature_refused_even_for_first_version() -> None:
    assert not decide(cand(signature=False), None).promote


@pytest.mark.parametrize(
    ("auc", "baseline", "promoted"),
    [(0.80, 0.70, True), (0.7001, 0.70, True), (0.70, 0.70, False), (0.69, 0.70, False)],
)
def test_first_version_must_beat_logistic_baseline(
    auc: float, baseline: float, promoted: bool
) -> None:
    decision = decide(cand(auc=auc, baseline=baseline), None)
    assert decision.promote is promoted
    assert any("first version" in r for r in decision.reasons)


def test_first_version_without_baseline_is_refused() -> None:
    decision = decide(cand(baseline=None), None)
    assert not decision.promote
    assert "no logistic baseline" in decision.failures[0]


def test_first_version_still_needs_calibration() -> None:
    assert not decide(cand(auc=0.9, baseline=0.6, ece=0.05), None).promote


def test_baseline_is_ignored_when_a_champion_exists() -> None:
    # beating the champion is what counts; the baseline rule is only for first versions
    assert decide(cand(auc=0.80, baseline=0.85), CHAMPION).promote


def test_different_test_windows_are_refused() -> None:
    decision = decide(cand(auc=0.9, window="2024-07-01..2024-12-31"), CHAMPION)
    assert not decision.promote
    assert "different test windows" in decision.failures[0]


@pytest.mark.parametrize(("mine", "theirs"), [(None, WINDOW), (WINDOW, None), (None, None)])
def test_unknown_test_window_is_refused(mine: str | None, theirs: str | None) -> None:
    champ = cand(version=1, window=theirs)
    decision = decide(cand(auc=0.9, window=mine), champ)
    assert not decision.promote
    assert "test window unknown" in decision.failures[0]


def test_missing_auc_is_refused() -> None:
    assert not decide(cand(auc=None), CHAMPION).promote
    assert not decide(cand(auc=None), None).promote
    assert not decide(cand(auc=0.9), cand(version=1, auc=None)).promote


def test_every_failure_is_reported() -> None:
    decision = decide(cand(auc=0.5, ece=0.5, signature=False), CHAMPION)
    assert len(decision.failures) == 3
    assert len(decision.reasons) == 3


def test_default_config_values() -> None:
    cfg = GateConfig()
    assert (cfg.max_auc_drop, cfg.ece_ceiling, cfg.require_signature) == (0.005, 0.03, True)
    assert decide(cand(auc=0.9), CHAMPION) == decide(cand(auc=0.9), CHAMPION, cfg)


@pytest.mark.parametrize("kwargs", [{"max_auc_drop": -0.1}, {"ece_ceiling": 1.5}])
def test_invalid_config_is_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        GateConfig(**kwargs)  # type: ignore[arg-type]


def test_decision_failures_only_lists_fails() -> None:
    decision = GateDecision(promote=False, reasons=["pass: a", "fail: b"])
    assert decision.failures == ["fail: b"]

"""The promotion gate: may a challenger model version replace the champion?

A pure function of two small records, so every rule can be tested at its boundary without
MLflow. :mod:`allotment.modeling.registry` builds the records from a model version's tags and
applies the decision.

Rules (all must pass; ``GateConfig`` holds the numbers):

1. **Signature present** (when ``require_signature``): the service checks the registered input
   schema against our features before it serves a model, so a version without one can never be
   served.
2. **Calibration**: the challenger's test ECE is at most ``ece_ceiling``.
3. **Discrimination**:

   - with a champion: both were evaluated on the **same test window** and the challenger's AUC is
     not below the champion's by more than ``max_auc_drop`` (a drop of exactly
     ``max_auc_drop`` passes). Windows that differ, or a missing window, refuse: AUCs from
     different test periods are not comparable (later periods can be harder or easier). The
     caller re-evaluates the champion on the challenger's test frame to compare them
     (``registry.promote(..., eval_frame=...)``), which puts both on one window.
   - without a champion (the first version): the challenger's AUC must be strictly greater than
     its own logistic-regression baseline's AUC on the same test rows.

Comparisons allow ``AUC_TOLERANCE`` of floating-point slack, so ``0.800 - 0.795`` counts as a
drop of exactly 0.005.
"""

from __future__ import annotations

from dataclasses import dataclass, field

AUC_TOLERANCE = 1e-9  # absolute, in AUC units; only absorbs float round-off


@dataclass(frozen=True)
class GateConfig:
    """The gate's thresholds.

    Parameters
    ----------
    max_auc_drop
        Largest allowed ROC AUC drop of the challenger below the champion (AUC units).
    ece_ceiling
        Largest allowed expected calibration error of the challenger (probability units).
    ece_allow_noise
        Also accept an ECE up to the challenger's noise floor: the ECE a perfectly calibrated
        model shows by chance on that many test rows (95th percentile; ~0.04 on 800 rows), so
        a small test split does not refuse a well-calibrated model.
    require_signature
        Refuse a version logged without an MLflow model signature.
    """

    max_auc_drop: float = 0.005
    ece_ceiling: float = 0.03
    ece_allow_noise: bool = True
    require_signature: bool = True

    def __post_init__(self) -> None:
        if self.max_auc_drop < 0:
            raise ValueError("max_auc_drop must be >= 0")
        if not 0 <= self.ece_ceiling <= 1:
            raise ValueError("ece_ceiling must be within [0, 1]")


@dataclass(frozen=True)
class Candidate:
    """What the gate knows about one model version.

    Parameters
    ----------
    version
        Registry version number.
    auc
        Test ROC AUC (``None`` when not recorded).
    ece
        Test expected calibration error (``None`` when not recorded).
    ece_floor
        The ECE a perfectly calibrated model would show by chance on the same test rows.
    baseline_logistic_auc
        ROC AUC of the logistic-regression baseline on the same test rows.
    test_window
        Opaque identifier of the test rows (e.g. ``"2024-01-01..2024-06-30"`` or a frame hash);
        two AUCs are comparable only when their windows are equal.
    has_signature
        Whether the version was logged with a model signature.
    """

    version: int
    auc: float | None
    ece: float | None
    ece_floor: float | None = None
    baseline_logistic_auc: float | None = None
    test_window: str | None = None
    has_signature: bool = True


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict: ``promote`` and one line per check, each starting ``pass:``/``fail:``."""

    promote: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """Only the checks that failed."""
        return [r for r in self.reasons if r.startswith("fail:")]


def _check(ok: bool, text: str) -> str:
    return f"{'pass' if ok else 'fail'}: {text}"


def decide(
    challenger: Candidate, champion: Candidate | None, config: GateConfig | None = None
) -> GateDecision:
    """Decide whether ``challenger`` may become champion.

    Parameters
    ----------
    challenger
        The version proposed for promotion.
    champion
        The current champion, or ``None`` when the model has none yet.
    config
        Thresholds; the defaults when ``None``.

    Returns
    -------
    GateDecision
        ``promote`` is true only when every check passes; ``reasons`` lists every check.
    """
    cfg = config or GateConfig()
    reasons: list[str] = []

    if cfg.require_signature:
        text = (
            "model signature present"
            if challenger.has_signature
            else "model signature missing (the service cannot check its inputs)"
        )
        reasons.append(_check(challenger.has_signature, text))

    if challenger.ece is None:
        reasons.append(_check(False, "challenger has no ECE recorded"))
    else:
        floor = challenger.ece_floor if cfg.ece_allow_noise else None
        limit = max(cfg.ece_ceiling, floor or 0.0)
        ok = challenger.ece <= limit + AUC_TOLERANCE
        text = f"ECE {challenger.ece:.4f} {'<=' if ok else '>'} ceiling {cfg.ece_ceiling}"
        if floor is not None and floor > cfg.ece_ceiling:
            text = (
                f"ECE {challenger.ece:.4f} {'<=' if ok else '>'} {limit:.4f}, the chance ECE of a"
                f" perfectly calibrated model on this test split (ceiling {cfg.ece_ceiling})"
            )
        reasons.append(_check(ok, text))

    if challenger.auc is None:
        reasons.append(_check(False, "challenger has no AUC recorded"))
    elif champion is None:
        base = challenger.baseline_logistic_auc
        if base is None:
            reasons.append(_check(False, "first version: no logistic baseline AUC to beat"))
        else:
            ok = challenger.auc > base + AUC_TOLERANCE
            reasons.append(
                _check(
                    ok,
                    f"first version: AUC {challenger.auc:.4f} {'>' if ok else '<='}"
                    f" logistic baseline {base:.4f}",
                )
            )
    elif champion.auc is None:
        reasons.append(_check(False, f"champion v{champion.version} has no AUC recorded"))
    elif challenger.test_window is None or champion.test_window is None:
        reasons.append(
            _check(
                False,
                "test window unknown "
                f"(challenger {challenger.test_window!r}, champion {champion.test_window!r});"
                " AUCs are comparable only on the same test rows",
            )
        )
    elif challenger.test_window != champion.test_window:
        reasons.append(
            _check(
                False,
                f"different test windows (challenger {challenger.test_window},"
                f" champion v{champion.version} {champion.test_window}); re-evaluate the"
                " champion on the challenger's test frame",
            )
        )
    else:
        drop = champion.auc - challenger.auc
        ok = drop <= cfg.max_auc_drop + AUC_TOLERANCE
        reasons.append(
            _check(
                ok,
                f"AUC {challenger.auc:.4f} vs champion v{champion.version} {champion.auc:.4f}"
                f" on {challenger.test_window} (drop {drop:+.4f},"
                f" allowed {cfg.max_auc_drop})",
            )
        )

    return GateDecision(promote=all(r.startswith("pass:") for r in reasons), reasons=reasons)

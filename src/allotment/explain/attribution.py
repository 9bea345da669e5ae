"""Feature attributions of a calibrated risk model, in probability space, adding up exactly.

Method (this text is :data:`METHOD`, shown in the API)
------------------------------------------------------
1. Inputs are validated and imputed against what the model saw in training
   (:mod:`allotment.explain.inputs`); every imputation is flagged.
2. LightGBM's native TreeSHAP (``Booster.predict(pred_contrib=True)``) gives, per row, exact
   SHAP values ``phi_i`` of the booster's raw score (log-odds) and the expected raw score
   ``E[f]`` (the bias column), with ``E[f] + sum_i phi_i = f(x)``. It agrees with shap's
   ``TreeExplainer`` (path-dependent) to floating-point precision and is faster (see the
   benchmark ``bench/explain.py``).
3. The calibrator ``g`` of scikit-learn's ``CalibratedClassifierCV`` maps the booster's output to
   the probability: for the sigmoid method ``p = 1 / (1 + exp(a * r + b))`` over the response
   ``r`` it was fitted on (the raw score ``f`` when the classifier has ``decision_function``,
   as LightGBM >= 4.7 does, else ``sigmoid(f)``); isotonic calibrators are applied as fitted.
4. Attributions move to probability space by rescaling: ``base = g(E[f])`` (the calibrated
   probability at the expected raw score) and ``c_i = phi_i * (p - base) / sum_j phi_j``, so
   ``base + sum_i c_i = p`` exactly, each ``c_i`` keeps the sign of ``phi_i`` (``g`` is
   increasing) and features share ``p - base`` in proportion to their log-odds SHAP values.
   When ``|sum_j phi_j| <= 1e-9`` (the row sits at the expected score) the ratio is replaced by
   the calibrator's slope ``g'(E[f])``; the floating-point remainder of ``p - base`` (at most
   ~1e-15) is added to the feature with the largest ``|phi_i|``, so additivity holds to
   rounding.
5. When the calibrator averages several (classifier, calibrator) pairs (``ensemble=True``),
   steps 2-4 run per pair and base, contributions and probability are averaged the same way,
   which keeps the sum exact and the probability equal to ``predict_proba``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline

from allotment.errors import ModelUnavailableError
from allotment.explain.inputs import FloatArray, InputFlag, InputValidator, jsonable
from allotment.features.frame import FeatureKind
from allotment.modeling.pipelines import CategoryDtypes
from allotment.modeling.registry import LoadedModel

METHOD = (
    "LightGBM TreeSHAP (pred_contrib, log-odds of the raw booster) rescaled into calibrated "
    "probability space: base = calibrated probability at the expected raw score; "
    "contribution_i = shap_i * (p - base) / sum(shap), so base + sum(contributions) = p exactly "
    "(calibrator slope at the expected score when sum(shap) ~ 0). Inputs outside what the model "
    "saw are imputed and flagged."
)
_FLAT = 1e-9  # |sum phi| (log-odds) below which the ratio (p - base) / sum phi is ill-defined
_STEP = 1e-6  # log-odds step of the central difference for the calibrator's slope


class ModelNotExplainableError(ModelUnavailableError):
    """A model this explainer cannot decompose exactly (not calibrated LightGBM binary)."""

    code = "model_not_explainable"


@dataclass(frozen=True)
class Prediction:
    """Calibrated probabilities of a batch and each row's input flags (no attributions)."""

    probability: FloatArray
    flags: list[tuple[InputFlag, ...]]


@dataclass(frozen=True)
class AttributionRow:
    """One row's decomposition: ``base + sum(contributions) == probability``."""

    model_name: str
    model_version: int
    names: tuple[str, ...]
    base: float
    contributions: FloatArray
    probability: float
    flags: tuple[InputFlag, ...]
    method: str = METHOD

    def by_feature(self) -> dict[str, float]:
        """Feature -> probability-space contribution."""
        return {n: float(c) for n, c in zip(self.names, self.contributions, strict=True)}

    def flag(self, feature: str) -> InputFlag | None:
        """The input flag of ``feature``, if its value was imputed."""
        return next((f for f in self.flags if f.feature == feature), None)

    def to_payload(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A JSON-safe dict (the explanation cache's payload)."""
        return {
            "base": self.base,
            "probability": self.probability,
            "contributions": self.by_feature(),
            "values": {k: jsonable(v) for k, v in (values or {}).items()},
            "flags": [f.to_dict() for f in self.flags],
            "method": self.method,
        }

    @classmethod
    def from_payload(
        cls,
        payload: Mapping[str, Any],
        *,
        model_name: str,
        model_version: int,
        names: Sequence[str] | None = None,
    ) -> AttributionRow:
        """The row stored by :meth:`to_payload` (``names`` fixes the feature order)."""
        contributions: Mapping[str, float] = payload["contributions"]
        order = tuple(names) if names is not None else tuple(contributions)
        return cls(
            model_name=model_name,
            model_version=model_version,
            names=order,
            base=float(payload["base"]),
            contributions=np.asarray([contributions[n] for n in order], dtype=np.float64),
            probability=float(payload["probability"]),
            flags=tuple(InputFlag.from_dict(f) for f in payload.get("flags", [])),
            method=str(payload.get("method", METHOD)),
        )


@dataclass(frozen=True)
class Attribution:
    """A batch's decomposition in probability space.

    Parameters
    ----------
    names
        Features, in column order.
    base
        ``(n,)`` calibrated probability at the expected raw score.
    contributions
        ``(n, k)`` probability-space contribution of each feature.
    probability
        ``(n,)`` calibrated probability; ``base + contributions.sum(1) == probability``.
    flags
        Each row's input flags.
    method
        How the attributions were computed (:data:`METHOD`).
    """

    model_name: str
    model_version: int
    names: tuple[str, ...]
    base: FloatArray
    contributions: FloatArray
    probability: FloatArray
    flags: list[tuple[InputFlag, ...]] = field(default_factory=list)
    method: str = METHOD

    def __len__(self) -> int:
        return len(self.probability)

    def row(self, i: int) -> AttributionRow:
        """Row ``i`` as an :class:`AttributionRow`."""
        return AttributionRow(
            model_name=self.model_name,
            model_version=self.model_version,
            names=self.names,
            base=float(self.base[i]),
            contributions=self.contributions[i].copy(),
            probability=float(self.probability[i]),
            flags=self.flags[i] if self.flags else (),
            method=self.method,
        )

    def rows(self) -> list[AttributionRow]:
        return [self.row(i) for i in range(len(self))]


@dataclass(frozen=True)
class _Member:
    """One (booster, calibrator) pair of the model."""

    booster: lgb.Booster
    raw_response: bool  # the calibrator reads the raw score (else LightGBM's probability)
    sigmoid: float  # LightGBM's binary objective "sigmoid" parameter
    calibrator: Any  # None: uncalibrated LightGBM probability
    platt: tuple[float, float] | None  # (a, b) of a sigmoid calibrator: the fast path

    def calibrate(self, f: FloatArray) -> FloatArray:
        """Calibrated probability of raw scores ``f`` (as scikit-learn computes it)."""
        r = f if self.raw_response else expit(self.sigmoid * f)
        if self.calibrator is None:
            p = np.asarray(expit(self.sigmoid * f), dtype=np.float64)
        elif self.platt is not None:
            a, b = self.platt
            p = np.asarray(expit(-(a * r + b)), dtype=np.float64)
        else:
            p = np.asarray(self.calibrator.predict(r), dtype=np.float64)
        p[(p > 1.0) & (p <= 1.0 + 1e-5)] = 1.0  # as CalibratedClassifierCV does
        return p

    def attribute(
        self, matrix: FloatArray, num_threads: int | None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(base, contributions, probability)`` of this pair (method steps 2-4)."""
        kwargs: dict[str, Any] = {} if num_threads is None else {"num_threads": num_threads}
        raw = np.asarray(self.booster.predict(matrix, pred_contrib=True, **kwargs))
        k = matrix.shape[1]
        phi, expected = raw[:, :k], raw[:, k]
        total = phi.sum(axis=1)
        p = self.calibrate(expected + total)
        base = self.calibrate(expected)
        delta = p - base
        flat = np.abs(total) <= _FLAT
        scale = np.empty_like(total)
        scale[~flat] = delta[~flat] / total[~flat]
        if flat.any():
            e = expected[flat]
            scale[flat] = (self.calibrate(e + _STEP) - self.calibrate(e - _STEP)) / (2 * _STEP)
        contrib = phi * scale[:, None]
        remainder = delta - contrib.sum(axis=1)
        largest = np.argmax(np.abs(phi), axis=1)
        contrib[np.arange(len(contrib)), largest] += remainder
        return base, contrib, p


class ModelExplainer:
    """Fast predictions and exact probability-space attributions of one model version.

    Build it once per loaded version with :meth:`from_loaded` (reading the booster's trees
    takes a moment); then :meth:`predict`, :meth:`explain` and :meth:`explain_row` are cheap.

    Attributes
    ----------
    name, version
        The registered model and version.
    features
        Feature name -> kind, in column order.
    validator
        The input validator (training domains of every feature).
    """

    def __init__(
        self,
        name: str,
        version: int,
        features: Mapping[str, FeatureKind],
        members: Sequence[_Member],
        validator: InputValidator,
    ) -> None:
        self.name = name
        self.version = int(version)
        self.features = {str(k): FeatureKind(v) for k, v in features.items()}
        self.names = tuple(self.features)
        self.validator = validator
        self._members = tuple(members)

    @classmethod
    def from_loaded(cls, loaded: LoadedModel) -> ModelExplainer:
        """The explainer of a loaded model version.

        Raises
        ------
        ModelNotExplainableError
            The model is not a (calibrated) LightGBM binary classifier behind
            ``CategoryDtypes``.
        FeatureFrameMismatchError
            The booster's features differ from ``loaded.features``.
        """
        return cls.from_model(
            loaded.model, loaded.features, name=loaded.name, version=loaded.version
        )

    @classmethod
    def from_model(
        cls, model: Any, features: Mapping[str, FeatureKind], *, name: str, version: int
    ) -> ModelExplainer:
        """The explainer of a fitted model object (see :meth:`from_loaded`)."""
        label = f"{name} v{version}"
        members = _members(model, label)
        validator = InputValidator.from_boosters([m.booster for m in members], features)
        return cls(name, version, features, members, validator)

    # ------------------------------------------------------------------ predictions

    def predict(self, X: pd.DataFrame) -> Prediction:
        """Calibrated probabilities after imputation, with flags; no attributions (fast).

        Equal to ``loaded.predict_proba(imputed X)[:, 1]``.
        """
        matrix, flags = self.validator.matrix(X)
        return Prediction(self._predict(matrix, None), flags)

    def predict_matrix(self, matrix: FloatArray) -> FloatArray:
        """Calibrated probabilities of a matrix validated by :meth:`InputValidator.impute`."""
        return self._predict(matrix, None)

    def predict_row(self, row: Mapping[str, Any]) -> Prediction:
        """:meth:`predict` for one row given as a mapping (array path, one thread)."""
        matrix, flags = self.validator.row(row)
        return Prediction(self._predict(matrix, 1), [flags])

    def _predict(self, matrix: FloatArray, num_threads: int | None) -> FloatArray:
        kwargs: dict[str, Any] = {} if num_threads is None else {"num_threads": num_threads}
        total = np.zeros(len(matrix), dtype=np.float64)
        for m in self._members:
            f = np.asarray(m.booster.predict(matrix, raw_score=True, **kwargs), dtype=np.float64)
            total += m.calibrate(f)
        return total / len(self._members)

    # ------------------------------------------------------------------ attributions

    def explain(self, X: pd.DataFrame, *, num_threads: int | None = None) -> Attribution:
        """Attributions of a batch (see the module docstring for the method)."""
        matrix, flags = self.validator.matrix(X)
        return self.explain_matrix(matrix, flags, num_threads=num_threads)

    def explain_rows(
        self, rows: Sequence[Mapping[str, Any]], *, num_threads: int | None = None
    ) -> Attribution:
        """Attributions of rows given as mappings (no DataFrame is built)."""
        matrix, flags = self.validator.rows(rows)
        return self.explain_matrix(matrix, flags, num_threads=num_threads)

    def explain_row(self, row: Mapping[str, Any]) -> Attribution:
        """Attributions of one row (array path, one LightGBM thread)."""
        matrix, flags = self.validator.row(row)
        return self.explain_matrix(matrix, [flags], num_threads=1)

    def explain_matrix(
        self,
        matrix: FloatArray,
        flags: list[tuple[InputFlag, ...]] | None = None,
        *,
        num_threads: int | None = None,
    ) -> Attribution:
        """Attributions of an already validated matrix (categoricals as codes)."""
        n = len(matrix)
        base = np.zeros(n)
        contrib = np.zeros((n, len(self.names)))
        prob = np.zeros(n)
        for m in self._members:
            b, c, p = m.attribute(matrix, num_threads)
            base += b
            contrib += c
            prob += p
        k = len(self._members)
        if k > 1:
            base, contrib, prob = base / k, contrib / k, prob / k
        return Attribution(
            model_name=self.name,
            model_version=self.version,
            names=self.names,
            base=base,
            contributions=contrib,
            probability=prob,
            flags=flags if flags is not None else [() for _ in range(n)],
        )

    def log_odds_shap(self, matrix: FloatArray) -> FloatArray:
        """Raw ``pred_contrib`` of the first booster, ``(n, k + 1)`` (last column: E[f])."""
        return np.asarray(self._members[0].booster.predict(matrix, pred_contrib=True))

    @property
    def boosters(self) -> tuple[lgb.Booster, ...]:
        return tuple(m.booster for m in self._members)


# ---------------------------------------------------------------------- model structure


def _members(model: Any, label: str) -> list[_Member]:
    if isinstance(model, CalibratedClassifierCV):
        classes = list(getattr(model, "classes_", []))
        if len(classes) != 2:
            raise ModelNotExplainableError(f"{label}: not a binary classifier", model=label)
        out = []
        for cc in model.calibrated_classifiers_:
            if cc.method not in ("sigmoid", "isotonic") or len(cc.calibrators) != 1:
                raise ModelNotExplainableError(
                    f"{label}: calibration {cc.method!r} is not supported", model=label
                )
            booster, sigmoid = _booster(cc.estimator, label)
            calibrator = cc.calibrators[0]
            platt = None
            if cc.method == "sigmoid" and hasattr(calibrator, "a_"):
                platt = (float(calibrator.a_), float(calibrator.b_))
            out.append(
                _Member(
                    booster=booster,
                    # scikit-learn prefers decision_function over predict_proba
                    raw_response=hasattr(cc.estimator, "decision_function"),
                    sigmoid=sigmoid,
                    calibrator=calibrator,
                    platt=platt,
                )
            )
        return out
    booster, sigmoid = _booster(model, label)
    return [_Member(booster, True, sigmoid, None, None)]


def _booster(estimator: Any, label: str) -> tuple[lgb.Booster, float]:
    """The booster behind ``estimator`` (frozen wrapper, CategoryDtypes pipeline, LGBM)."""
    inner = estimator
    if type(inner).__name__ == "FrozenEstimator":
        inner = inner.estimator
    if isinstance(inner, Pipeline):
        pre = [step for _, step in inner.steps[:-1]]
        if not all(isinstance(s, CategoryDtypes) or s in (None, "passthrough") for s in pre):
            raise ModelNotExplainableError(
                f"{label}: only a CategoryDtypes step may precede LightGBM", model=label
            )
        inner = inner.steps[-1][1]
    if not isinstance(inner, lgb.LGBMClassifier):
        raise ModelNotExplainableError(f"{label}: no LightGBM classifier found", model=label)
    booster = inner.booster_
    objective = _objective(booster)
    if not objective.startswith("binary"):
        raise ModelNotExplainableError(f"{label}: objective {objective!r} is not binary")
    sigmoid = 1.0
    for part in objective.split():
        if part.startswith("sigmoid:"):
            sigmoid = float(part.split(":", 1)[1])
    return booster, sigmoid


def _objective(booster: lgb.Booster) -> str:
    # the model string's "objective=binary sigmoid:1" line, without dumping every tree
    for line in booster.model_to_string(num_iteration=1).splitlines():
        if line.startswith("objective="):
            return line.split("=", 1)[1]
    return ""


def agreement_with_shap(
    explainer: ModelExplainer, X: pd.DataFrame
) -> float:  # pragma: no cover - used by the bench and a test that installs shap
    """Max |pred_contrib - shap.TreeExplainer| (log-odds) on ``X`` (needs ``shap``)."""
    import shap  # type: ignore[import-untyped,import-not-found,unused-ignore]

    matrix, _ = explainer.validator.matrix(X)
    ours = explainer.log_odds_shap(matrix)[:, :-1]
    theirs = np.asarray(shap.TreeExplainer(explainer.boosters[0]).shap_values(matrix))
    if theirs.ndim == 3:
        theirs = theirs[..., -1]
    return float(np.max(np.abs(ours - theirs))) if ours.size else math.nan


__all__ = [
    "METHOD",
    "Attribution",
    "AttributionRow",
    "ModelExplainer",
    "ModelNotExplainableError",
    "Prediction",
    "agreement_with_shap",
]

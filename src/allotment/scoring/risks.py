"""Risk predictions for scoring: champion models, flagged inputs, feature digests, the cache.

Predictions go through :class:`allotment.explain.ModelExplainer` (built once per model
version), so scoring and explanation impute and flag inputs the same way and an explanation's
``base + Σ contributions`` equals the probability that was scored.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd

from allotment.errors import ModelSignatureError, ModelUnavailableError
from allotment.explain import InputFlag, ModelExplainer
from allotment.explain.inputs import Imputed
from allotment.features.build import scoring_frame
from allotment.features.frame import FeatureKind, Task
from allotment.features.tables import Tables
from allotment.modeling import registry


@dataclass
class TaskRisk:
    """One task's predictions for the scoring day, for the subjects some backorder needs."""

    task: Task
    model_name: str
    version: int | None
    reason: str | None  # why the model is unavailable (None when it is)
    X: pd.DataFrame | None  # the feature rows predicted (subjects of the backorders only)
    features: dict[str, FeatureKind]
    row_of: dict[int, int]  # subject id -> row of X
    probability: npt.NDArray[np.float64]
    digests: list[str]
    flags: list[str]  # per row of X: its input flags as JSON text ("": none)
    seconds: dict[str, float] = field(default_factory=dict)


def row_digests(X: pd.DataFrame) -> list[str]:
    """:func:`allotment.explain.cache.feature_digest` of every row of ``X``, vectorised.

    The same canonical JSON (features sorted by name; numbers as the ``repr`` of their float
    value, ``-0.0`` as ``0.0``; NaN and None as null; categories as strings), built column by
    column instead of one dict per row, and each column's distinct values formatted once (a
    100k backlog has few distinct values per feature): the digests of a 100k-row frame cost
    little more than hashing. A test checks that both agree.
    """
    names = sorted(X.columns, key=str)
    parts: list[list[str]] = []
    for name in names:
        col = X[name]
        key = json.dumps(str(name), ensure_ascii=True)
        null = f"[{key},null]"
        if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            col.dtype
        ):
            codes, uniques = pd.factorize(col.astype(object), use_na_sentinel=True)
            texts = [
                null
                if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                else f"[{key},{json.dumps(['s', str(v)], separators=(',', ':'))}]"
                for v in uniques.tolist()
            ]
        else:
            values = col.to_numpy(np.float64) + 0.0  # + 0.0 turns -0.0 into 0.0
            distinct, codes = np.unique(values, return_inverse=True)  # NaNs collapse to one
            texts = [null if v != v else f'[{key},["n","{v!r}"]]' for v in distinct.tolist()]
        # codes -1 (a missing category) picks the null appended last.
        parts.append(np.asarray([*texts, null], dtype=object)[codes].tolist())
    rows = zip(*parts, strict=True) if parts else iter([()] * len(X))
    return [hashlib.sha256(("[" + ",".join(r) + "]").encode()).hexdigest() for r in rows]


_EXPLAINERS: dict[tuple[str, str, int], ModelExplainer] = {}


def explainer_for(loaded: registry.LoadedModel) -> ModelExplainer:
    """The explainer of a loaded version, built once per (store, name, version)."""
    key = (registry.tracking_uri(), loaded.name, loaded.version)
    found = _EXPLAINERS.get(key)
    if found is None:
        found = _EXPLAINERS[key] = ModelExplainer.from_loaded(loaded)
    return found


def imputed_json(model: str, flags: Sequence[InputFlag]) -> str:
    """A row's input flags as one JSON object, ``""`` when there are none.

    ``{"model": m, "problem": "imputed", "features": {feature: problem, ...}}``: a snapshot
    says which inputs were imputed and why; the values given and used are in the row's
    explanation (:mod:`allotment.explain.cache`). Storing them per snapshot would multiply a
    100k backlog's write volume several times (most rows carry a few out-of-range inputs).
    Built as text: model, feature and problem names are plain identifiers.
    """
    if not flags:
        return ""
    features = ",".join(f'"{f.feature}":"{f.problem}"' for f in flags)
    return f'{{"model":"{model}","problem":"imputed","features":{{{features}}}}}'


def imputed_json_rows(model: str, imputed: Sequence[Imputed], n: int) -> list[str]:
    """:func:`imputed_json` of each of ``n`` rows from a batch's flags by feature and problem
    (:meth:`allotment.explain.inputs.InputValidator.impute`), built column by column (a
    large backlog has a million flagged cells). A test checks that both agree."""
    features = np.full(n, "", dtype=object)
    for imp in imputed:  # feature order, at most one flag per row and feature
        rows = imp.rows
        text = f'"{imp.feature}":"{imp.problem}"'
        have = features[rows]
        features[rows] = np.where(have == "", text, have + ("," + text))
    head = f'{{"model":"{model}","problem":"imputed","features":{{'
    return [f"{head}{f}}}}}" if f else "" for f in features.tolist()]


def _predict(
    loaded: registry.LoadedModel, X: pd.DataFrame
) -> tuple[npt.NDArray[np.float64], list[str]]:
    """P(positive) per row after flagged imputation (NaN, out of range, unseen category), and
    each row's input flags as JSON text (:func:`imputed_json`)."""
    explainer = explainer_for(loaded)
    matrix, imputed = explainer.validator.impute(X)
    probability = explainer.predict_matrix(matrix)
    flags = imputed_json_rows(loaded.name, imputed, len(X))
    return np.asarray(probability, dtype=np.float64), flags


def task_risk(
    task: Task,
    tables: Tables,
    as_of: date,
    *,
    use_models: bool,
    subjects: npt.ArrayLike,
) -> TaskRisk:
    """Build ``task``'s scoring frame as of ``as_of`` and predict ``subjects`` with the champion.

    Only the frame rows of ``subjects`` (order lines, customers or PO lines that open
    backorders refer to) are built, predicted and digested: the frames would hold every open
    PO line and active customer, most of which no backorder waits on.
    """
    name = registry.model_name(task)
    empty = TaskRisk(task, name, None, None, None, {}, {}, np.zeros(0), [], [])
    if not use_models:
        empty.reason = "the policy does not use models"
        return empty
    t0 = time.perf_counter()
    frame = scoring_frame(task, tables, as_of=as_of, subjects=subjects)
    empty.features = dict(frame.features)
    ids = frame.ids.to_numpy(np.int64)
    X = frame.X
    t1 = time.perf_counter()
    try:
        loaded = registry.load_champion(task, frame.features)
        probability, flags = _predict(loaded, X) if len(X) else (np.zeros(0), [])
    except (ModelUnavailableError, ModelSignatureError) as exc:
        # Includes a model the explainer cannot decompose: never served unexplained.
        empty.reason = exc.message
        return empty
    t2 = time.perf_counter()
    digests = row_digests(X) if len(X) else []
    return TaskRisk(
        task=task,
        model_name=name,
        version=loaded.version,
        reason=None,
        X=X,
        features=dict(frame.features),
        row_of={int(s): i for i, s in enumerate(ids.tolist())},
        probability=probability,
        digests=digests,
        flags=flags,
        seconds={
            "features": t1 - t0,
            "predict": t2 - t1,
            "digests": time.perf_counter() - t2,
        },
    )

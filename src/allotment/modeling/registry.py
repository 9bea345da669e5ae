"""MLflow tracking and model registry: log runs, register versions, promote, serve the champion.

The MLflow store is its own database (``Settings.resolved_mlflow_tracking_uri``, a SQLite file
under ``models/`` by default), never the application database. Artifacts of a SQLite store live
beside it in ``mlartifacts/<experiment>``, so a temporary store (tests) keeps temporary artifacts.

Serving is by alias only (``<name>@champion``); MLflow's deprecated stages are never used. The
loader resolves the alias to its version number, which is the cache key and what every decision
records as the model version it used.
A version becomes champion through :func:`promote`, which applies the gate in
:mod:`allotment.modeling.gate` unless forced with a reason. The previous champion keeps the alias
``previous-champion`` and the registered model's tag ``allotment.champion_history`` keeps the
order of promotions, so :func:`rollback` can step back more than once.

Models are stored in the ``skops`` format and loaded with an allow-list of types defined here,
not read from the artifact (see :data:`TRUSTED_TYPE_PREFIXES`), so loading needs no global
"allow pickle" switch and a crafted artifact cannot whitelist its own types.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The one environment touch allowed outside config.py: MLflow reads this switch when it is
# imported, before any of our settings could reach it; without it MLflow phones home.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
import mlflow.sklearn
import numpy as np
import numpy.typing as npt
import pandas as pd
import skops.io  # type: ignore[import-untyped]  # untyped; not in the mypy overrides
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from allotment.config import get_settings
from allotment.errors import (
    ModelPromotionRefusedError,
    ModelSignatureError,
    ModelUnavailableError,
    NotFoundError,
)
from allotment.features.frame import FeatureKind, Task
from allotment.modeling.gate import Candidate, GateConfig, GateDecision, decide

log = logging.getLogger(__name__)

MODEL_NAMES: dict[Task, str] = {
    Task.SUPPLIER_DELAY: "allotment-supplier-delay",
    Task.SLA_BREACH: "allotment-sla-breach",
    Task.CHURN: "allotment-churn",
}
CHAMPION = "champion"
PREVIOUS_CHAMPION = "previous-champion"
HISTORY_TAG = "allotment.champion_history"  # on the registered model: JSON list of versions
TAG = "allotment."  # prefix of every tag we write

# Canonical metric names on a version's tags, and the names training code may use for them.
METRIC_ALIASES: dict[str, tuple[str, ...]] = {
    "auc": ("auc", "roc_auc"),
    "ece": ("ece",),
    "ece_floor": ("ece_floor",),
    "oracle_auc": ("oracle_auc",),
    "auc_oracle_ratio": ("auc_oracle_ratio", "auc_ratio"),
    "baseline_logistic_auc": ("baseline_logistic_auc", "logistic.roc_auc", "logistic_auc"),
    "baseline_rate_auc": ("baseline_rate_auc", "base_rate.roc_auc"),
}

# Types a loaded model may contain beyond skops' own safe defaults: scikit-learn, LightGBM and
# our own estimators (allotment.*). Anything else (e.g. builtins.eval) is refused.
TRUSTED_TYPE_PREFIXES: tuple[str, ...] = ("sklearn.", "lightgbm.", "allotment.")
TRUSTED_TYPES: frozenset[str] = frozenset({"collections.OrderedDict", "collections.defaultdict"})

# MLflow schema types per feature kind (pandas "category" is inferred as string).
_SCHEMA_TYPES: dict[FeatureKind, frozenset[str]] = {
    FeatureKind.NUMERIC: frozenset({"double", "float", "long", "integer"}),
    FeatureKind.CATEGORICAL: frozenset({"string"}),
}
SHAP_MAX_ROWS = 2000  # rows of the test split the SHAP summary is drawn from (seeded sample)
# MLflow error codes that mean "no such model / alias / version" (not "store is broken")
_ABSENT = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"})
_PIP_REQUIREMENTS = ["scikit-learn", "lightgbm", "pandas", "numpy", "skops"]


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisteredVersion:
    """A logged run's registered model version."""

    name: str
    version: int
    run_id: str
    model_uri: str


@dataclass(frozen=True)
class ModelRow:
    """One row of :func:`list_models`: a registered version with its headline metrics."""

    name: str
    version: int
    aliases: tuple[str, ...]
    auc: float | None
    oracle_auc: float | None
    auc_oracle_ratio: float | None
    ece: float | None
    created: datetime
    run_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "aliases": list(self.aliases),
            "auc": self.auc,
            "oracle_auc": self.oracle_auc,
            "auc_oracle_ratio": self.auc_oracle_ratio,
            "ece": self.ece,
            "created": self.created.isoformat(),
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class LoadedModel:
    """A model version loaded for scoring, with the feature spec its signature was checked on."""

    name: str
    version: int
    model: Any
    features: dict[str, FeatureKind]

    def predict_proba(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Class probabilities, columns ``[P(0), P(1)]``."""
        return np.asarray(self.model.predict_proba(X), dtype=np.float64)


@dataclass(frozen=True)
class PromotionResult:
    """What :func:`promote` did."""

    name: str
    version: int
    previous_champion: int | None
    decision: GateDecision
    forced: bool
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RollbackResult:
    """What :func:`rollback` did: champion moved from ``from_version`` to ``to_version``."""

    name: str
    from_version: int
    to_version: int


# --------------------------------------------------------------------------------------------
# store
# --------------------------------------------------------------------------------------------


def tracking_uri() -> str:
    """The configured MLflow tracking (and registry) URI."""
    return get_settings().resolved_mlflow_tracking_uri


def _client() -> MlflowClient:
    uri = tracking_uri()
    # The fluent API (start_run, log_model) reads the process-wide URI; set it on every call so
    # a changed setting (tests) is always honoured.
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def artifact_root(uri: str) -> Path | None:
    """Where artifacts of a SQLite store go: ``mlartifacts`` beside the database file.

    Parameters
    ----------
    uri
        A tracking URI.

    Returns
    -------
    pathlib.Path or None
        ``None`` for other stores (a tracking server chooses its own artifact location).
    """
    if not uri.startswith("sqlite:///"):
        return None
    db_path = Path(uri[len("sqlite:///") :])
    return db_path.parent / "mlartifacts"


def model_name(task: Task | str) -> str:
    """The registered model name of a task (a name that is not a task passes through)."""
    try:
        return MODEL_NAMES[Task(task)]
    except ValueError:
        return str(task)


def _experiment_id(client: MlflowClient, task: Task | str) -> str:
    # one experiment per task, named like the task's registered model
    name = MODEL_NAMES[Task(task)] if task in set(Task) else f"allotment-{task}"
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    root = artifact_root(tracking_uri())
    location = None
    if root is not None:
        root.mkdir(parents=True, exist_ok=True)
        location = (root / name).resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=location))


# --------------------------------------------------------------------------------------------
# run metadata
# --------------------------------------------------------------------------------------------


def frame_hash(df: pd.DataFrame) -> str:
    """A stable SHA-256 of a data frame's content, column names, dtypes and row order.

    Parameters
    ----------
    df
        The training frame (features, and the target if it is a column).

    Returns
    -------
    str
        64 hex characters; equal frames give equal hashes across processes and machines.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    digest.update(str(len(df)).encode())
    if len(df.columns):
        rows = pd.util.hash_pandas_object(df, index=True, categorize=True)
        digest.update(np.ascontiguousarray(rows.to_numpy(dtype=np.uint64)).tobytes())
    return digest.hexdigest()


def git_commit(cwd: Path | None = None) -> str:
    """The current git commit (``git rev-parse HEAD``), or ``"unknown"`` outside a repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd or Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def canonical_metrics(metrics: Mapping[str, float | None]) -> dict[str, float]:
    """Map training metric names onto the registry's canonical ones (see METRIC_ALIASES).

    Parameters
    ----------
    metrics
        Metric name -> value; ``None`` values are dropped.

    Returns
    -------
    dict
        Canonical name -> value for every canonical metric found.
    """
    out: dict[str, float] = {}
    for canonical, aliases in METRIC_ALIASES.items():
        for alias in aliases:
            value = metrics.get(alias)
            if value is not None:
                out[canonical] = float(value)
                break
    if "auc_oracle_ratio" not in out and out.get("oracle_auc") and "auc" in out:
        out["auc_oracle_ratio"] = out["auc"] / out["oracle_auc"]
    return out


def _find_booster(model: Any, X: pd.DataFrame) -> tuple[Any, pd.DataFrame] | None:
    """The LightGBM booster inside ``model`` and ``X`` transformed to its inputs, if any."""
    booster = getattr(model, "booster_", None)
    if booster is not None and hasattr(booster, "predict"):
        return booster, X
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:
        Xt = X
        for _, step in steps[:-1]:
            Xt = step.transform(Xt)
        return _find_booster(steps[-1][1], Xt)
    calibrated = getattr(model, "calibrated_classifiers_", None)
    if isinstance(calibrated, list) and calibrated:
        return _find_booster(calibrated[0].estimator, X)
    inner = getattr(model, "estimator", None)
    if inner is not None and inner is not model:
        return _find_booster(inner, X)
    return None


def _calibration_figure(y: npt.NDArray[np.float64], p: npt.NDArray[np.float64]) -> Figure:
    order = np.argsort(p, kind="stable")
    bins = [b for b in np.array_split(order, min(10, len(p))) if len(b)]
    mean_p = [float(p[b].mean()) for b in bins]
    rate = [float(y[b].mean()) for b in bins]
    fig = Figure(figsize=(5, 5))  # no pyplot: no global backend, safe off the main thread
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot(mean_p, rate, marker="o", label="model (10 equal-mass bins)")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed positive rate")
    ax.set_title("calibration on the test split")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def shap_values(model: Any, X: pd.DataFrame) -> tuple[npt.NDArray[np.float64], list[str]] | None:
    """Per-row SHAP values (log-odds) from LightGBM's native ``pred_contrib``.

    Parameters
    ----------
    model
        A fitted estimator; pipelines and calibrators are searched for a LightGBM booster.
    X
        Raw feature rows.

    Returns
    -------
    tuple or None
        ``(values, feature_names)`` with ``values`` of shape ``(n_rows, n_features)`` (the bias
        column dropped), or ``None`` when the model has no LightGBM booster.
    """
    found = _find_booster(model, X)
    if found is None:
        return None
    booster, Xt = found
    contrib = np.asarray(booster.predict(Xt, pred_contrib=True), dtype=np.float64)
    names = [str(n) for n in booster.feature_name()]
    return contrib[:, : len(names)], names


def _shap_figure(values: npt.NDArray[np.float64], names: list[str], X: pd.DataFrame) -> Figure:
    """Beeswarm-like summary: one row per feature (top 15 by mean |SHAP|), points coloured by
    the feature's value rank (categorical: category code)."""
    importance = np.abs(values).mean(axis=0)
    top = list(np.argsort(importance)[::-1][:15])
    rng = np.random.default_rng(0)  # jitter only; fixed so the plot is reproducible
    fig = Figure(figsize=(7, 0.4 * len(top) + 1.5))
    ax = fig.subplots()
    for row, j in enumerate(reversed(top)):
        col = X[names[j]] if names[j] in X.columns else pd.Series(np.zeros(len(X)))
        raw = col.cat.codes.astype(float) if isinstance(col.dtype, pd.CategoricalDtype) else col
        ranks = pd.Series(np.asarray(raw, dtype=float)).rank(pct=True).fillna(0.5).to_numpy()
        jitter = rng.uniform(-0.3, 0.3, size=len(values))
        ax.scatter(values[:, j], row + jitter, c=ranks, cmap="coolwarm", s=6, alpha=0.7)
    ax.set_yticks(range(len(top)), [names[j] for j in reversed(top)])
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("SHAP value (log-odds; colour: feature value, low blue → high red)")
    ax.set_title("SHAP summary on the test split")
    fig.tight_layout()
    return fig


def _importances(model: Any, X: pd.DataFrame) -> dict[str, float]:
    found = _find_booster(model, X)
    if found is None:
        return {}
    booster = found[0]
    gains = booster.feature_importance(importance_type="gain")
    return {str(n): float(g) for n, g in zip(booster.feature_name(), gains, strict=True)}


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def model_card(
    *,
    name: str,
    task: str,
    metrics: Mapping[str, float],
    data_window: str | None,
    test_window: str | None,
    data_hash: str,
    commit: str,
    features: Mapping[str, FeatureKind],
    intended_use: str | None = None,
    limitations: Sequence[str] = (),
) -> str:
    """A short markdown model card.

    Parameters
    ----------
    name, task
        Registered model name and task.
    metrics
        Canonical metrics (see :func:`canonical_metrics`).
    data_window, test_window
        Human-readable training data and test windows.
    data_hash, commit
        Data snapshot hash and git commit of the run.
    features
        Feature spec.
    intended_use
        One paragraph; a default per task is used when ``None``.
    limitations
        Extra limitation bullets (added to the standard ones).

    Returns
    -------
    str
        Markdown text.
    """
    uses = {
        "supplier_delay": "Rank open PO lines by the risk of arriving after the promised date, to "
        "guide expedite and alternate-source decisions.",
        "sla_breach": "Estimate the probability that a backordered line misses the customer's "
        "promised date, to price penalty exposure and trigger escalation.",
        "churn": "Estimate the probability that a customer churns within the horizon, to value "
        "the relationship at risk and order the outreach list.",
    }
    m = metrics
    rows = [
        ("this model", m.get("auc"), m.get("ece")),
        ("logistic baseline", m.get("baseline_logistic_auc"), None),
        ("base-rate baseline", m.get("baseline_rate_auc"), None),
        ("oracle (true probabilities)", m.get("oracle_auc"), None),
    ]
    table = "\n".join(f"| {label} | {_fmt(auc)} | {_fmt(ece)} |" for label, auc, ece in rows)
    kinds = ", ".join(f"`{n}` ({k.value})" for n, k in features.items())
    limits = [
        "Decision support, not a decision: planners approve actions; the priority blend and "
        "policy decide how much weight the probability gets.",
        "Trained on the data window above; behaviour outside it (new suppliers, customers or "
        "seasons) is not validated — watch drift and retrain.",
        "Probabilities are calibrated on the validation split; ECE is measured on the test split.",
        *limitations,
    ]
    return "\n".join(
        [
            f"# Model card: {name}",
            "",
            f"- **Task**: `{task}`",
            f"- **Data window**: {data_window or 'not recorded'}",
            f"- **Test window**: {test_window or 'not recorded'}",
            f"- **Data snapshot**: `{data_hash[:16]}`; **code**: `{commit[:12]}`",
            "",
            "## Intended use",
            "",
            intended_use or uses.get(task, "Binary risk scoring on the mapped user table."),
            "",
            "## Test metrics",
            "",
            "| model | ROC AUC | ECE |",
            "|---|---|---|",
            table,
            "",
            f"AUC / oracle AUC: {_fmt(m.get('auc_oracle_ratio'))}",
            "",
            "## Features",
            "",
            kinds,
            "",
            "## Limitations",
            "",
            *[f"- {line}" for line in limits],
            "",
        ]
    )


# --------------------------------------------------------------------------------------------
# logging a run
# --------------------------------------------------------------------------------------------


def _skops_types(model: Any) -> list[str]:
    """Types ``model`` needs beyond skops' defaults; refuses types outside our allow-list."""
    types = sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    foreign = [t for t in types if not _trusted(t)]
    if foreign:
        raise ValueError(f"model contains types outside the trusted allow-list: {foreign}")
    return types


def _trusted(type_name: str) -> bool:
    return type_name in TRUSTED_TYPES or type_name.startswith(TRUSTED_TYPE_PREFIXES)


def _flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts become dotted keys (``lightgbm.num_leaves``); values become strings."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            out.update(_flat_params(value, f"{prefix}{key}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            out[f"{prefix}{key}"] = text[:6000]  # MLflow's limit on a parameter value
    return out


def log_training_run(
    model: Any,
    *,
    task: Task | str,
    features: Mapping[str, FeatureKind | str],
    X_test: pd.DataFrame,
    y_test: Sequence[int] | npt.ArrayLike | None,
    params: Mapping[str, Any],
    metrics: Mapping[str, float | None],
    data_hash: str,
    name: str | None = None,
    test_window: str | None = None,
    data_window: str | None = None,
    feature_importances: Mapping[str, float] | None = None,
    explain_model: Any = None,
    intended_use: str | None = None,
    limitations: Sequence[str] = (),
    extra_tags: Mapping[str, str] | None = None,
    companions: Mapping[str, Any] | None = None,
) -> RegisteredVersion:
    """Log one training run to MLflow and register it as a new model version.

    Parameters
    ----------
    model
        Fitted scikit-learn-compatible classifier with ``predict_proba``.
    task
        The task (its experiment is named like its registered model, e.g.
        ``allotment-supplier-delay``, also for runs registered under another ``name``).
    features
        Feature name -> kind, in the column order of ``X_test``.
    X_test, y_test
        Test rows (raw features) and labels: the signature, input example, calibration plot
        and SHAP summary are computed on them (``y_test`` may be ``None``: no calibration plot).
    params
        Flat hyperparameters and settings (values are logged as strings).
    metrics
        Test metrics: the model's (``auc``/``roc_auc``, ``ece``, ``oracle_auc``, ratio, ...) and
        baselines' (``baseline_logistic_auc`` or ``logistic.roc_auc``, ...). All are logged as
        run metrics; the canonical ones also go on the version's tags for the gate.
    data_hash
        Snapshot hash of the training data (see :func:`frame_hash`).
    name
        Registered model name; default from the task (bring-your-own-data runs pass theirs).
    test_window
        Identifier of the test rows; the gate compares AUCs only on equal windows.
    data_window
        Human-readable training data window, for the model card.
    feature_importances
        Name -> importance; default: LightGBM gain importances when the model has a booster.
    explain_model
        The estimator to explain with SHAP (e.g. the uncalibrated LightGBM pipeline); default
        ``model``.
    intended_use, limitations
        Model card text (defaults per task).
    extra_tags
        More tags for the run and the version.
    companions
        Models that travel with this version, by key (e.g. ``days_late_p50``: the supplier-delay
        quantile regressors behind ETA P50/P90). Stored in the skops format under the run's
        ``companions/`` artifacts, same feature columns; read them with :func:`load_companions`.

    Returns
    -------
    RegisteredVersion
        The new version.
    """
    spec = {str(k): FeatureKind(v) for k, v in features.items()}
    if list(X_test.columns) != list(spec):
        raise ValueError("X_test columns must match the feature spec, in order")
    reg_name = name or model_name(task)
    task_value = Task(task).value if task in set(Task) else str(task)
    client = _client()
    experiment_id = _experiment_id(client, task)
    canonical = canonical_metrics(metrics)
    commit = git_commit()
    proba = np.asarray(model.predict_proba(X_test), dtype=np.float64)[:, 1]
    signature = infer_signature(X_test, proba)
    trusted = _skops_types(model)
    tags = {
        f"{TAG}task": task_value,
        f"{TAG}data_hash": data_hash,
        f"{TAG}git_commit": commit,
        f"{TAG}feature_spec": json.dumps({k: v.value for k, v in spec.items()}),
        f"{TAG}test_window": test_window or "",
        f"{TAG}data_window": data_window or "",
        **{f"{TAG}{k}": repr(v) for k, v in canonical.items()},
        **dict(extra_tags or {}),
    }
    companion_models = dict(companions or {})
    if companion_models:
        tags[f"{TAG}companions"] = json.dumps(sorted(companion_models))
    with (
        tempfile.TemporaryDirectory() as tmp,
        mlflow.start_run(experiment_id=experiment_id, tags=tags) as run,
    ):
        out = Path(tmp)
        mlflow.log_params(_flat_params(params))
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None} | canonical)
        importances = dict(feature_importances or _importances(explain_model or model, X_test))
        (out / "feature_importances.json").write_text(
            json.dumps(dict(sorted(importances.items(), key=lambda kv: -kv[1])), indent=2)
        )
        if y_test is not None:
            fig = _calibration_figure(np.asarray(y_test, dtype=np.float64), proba)
            fig.savefig(out / "calibration.png", dpi=100)
        X_shap = X_test
        if len(X_test) > SHAP_MAX_ROWS:  # pred_contrib costs ~0.6 s per 1000 rows × 200 trees
            X_shap = X_test.sample(SHAP_MAX_ROWS, random_state=0).sort_index()
        shap = shap_values(explain_model or model, X_shap)
        if shap is None:
            note = "SHAP summary skipped: the model has no LightGBM booster (not tree-based)."
            log.info(note)
            (out / "shap_summary.txt").write_text(note + "\n")
        else:
            fig = _shap_figure(shap[0], shap[1], X_shap)
            fig.savefig(out / "shap_summary.png", dpi=100)
            mean_abs = dict(zip(shap[1], np.abs(shap[0]).mean(axis=0).tolist(), strict=True))
            (out / "shap_mean_abs.json").write_text(
                json.dumps(dict(sorted(mean_abs.items(), key=lambda kv: -kv[1])), indent=2)
            )
        card = model_card(
            name=reg_name,
            task=task_value,
            metrics=canonical,
            data_window=data_window,
            test_window=test_window,
            data_hash=data_hash,
            commit=commit,
            features=spec,
            intended_use=intended_use,
            limitations=limitations,
        )
        (out / "model_card.md").write_text(card)
        mlflow.log_artifacts(str(out), artifact_path="report")
        if companion_models:
            folder = out / "companions"
            folder.mkdir()
            for key, companion in companion_models.items():
                _skops_types(companion)  # refuse what we could not load back
                skops.io.dump(companion, str(folder / f"{key}.skops"))
            mlflow.log_artifacts(str(folder), artifact_path="companions")
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=X_test.head(5),
            serialization_format="skops",
            skops_trusted_types=trusted,
            pip_requirements=_PIP_REQUIREMENTS,
        )
        version = client.create_model_version(
            name=_ensure_registered(client, reg_name),
            source=info.model_uri,
            run_id=run.info.run_id,
            tags=tags,
            description=card,
            model_id=info.model_id,
        )
    return RegisteredVersion(
        name=reg_name,
        version=int(version.version),
        run_id=str(run.info.run_id),
        model_uri=f"models:/{reg_name}/{version.version}",
    )


def _ensure_registered(client: MlflowClient, name: str) -> str:
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)
    return name


# --------------------------------------------------------------------------------------------
# listing and reading versions
# --------------------------------------------------------------------------------------------


def _float_tag(tags: Mapping[str, str], key: str) -> float | None:
    raw = tags.get(f"{TAG}{key}")
    try:
        return None if raw in (None, "") else float(raw)
    except ValueError:
        return None


def _get_version(client: MlflowClient, name: str, version: int | str) -> Any:
    try:
        return client.get_model_version(name, str(version))
    except MlflowException:
        raise NotFoundError(f"model {name} has no version {version}") from None


def _alias_version(client: MlflowClient, name: str, alias: str) -> int | None:
    try:
        return int(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def list_models(name: str | None = None) -> list[ModelRow]:
    """Every registered version (newest first per model) with its aliases and metrics.

    Parameters
    ----------
    name
        Only this registered model; all models when ``None``.

    Returns
    -------
    list of ModelRow
    """
    client = _client()
    if name is None:
        names = sorted(m.name for m in client.search_registered_models())
    else:
        _get_registered(client, name)
        names = [name]
    rows: list[ModelRow] = []
    for n in names:
        aliases_by_version: dict[int, list[str]] = {}
        for alias, v in (_get_registered(client, n).aliases or {}).items():
            aliases_by_version.setdefault(int(v), []).append(alias)
        versions = client.search_model_versions(f"name = '{n}'")
        for mv in sorted(versions, key=lambda v: -int(v.version)):
            tags = dict(mv.tags or {})
            rows.append(
                ModelRow(
                    name=n,
                    version=int(mv.version),
                    aliases=tuple(sorted(aliases_by_version.get(int(mv.version), []))),
                    auc=_float_tag(tags, "auc"),
                    oracle_auc=_float_tag(tags, "oracle_auc"),
                    auc_oracle_ratio=_float_tag(tags, "auc_oracle_ratio"),
                    ece=_float_tag(tags, "ece"),
                    created=datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC),
                    run_id=mv.run_id,
                )
            )
    return rows


def _get_registered(client: MlflowClient, name: str) -> Any:
    try:
        return client.get_registered_model(name)
    except MlflowException:
        raise NotFoundError(f"no registered model named {name!r}") from None


def _signature_inputs(name: str, version: int) -> list[tuple[str, str]]:
    """``(column, type)`` pairs of a version's input signature (empty when it has none)."""
    try:  # resolves through the process-wide registry URI that _client() set
        info = mlflow.models.get_model_info(f"models:/{name}/{version}")
    except (MlflowException, OSError) as exc:
        raise ModelUnavailableError(
            f"{name} v{version}: model metadata cannot be read: {exc}", model=name
        ) from exc
    if info.signature is None or info.signature.inputs is None:
        return []
    return [(str(c["name"]), str(c["type"])) for c in info.signature.inputs.to_dict()]


def _candidate(mv: Any) -> Candidate:
    tags = dict(mv.tags or {})
    return Candidate(
        version=int(mv.version),
        auc=_float_tag(tags, "auc"),
        ece=_float_tag(tags, "ece"),
        ece_floor=_float_tag(tags, "ece_floor"),
        baseline_logistic_auc=_float_tag(tags, "baseline_logistic_auc"),
        test_window=tags.get(f"{TAG}test_window") or None,
        has_signature=bool(_signature_inputs(mv.name, int(mv.version))),
    )


def report_dir(name: str, version: int) -> Path:
    """A local folder with a version's run report (plots, model card, importances).

    Parameters
    ----------
    name, version
        Registered model name and version.

    Returns
    -------
    pathlib.Path
        Holds ``model_card.md``, ``calibration.png``, ``shap_summary.png`` (or
        ``shap_summary.txt``), ``shap_mean_abs.json`` and ``feature_importances.json``, as
        logged. For a local store it is the artifact folder itself: read, do not write.
    """
    client = _client()
    mv = _get_version(client, name, version)
    if not mv.run_id:
        raise NotFoundError(f"{name} v{version} was not logged from a run; it has no report")
    try:
        local = mlflow.artifacts.download_artifacts(run_id=mv.run_id, artifact_path="report")
    except (MlflowException, OSError) as exc:
        raise ModelUnavailableError(f"{name} v{version}: report cannot be read: {exc}") from exc
    return Path(local)


# --------------------------------------------------------------------------------------------
# promotion and rollback
# --------------------------------------------------------------------------------------------


def _history(client: MlflowClient, name: str) -> list[int]:
    raw = (_get_registered(client, name).tags or {}).get(HISTORY_TAG)
    return [int(v) for v in json.loads(raw)] if raw else []


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _append_description(client: MlflowClient, mv: Any, line: str) -> None:
    text = (mv.description or "").rstrip()
    audit = "\n\n## Promotion log\n" if "## Promotion log" not in text else "\n"
    client.update_model_version(mv.name, str(mv.version), description=f"{text}{audit}- {line}\n")


def promote(
    name: str,
    version: int,
    *,
    actor: str,
    force: bool = False,
    reason: str | None = None,
    config: GateConfig | None = None,
    eval_frame: tuple[pd.DataFrame, npt.ArrayLike] | None = None,
) -> PromotionResult:
    """Make ``version`` the champion of ``name`` if the gate allows it (or it is forced).

    The promotion is recorded on the version (tags ``allotment.promoted_*`` and a line in its
    description: who, when, why, forced or not, the gate's reasons). The application's own
    hash-chained audit log comes with the service (a later issue); until then MLflow's record
    is the audit trail of promotions.

    Parameters
    ----------
    name, version
        The registered model and the version to promote.
    actor
        Who promotes (recorded).
    force
        Promote even if the gate refuses; requires ``reason``.
    reason
        Why (required with ``force``; recorded either way).
    config
        Gate thresholds; the defaults when ``None``.
    eval_frame
        ``(X, y)`` test rows to re-evaluate both the challenger and the champion on, so their
        AUCs compare on one window even when they were logged on different ones.

    Returns
    -------
    PromotionResult

    Raises
    ------
    ModelPromotionRefusedError
        The gate refused (its reasons attached), ``force`` without a reason, or the version is
        already champion.
    NotFoundError
        Unknown model or version.
    """
    if force and not (reason and reason.strip()):
        raise ModelPromotionRefusedError("a forced promotion needs a reason (--reason)")
    client = _client()
    mv = _get_version(client, name, version)
    current = _alias_version(client, name, CHAMPION)
    if current == int(version):
        raise ModelPromotionRefusedError(f"{name} v{version} is already the champion")
    challenger = _candidate(mv)
    champion = _candidate(_get_version(client, name, current)) if current else None
    if eval_frame is not None:
        challenger, champion = _reevaluate(name, challenger, champion, eval_frame)
    decision = decide(challenger, champion, config)
    if not decision.promote and not force:
        raise ModelPromotionRefusedError(
            f"gate refused {name} v{version}: " + "; ".join(decision.failures),
            reasons=decision.reasons,
        )

    client.set_registered_model_alias(name, CHAMPION, str(version))
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, str(current))
    history = [v for v in _history(client, name) if v != int(version)]
    if current is not None and (not history or history[-1] != current):
        history.append(current)  # a champion set outside promote() still counts
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps([*history, int(version)]))

    when = _now()
    forced = force and not decision.promote
    audit = {
        "promoted_at": when,
        "promoted_by": actor,
        "promotion_reason": reason or "",
        "promotion_forced": str(forced).lower(),
        "promotion_replaced": str(current) if current is not None else "",
        "gate_reasons": json.dumps(decision.reasons),
    }
    for key, value in audit.items():
        client.set_model_version_tag(name, str(version), f"{TAG}{key}", value)
    line = f"{when} promoted to champion by {actor}" + (" (FORCED past the gate)" if forced else "")
    line += f"; replaced v{current}" if current is not None else "; first champion"
    line += f"; reason: {reason}" if reason else ""
    _append_description(client, mv, line)
    return PromotionResult(
        name=name,
        version=int(version),
        previous_champion=current,
        decision=decision,
        forced=forced,
        reasons=decision.reasons,
    )


def rollback(name: str, *, actor: str, reason: str | None = None) -> RollbackResult:
    """Move ``champion`` back to the version that held it before the current one.

    Parameters
    ----------
    name
        Registered model name.
    actor
        Who rolls back (recorded on both versions).
    reason
        Why (recorded).

    Returns
    -------
    RollbackResult

    Raises
    ------
    ModelUnavailableError
        The model has no champion.
    ModelPromotionRefusedError
        There is no previous champion to return to.
    """
    client = _client()
    _get_registered(client, name)
    current = _alias_version(client, name, CHAMPION)
    if current is None:
        raise ModelUnavailableError(f"{name} has no champion to roll back")
    history = _history(client, name)
    if history and history[-1] == current:
        history = history[:-1]
    target = history[-1] if history else _alias_version(client, name, PREVIOUS_CHAMPION)
    if target is None or target == current:
        raise ModelPromotionRefusedError(f"{name} has no previous champion to roll back to")
    client.set_registered_model_alias(name, CHAMPION, str(target))
    earlier = history[:-1] if history else []
    if earlier:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, str(earlier[-1]))
    elif _alias_version(client, name, PREVIOUS_CHAMPION) is not None:
        client.delete_registered_model_alias(name, PREVIOUS_CHAMPION)
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history or [target]))
    when = _now()
    why = f"; reason: {reason}" if reason else ""
    for v, key, line in (
        (current, "rolled_back_from", f"{when} demoted by rollback by {actor}{why}"),
        (target, "rolled_back_to", f"{when} champion again by rollback by {actor}{why}"),
    ):
        client.set_model_version_tag(name, str(v), f"{TAG}{key}_at", when)
        client.set_model_version_tag(name, str(v), f"{TAG}{key}_by", actor)
        client.set_model_version_tag(name, str(v), f"{TAG}{key}_reason", reason or "")
        _append_description(client, _get_version(client, name, v), line)
    return RollbackResult(name=name, from_version=current, to_version=target)


# --------------------------------------------------------------------------------------------
# loading for the service
# --------------------------------------------------------------------------------------------

# (store URI, name, version) -> (model, signature inputs); versions are immutable in a store
_CACHE: dict[tuple[str, str, int], tuple[Any, list[tuple[str, str]]]] = {}
_CACHE_LOCK = threading.Lock()


def check_signature(
    inputs: Sequence[tuple[str, str]], expected: Mapping[str, FeatureKind], *, label: str
) -> None:
    """Refuse a model whose input signature differs from ``expected`` (names, order, types).

    Parameters
    ----------
    inputs
        ``(column, MLflow type)`` pairs of the registered signature.
    expected
        Feature name -> kind that the service computes, in column order.
    label
        Model name and version for the message.

    Raises
    ------
    ModelSignatureError
        With the missing, unexpected, mistyped or reordered columns named.
    """
    if not inputs:
        raise ModelSignatureError(f"{label} has no input signature; refusing to serve it")
    got = dict(inputs)
    problems: list[str] = []
    missing = [n for n in expected if n not in got]
    extra = [n for n in got if n not in expected]
    if missing:
        problems.append(f"missing features {missing}")
    if extra:
        problems.append(f"unexpected features {extra}")
    typed = [
        f"{n} is {got[n]}, expected {FeatureKind(k).value}"
        for n, k in expected.items()
        if n in got and got[n] not in _SCHEMA_TYPES[FeatureKind(k)]
    ]
    problems.extend(typed)
    if not problems and [n for n, _ in inputs] != list(expected):
        problems.append("feature order differs")
    if problems:
        raise ModelSignatureError(
            f"{label} does not match our features: " + "; ".join(problems),
            problems=problems,
        )


def _load_skops(name: str, version: int) -> Any:
    try:
        path = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}"))
        flavor = mlflow.models.Model.load(str(path / "MLmodel")).flavors.get("sklearn", {})
    except (MlflowException, OSError) as exc:
        raise ModelUnavailableError(
            f"{name} v{version}: model artifacts cannot be read: {exc}", model=name
        ) from exc
    if flavor.get("serialization_format") != "skops":
        raise ModelUnavailableError(
            f"{name} v{version} is not stored in the skops format; refusing to unpickle it"
        )
    return _load_trusted(path / str(flavor["pickled_model"]), label=f"{name} v{version}")


def _load_trusted(file: Path, *, label: str) -> Any:
    """Load a skops file, refusing any type outside our allow-list."""
    types = skops.io.get_untrusted_types(file=str(file))
    foreign = [t for t in types if not _trusted(t)]
    if foreign:
        raise ModelUnavailableError(
            f"{label} contains untrusted types {foreign}; refusing to load it"
        )
    return skops.io.load(str(file), trusted=types)


def load_companions(name: str, version: int) -> dict[str, Any]:
    """The companion models registered with ``name`` ``version`` (empty if it has none).

    Loaded with the same type allow-list as the model itself, and cached.
    """
    client = _client()
    key = (tracking_uri(), f"{name}#companions", int(version))
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return dict(cached[0])
    mv = _get_version(client, name, version)
    keys = json.loads(mv.tags.get(f"{TAG}companions", "[]"))
    loaded: dict[str, Any] = {}
    for k in keys:
        try:
            file = Path(
                mlflow.artifacts.download_artifacts(
                    run_id=mv.run_id, artifact_path=f"companions/{k}.skops"
                )
            )
        except (MlflowException, OSError) as exc:
            raise ModelUnavailableError(
                f"{name} v{version}: companion {k!r} cannot be read: {exc}", model=name
            ) from exc
        loaded[k] = _load_trusted(file, label=f"{name} v{version} companion {k!r}")
    with _CACHE_LOCK:
        _CACHE[key] = (loaded, [])
    return dict(loaded)


def load_version(
    name: str, version: int, expected_features: Mapping[str, FeatureKind]
) -> LoadedModel:
    """Load a version after checking its signature against ``expected_features`` (cached).

    Parameters
    ----------
    name, version
        Registered model name and version.
    expected_features
        Feature name -> kind, in column order, that the caller will score with.

    Returns
    -------
    LoadedModel

    Raises
    ------
    ModelSignatureError
        The registered input signature does not match ``expected_features``.
    NotFoundError
        Unknown model or version.
    """
    client = _client()
    key = (tracking_uri(), name, int(version))
    spec = {str(k): FeatureKind(v) for k, v in expected_features.items()}
    label = f"{name} v{version}"
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        _get_version(client, name, version)
        inputs = _signature_inputs(name, int(version))
        check_signature(inputs, spec, label=label)
        cached = (_load_skops(name, int(version)), inputs)
        with _CACHE_LOCK:
            _CACHE[key] = cached
    else:
        check_signature(cached[1], spec, label=label)
    return LoadedModel(name=name, version=int(version), model=cached[0], features=spec)


def load_champion(
    task_or_name: Task | str, expected_features: Mapping[str, FeatureKind]
) -> LoadedModel:
    """Load the version behind ``<name>@champion``, refusing one that does not fit our features.

    Parameters
    ----------
    task_or_name
        A task (its registered name is used) or a registered model name.
    expected_features
        Feature name -> kind, in column order, that the caller will score with.

    Returns
    -------
    LoadedModel
        Cached by (store, name, version): a new champion is picked up on the next call.

    Raises
    ------
    ModelUnavailableError
        No such model or no champion.
    ModelSignatureError
        The champion's input signature does not match ``expected_features``.
    """
    name = model_name(task_or_name)
    client = _client()
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code not in _ABSENT:
            raise ModelUnavailableError(
                f"model registry unavailable ({tracking_uri()}): {exc}", model=name
            ) from exc
        raise ModelUnavailableError(
            f"no champion for {name}: train it and promote a version"
            f" (allotment models promote {name} VERSION)",
            model=name,
        ) from None
    return load_version(name, int(mv.version), expected_features)


def clear_cache() -> None:
    """Forget loaded models (tests; a long-running service never needs it)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _reevaluate(
    name: str,
    challenger: Candidate,
    champion: Candidate | None,
    eval_frame: tuple[pd.DataFrame, npt.ArrayLike],
) -> tuple[Candidate, Candidate | None]:
    """Re-score both versions on one frame so their AUCs share a test window."""
    from allotment.modeling.metrics import ece_noise_floor, expected_calibration_error, roc_auc

    X, y = eval_frame
    window = f"eval:{frame_hash(X)[:16]}"
    spec = {str(c): _kind(X[c]) for c in X.columns}
    out: list[Candidate] = []
    for cand in (challenger, champion):
        if cand is None:
            continue
        p = load_version(name, cand.version, spec).predict_proba(X)[:, 1]
        out.append(
            Candidate(
                version=cand.version,
                auc=roc_auc(y, p),
                ece=expected_calibration_error(y, p),
                ece_floor=ece_noise_floor(p),
                baseline_logistic_auc=cand.baseline_logistic_auc,
                test_window=window,
                has_signature=cand.has_signature,
            )
        )
    return out[0], (out[1] if champion is not None else None)


def _kind(col: pd.Series) -> FeatureKind:
    if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col):
        return FeatureKind.CATEGORICAL
    return FeatureKind.NUMERIC


__all__ = [
    "CHAMPION",
    "MODEL_NAMES",
    "PREVIOUS_CHAMPION",
    "LoadedModel",
    "ModelRow",
    "PromotionResult",
    "RegisteredVersion",
    "RollbackResult",
    "artifact_root",
    "canonical_metrics",
    "check_signature",
    "clear_cache",
    "frame_hash",
    "git_commit",
    "list_models",
    "load_champion",
    "load_version",
    "log_training_run",
    "model_card",
    "model_name",
    "promote",
    "report_dir",
    "rollback",
    "shap_values",
    "tracking_uri",
]

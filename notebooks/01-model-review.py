# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Model review: the champion risk models
#
# This notebook loads the **champion** version of each risk model (`allotment-supplier-delay`,
# `allotment-sla-breach`, `allotment-churn`) from the MLflow registry and shows, per task:
#
# * the registry's view of every version (AUC, oracle AUC, their ratio, ECE, aliases);
# * metrics recomputed on a test-like window of the current database (the last 20% of the
#   training frame's rows by as-of time);
# * a calibration plot on that window;
# * the SHAP summary logged with the run, and a bar chart of mean |SHAP| on that window.
#
# **How to run.** Train first (`allotment train --task all`), then open this notebook (or run
# `jupytext --sync notebooks/01-model-review.py` after editing the `.py`). Settings come from
# the usual `ALLOTMENT_*` environment variables, e.g. `ALLOTMENT_DATABASE_URL`,
# `ALLOTMENT_DATA_DIR` and `ALLOTMENT_MLFLOW_TRACKING_URI`. A task without a champion is
# reported and skipped.

# %%
import io

import matplotlib
import numpy as np
import pandas as pd
from IPython.display import Image, Markdown, display
from matplotlib.figure import Figure

from allotment.db.engine import make_engine
from allotment.errors import ModelUnavailableError
from allotment.features.build import training_frame
from allotment.features.frame import Task
from allotment.features.registry import feature_kinds
from allotment.modeling import registry
from allotment.modeling.metrics import calibration_curve, classification_metrics

matplotlib.use("Agg")
pd.set_option("display.width", 120)
TEST_FRACTION = 0.2  # the last 20% of a task's rows by as-of time
SHAP_ROWS = 2000  # rows of the test window the mean |SHAP| chart is computed on
print("MLflow tracking URI:", registry.tracking_uri())

# %% [markdown]
# ## Registered versions

# %%
rows = registry.list_models()
versions = pd.DataFrame(
    [
        {
            "name": r.name,
            "version": r.version,
            "aliases": ", ".join(r.aliases),
            "AUC": r.auc,
            "oracle AUC": r.oracle_auc,
            "ratio": r.auc_oracle_ratio,
            "ECE": r.ece,
        }
        for r in rows
    ],
    columns=["name", "version", "aliases", "AUC", "oracle AUC", "ratio", "ECE"],
)
if versions.empty:
    print("no registered models yet — run `allotment train`")
display(versions.round(4))

# %% [markdown]
# ## Champions on a test-like window
#
# For each task: load the champion (its input signature is checked against the feature
# registry), build the task's training frame from the database and keep its latest rows.


# %%
def latest_rows(task: Task, engine: object) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """Features, labels and oracle probabilities of the last rows of the task's frame."""
    frame = training_frame(task, engine)
    assert frame.y is not None
    as_of = pd.Series(frame.as_of).reset_index(drop=True)
    keep = as_of >= as_of.quantile(1 - TEST_FRACTION)
    y = pd.Series(frame.y).reset_index(drop=True)
    keep &= y.notna()
    X = frame.X.reset_index(drop=True)[keep.to_numpy()]
    oracle = None
    if frame.oracle is not None:
        oracle = pd.Series(frame.oracle).reset_index(drop=True)[keep].to_numpy(dtype=float)
    return X, y[keep].to_numpy(dtype=float), oracle


def show(fig: Figure) -> None:
    """Display a figure as a PNG (no pyplot, no interactive backend: runs headless)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    display(Image(data=buf.getvalue(), format="png"))


def calibration_plot(name: str, y: np.ndarray, p: np.ndarray) -> Figure:
    curve = calibration_curve(y, p, n_bins=10)
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot(curve.mean_predicted, curve.observed_rate, marker="o", label="champion")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed positive rate")
    ax.set_title(f"{name}: calibration (10 equal-mass bins)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def shap_bar(name: str, model: object, X: pd.DataFrame) -> Figure | None:
    shap = registry.shap_values(model, X.head(SHAP_ROWS))
    if shap is None:
        return None
    values, names = shap
    importance = pd.Series(np.abs(values).mean(axis=0), index=names).sort_values().tail(15)
    fig = Figure(figsize=(6, 0.3 * len(importance) + 1.2))
    ax = fig.subplots()
    ax.barh(importance.index, importance.to_numpy())
    ax.set_xlabel("mean |SHAP| (log-odds)")
    ax.set_title(f"{name}: feature influence on the test window")
    fig.tight_layout()
    return fig


# %%
engine = make_engine()
for task in Task:
    name = registry.model_name(task)
    display(Markdown(f"### {name}"))
    try:
        champion = registry.load_champion(task, feature_kinds(task))
    except ModelUnavailableError:
        print(f"no champion for {name} yet — run `allotment train`")
        continue
    print(f"champion: {champion.name} v{champion.version}")
    X, y, oracle = latest_rows(task, engine)
    if len(y) == 0 or y.min() == y.max():
        print(f"{name}: the test window has {len(y)} rows and a single class; no metrics")
        continue
    p = champion.predict_proba(X)[:, 1]
    metrics = classification_metrics(y, p, oracle=oracle)
    display(pd.Series(metrics.to_dict(), name=f"{name} v{champion.version}").to_frame())
    show(calibration_plot(name, y, p))
    report = registry.report_dir(champion.name, champion.version)
    summary = report / "shap_summary.png"
    if summary.exists():
        display(Markdown("SHAP summary logged with the run:"))
        display(Image(filename=str(summary)))
    bar = shap_bar(name, champion.model, X)
    if bar is not None:
        show(bar)
engine.dispose()

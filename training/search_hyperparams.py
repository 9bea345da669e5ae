"""Seeded random search over LightGBM hyperparameters for one risk task.

Usage::

    .venv/bin/python training/search_hyperparams.py --task churn --trials 20 \\
        [--seed 0] [--config FILE] [--out training/configs/churn.tuned.yaml]

Starts from the task's default config (``training/configs/<task>.yaml``, or ``--config``),
evaluates it as trial 0, then ``--trials`` configs drawn from :data:`SPACE` (everything else in
the config, including the split, imbalance handling and calibration method, stays as is).

Honesty: trials are compared on the VALIDATION rows only. Each trial fits LightGBM on the train
rows with early stopping on the validation rows (exactly as ``train_task`` does) and is scored
there: validation ROC AUC of the raw model (what selection ranks on; calibration is monotone, so
it does not change the ranking much) and validation log loss of the calibrated model, where the
calibrator is cross-fitted within the validation rows (each fold's probabilities come from a
calibrator fitted on the other folds, so the log loss is not measured in-sample). The test rows
are never read during the search. Only afterwards, ``train_task`` is run once with the default
config and once with the chosen config, and their test metrics are printed side by side.

Selection: highest validation AUC; ties (within 1e-9) go to the lower validation log loss, then
to the earlier trial (the default config wins a tie).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml  # type: ignore[import-untyped]
from sklearn.model_selection import StratifiedKFold

from allotment.features.frame import Task, TaskFrame
from allotment.modeling.config import LightGBMParams, TrainConfig, default_config, load_config
from allotment.modeling.metrics import log_loss, roc_auc
from allotment.modeling.pipelines import calibrate
from allotment.modeling.split import Split
from allotment.modeling.train import fit_early_stopped, make_split

Report = Callable[[str], None]

#: The search space: parameter -> (distribution, low, high). ``log`` draws uniformly in log
#: space; ``int``/``logint`` round to an integer. Bounds are inclusive.
SPACE: dict[str, tuple[str, float, float]] = {
    "learning_rate": ("log", 0.01, 0.2),
    "num_leaves": ("logint", 7, 127),
    "min_child_samples": ("logint", 10, 200),
    "colsample_bytree": ("uniform", 0.5, 1.0),
    "subsample": ("uniform", 0.5, 1.0),
    "reg_lambda": ("log", 1e-3, 10.0),
}
CALIBRATION_FOLDS = 5
AUC_TIE = 1e-9


class SearchError(Exception):
    """The frame cannot be searched on (no labels, single-class train or validation part)."""


@dataclass(frozen=True)
class Trial:
    """One evaluated configuration (validation figures only)."""

    number: int
    config: TrainConfig
    params: dict[str, float | int]  # the searched parameters' values
    valid_auc: float
    valid_log_loss: float
    best_iteration: int
    seconds: float


def sample_params(rng: np.random.Generator) -> dict[str, float | int]:
    """Draw one point of :data:`SPACE` with ``rng``."""
    out: dict[str, float | int] = {}
    for name, (dist, low, high) in SPACE.items():
        if dist == "uniform":
            out[name] = round(float(rng.uniform(low, high)), 4)
        elif dist == "log":
            out[name] = float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.4g}")
        elif dist == "logint":
            value = math.exp(rng.uniform(math.log(low), math.log(high + 1)))
            out[name] = int(min(high, max(low, math.floor(value))))
        else:  # pragma: no cover - SPACE is a constant
            raise ValueError(f"unknown distribution {dist!r}")
    return out


def searched_params(config: TrainConfig) -> dict[str, float | int]:
    """The values of the searched parameters in ``config``."""
    values = config.lightgbm.model_dump()
    return {name: values[name] for name in SPACE}


def with_params(config: TrainConfig, params: dict[str, float | int]) -> TrainConfig:
    """``config`` with its LightGBM parameters updated (validated by pydantic)."""
    lgbm = LightGBMParams.model_validate({**config.lightgbm.model_dump(), **params})
    return config.model_copy(update={"lightgbm": lgbm})


def candidate_configs(base: TrainConfig, n_trials: int, seed: int) -> list[TrainConfig]:
    """Trial 0 is ``base`` itself; trials 1..n_trials are seeded draws from :data:`SPACE`."""
    rng = np.random.default_rng(seed)
    return [base] + [with_params(base, sample_params(rng)) for _ in range(n_trials)]


def _train_valid(frame: TaskFrame, config: TrainConfig) -> tuple[Split, npt.NDArray[np.int64]]:
    """The split and the labels; checks only the train and validation parts (never test)."""
    if frame.y is None:
        raise SearchError("the frame has no labels (y is None)")
    if frame.task != config.task:
        raise SearchError(f"frame is for {frame.task.value!r}, config for {config.task.value!r}")
    split = make_split(frame, config)
    y = pd.Series(frame.y).to_numpy(dtype=np.int64)
    for name in ("train", "valid"):
        part = y[split.part(name)]
        if len(part) == 0 or part.min() == part.max():
            raise SearchError(f"the {name} part needs both classes to search")
    return split, y


def evaluate_trial(frame: TaskFrame, config: TrainConfig, number: int = 0) -> Trial:
    """Fit on train (early stopping on validation) and score on validation; test is untouched.

    Only ``frame.y`` at train and validation positions is read, so test labels cannot influence
    the figures.
    """
    started = time.perf_counter()
    split, y = _train_valid(frame, config)
    X = frame.X.reset_index(drop=True)
    tr, va = split.train, split.valid
    X_tr, X_va, y_tr, y_va = X.iloc[tr], X.iloc[va], y[tr], y[va]
    clf, _ = fit_early_stopped(frame.features, config, X_tr, y_tr, X_va, y_va)
    booster = clf.named_steps["model"]
    raw = np.asarray(clf.predict_proba(X_va)[:, 1], dtype=np.float64)
    # out-of-fold calibrated probabilities on the validation rows
    calibrated = np.empty(len(va), dtype=np.float64)
    folds = min(CALIBRATION_FOLDS, int(y_va.sum()), int(len(y_va) - y_va.sum()))
    if folds >= 2:
        kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
        for fit_idx, eval_idx in kfold.split(X_va, y_va):
            cal = calibrate(clf, config.calibration).fit(X_va.iloc[fit_idx], y_va[fit_idx])
            calibrated[eval_idx] = cal.predict_proba(X_va.iloc[eval_idx])[:, 1]
    else:  # too few positives to cross-fit: in-sample calibration, flagged by nothing better
        cal = calibrate(clf, config.calibration).fit(X_va, y_va)
        calibrated[:] = cal.predict_proba(X_va)[:, 1]
    return Trial(
        number=number,
        config=config,
        params=searched_params(config),
        valid_auc=roc_auc(y_va, raw),
        valid_log_loss=log_loss(y_va, calibrated),
        best_iteration=int(booster.best_iteration_ or booster.n_estimators),
        seconds=time.perf_counter() - started,
    )


def select_best(trials: list[Trial]) -> Trial:
    """Highest validation AUC; ties to lower validation log loss, then the earlier trial."""
    if not trials:
        raise SearchError("no trials to select from")
    best = trials[0]
    for t in trials[1:]:
        if t.valid_auc > best.valid_auc + AUC_TIE or (
            abs(t.valid_auc - best.valid_auc) <= AUC_TIE and t.valid_log_loss < best.valid_log_loss
        ):
            best = t
    return best


def format_params(params: dict[str, float | int]) -> str:
    short = {
        "learning_rate": "lr",
        "num_leaves": "leaves",
        "min_child_samples": "min_child",
        "colsample_bytree": "colsample",
        "subsample": "subsample",
        "reg_lambda": "lambda",
    }
    return " ".join(f"{short.get(k, k)}={v:.4g}" for k, v in params.items())


def search(
    frame: TaskFrame,
    base: TrainConfig,
    *,
    n_trials: int,
    seed: int = 0,
    report: Report | None = None,
) -> list[Trial]:
    """Evaluate the base config and ``n_trials`` seeded draws on the validation rows."""
    say: Report = report or (lambda _msg: None)
    configs = candidate_configs(base, n_trials, seed)
    trials: list[Trial] = []
    for number, config in enumerate(configs):
        trial = evaluate_trial(frame, config, number)
        trials.append(trial)
        label = "default" if number == 0 else f"{number}/{n_trials}"
        say(
            f"trial {label}: valid AUC {trial.valid_auc:.4f}, log loss {trial.valid_log_loss:.4f}, "
            f"{trial.best_iteration} trees, {trial.seconds:.1f} s  [{format_params(trial.params)}]"
        )
    return trials


def trials_table(trials: list[Trial], best: Trial | None = None) -> str:
    """A plain-text table: trial, params, valid AUC, valid log loss (``*`` marks the best)."""
    header = f"{'trial':>7}  {'valid AUC':>9}  {'valid LL':>8}  {'trees':>5}  params"
    lines = [header, "-" * len(header)]
    for t in trials:
        mark = "*" if best is not None and t.number == best.number else " "
        name = "default" if t.number == 0 else str(t.number)
        lines.append(
            f"{name:>6}{mark}  {t.valid_auc:9.4f}  {t.valid_log_loss:8.4f}  "
            f"{t.best_iteration:5d}  {format_params(t.params)}"
        )
    return "\n".join(lines)


def config_yaml(config: TrainConfig, *, comment: str = "") -> str:
    """``config`` as YAML that :func:`allotment.modeling.config.load_config` reads back."""
    body = str(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    return head + body


def write_config(config: TrainConfig, path: Path, *, comment: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_yaml(config, comment=comment), encoding="utf-8")


def load_frame(task: Task) -> TaskFrame:
    """Build ``task``'s frame from the configured database (``ALLOTMENT_DATA_DIR``)."""
    from allotment.db.engine import make_engine
    from allotment.features import build
    from allotment.features.tables import load_tables

    builders: dict[Task, Callable[[Any], TaskFrame]] = {
        Task.SUPPLIER_DELAY: build.supplier_delay_frame,
        Task.SLA_BREACH: build.sla_breach_frame,
        Task.CHURN: build.churn_frame,
    }
    return builders[task](load_tables(make_engine()))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Seeded random search over LightGBM hyperparameters (selected on validation)."
    )
    parser.add_argument("--task", required=True, choices=[t.value for t in Task])
    parser.add_argument("--trials", type=int, default=20, help="sampled configs (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    parser.add_argument("--config", type=Path, help="base config (default: the task's default)")
    parser.add_argument(
        "--out", type=Path, help="where to write the best config (default: <task>.tuned.yaml)"
    )
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    task = Task(args.task)
    base = load_config(args.config) if args.config else default_config(task)
    out: Path = args.out or Path(__file__).resolve().parent / "configs" / f"{task.value}.tuned.yaml"
    started = time.perf_counter()
    print(f"{task.value}: building features from the database", flush=True)
    frame = load_frame(task)
    print(f"{task.value}: {len(frame.X)} rows; {args.trials} trials + default, seed {args.seed}")
    trials = search(
        frame,
        base,
        n_trials=args.trials,
        seed=args.seed,
        report=lambda msg: print(msg, flush=True),
    )
    best = select_best(trials)
    search_seconds = time.perf_counter() - started
    print()
    print(trials_table(trials, best))
    print(f"\nbest: trial {best.number} (selected on validation AUC only)")

    comment = (
        f"Tuned {task.value} config: training/search_hyperparams.py --task {task.value} "
        f"--trials {args.trials} --seed {args.seed}\n"
        f"trial {best.number}: valid AUC {best.valid_auc:.4f}, "
        f"valid log loss {best.valid_log_loss:.4f} (default: {trials[0].valid_auc:.4f}, "
        f"{trials[0].valid_log_loss:.4f})"
    )
    write_config(best.config, out, comment=comment)
    load_config(out)  # fail loudly here rather than at training time
    print(f"wrote {out}")

    # the test split is read here, once per config, after the choice is made
    from allotment.modeling.train import train_task

    print("\nheld-out test metrics (train_task, calibrated model):")
    print(f"{'config':>8}  {'valid AUC':>9}  {'test AUC':>8}  {'test LL':>7}  {'test ECE':>8}")
    rows = [("default", trials[0])] + ([("tuned", best)] if best.number != 0 else [])
    for name, trial in rows:
        m = train_task(frame, trial.config).metrics
        print(
            f"{name:>8}  {trial.valid_auc:9.4f}  {m.roc_auc:8.4f}  {m.log_loss:7.4f}  {m.ece:8.4f}"
        )
    if best.number == 0:
        print("   tuned = default (no sampled trial beat it on validation)")
    total = time.perf_counter() - started
    print(f"\nsearch {search_seconds:.1f} s, total {total:.1f} s")
    return 0


if __name__ == "__main__":
    from sqlalchemy.exc import OperationalError

    from allotment.errors import AppError

    try:
        sys.exit(main())
    except (AppError, SearchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OperationalError as exc:
        print(
            f"error: cannot read the history from the database (is ALLOTMENT_DATA_DIR set to a "
            f"generated world?): {exc.orig}",
            file=sys.stderr,
        )
        sys.exit(1)

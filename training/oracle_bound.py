"""How much of the synthetic world's true probability can our features recover?

Usage::

    .venv/bin/python training/oracle_bound.py --task sla_breach [--config FILE] [--json]

The oracle AUC (the generator's true probabilities on the test rows) bounds what *any* model can
reach, but the generator also draws latent facts that no table ever shows (a customer's loyalty,
whether a delayed PO line will ship a first piece on time). This script measures the part of the
oracle that the features can carry — the **observable bound** — so a model's shortfall can be
split into "the model could do better" and "the information is not in the data":

1. Split the task's frame exactly as training does (``training/configs/<task>.yaml``).
2. Fit a LightGBM *regressor* on the oracle probability of the train rows (early stopping on the
   validation rows' oracle). This is far stronger supervision than the 0/1 labels the real model
   sees, so on the test rows its AUC against the labels is an estimate of the best AUC reachable
   from these features (an estimate: it is itself a fitted model on finite rows).
3. Train the real model (``train_task``, labels only) and print both beside the oracle AUC, with
   the share of the oracle's variance the features explain (R², test rows).

Only synthetic worlds have an oracle; on real data the script refuses with a clear message.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from allotment.features.frame import Task, TaskFrame
from allotment.modeling.config import TrainConfig, default_config, load_config
from allotment.modeling.metrics import roc_auc
from allotment.modeling.train import make_split, train_task

#: The oracle regressor: the training defaults' capacity, small leaves (the target is smooth).
REGRESSOR = {
    "n_estimators": 3000,
    "learning_rate": 0.03,
    "num_leaves": 31,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "verbose": -1,
}
EARLY_STOPPING_ROUNDS = 100


class BoundError(Exception):
    """The frame has no oracle (real data), no labels, or a split part without both classes."""


@dataclass(frozen=True)
class Bound:
    """Test-split AUCs against the labels, and how much of the oracle the features explain."""

    task: str
    test_rows: int
    oracle_auc: float
    observable_auc: float  # the oracle-supervised regressor (features only)
    model_auc: float  # the label-trained model, as `allotment train` builds it
    oracle_r2: float  # share of the oracle's variance on test rows the regressor explains

    @property
    def observable_ratio(self) -> float:
        return self.observable_auc / self.oracle_auc

    @property
    def model_ratio(self) -> float:
        return self.model_auc / self.oracle_auc

    def to_dict(self) -> dict[str, float | int | str]:
        out: dict[str, float | int | str] = dict(asdict(self))
        out["observable_ratio"] = self.observable_ratio
        out["model_ratio"] = self.model_ratio
        return out


def observable_bound(frame: TaskFrame, config: TrainConfig, *, seed: int = 0) -> Bound:
    """Measure the observable bound of ``frame`` split as ``config`` says (see module doc)."""
    if frame.oracle is None:
        raise BoundError("the frame has no oracle: only synthetic worlds carry true probabilities")
    if frame.y is None:
        raise BoundError("the frame has no labels")
    split = make_split(frame, config)
    X = frame.X.reset_index(drop=True)
    y = pd.Series(frame.y).to_numpy(np.int64)
    oracle = pd.Series(frame.oracle).to_numpy(np.float64)
    parts = {}
    for name in ("train", "valid", "test"):
        idx = split.part(name)
        idx = idx[~np.isnan(oracle[idx])]
        if len(idx) == 0 or y[idx].min() == y[idx].max():
            raise BoundError(f"the {name} part needs rows of both classes with an oracle")
        parts[name] = idx
    tr, va, te = parts["train"], parts["valid"], parts["test"]
    regressor = lgb.LGBMRegressor(**REGRESSOR, random_state=seed, num_threads=1)
    regressor.fit(
        X.iloc[tr],
        oracle[tr],
        eval_X=(X.iloc[va],),
        eval_y=(oracle[va],),
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    predicted: npt.NDArray[np.float64] = np.asarray(regressor.predict(X.iloc[te]), np.float64)
    residual = float(np.mean((predicted - oracle[te]) ** 2))
    variance = float(np.var(oracle[te]))
    model = train_task(frame, config)
    return Bound(
        task=frame.task.value,
        test_rows=len(te),
        oracle_auc=roc_auc(y[te], oracle[te]),
        observable_auc=roc_auc(y[te], predicted),
        model_auc=float(model.metrics.roc_auc),
        oracle_r2=1.0 - residual / variance if variance > 0 else float("nan"),
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The part of the oracle AUC reachable from the features (synthetic worlds)."
    )
    parser.add_argument("--task", required=True, choices=[t.value for t in Task])
    parser.add_argument("--config", type=Path, help="training config (default: the task's)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    task = Task(args.task)
    config = load_config(args.config) if args.config else default_config(task)
    started = time.perf_counter()
    if not args.json:
        print(f"{task.value}: building features from the database", flush=True)
    from allotment.db.engine import make_engine
    from allotment.features.build import training_frame

    bound = observable_bound(training_frame(task, make_engine()), config)
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({**bound.to_dict(), "seconds": round(seconds, 1)}))
        return 0
    print(f"test rows {bound.test_rows}")
    print(f"oracle AUC                      {bound.oracle_auc:.4f}")
    print(
        f"observable bound (features)     {bound.observable_auc:.4f}"
        f"  ratio {bound.observable_ratio:.3f}  (oracle R² {bound.oracle_r2:.2f})"
    )
    print(f"model (labels, as trained)      {bound.model_auc:.4f}  ratio {bound.model_ratio:.3f}")
    print(f"{seconds:.1f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)

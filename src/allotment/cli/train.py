"""``allotment train``: point-in-time frames, training, MLflow logging, promotion by the gate."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from allotment.cli.common import app_errors, default_actor, ensure_schema, err_console
from allotment.db.engine import make_engine
from allotment.errors import AppError
from allotment.features.frame import Task, TaskFrame

if TYPE_CHECKING:
    from allotment.modeling.train import TrainResult

ALL = "all"
_TASK_HELP = "supplier_delay, sla_breach, churn or all."


@dataclass(frozen=True)
class TaskOutcome:
    """One task's training run as the summary shows it."""

    task: str
    rows: dict[str, int]
    metrics: dict[str, float | None]
    baselines: dict[str, float | None]
    model_name: str
    version: int
    champion: bool
    gate: list[str]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "rows": self.rows,
            "metrics": self.metrics,
            "baselines": self.baselines,
            "model_name": self.model_name,
            "version": self.version,
            "champion": self.champion,
            "gate": self.gate,
            "seconds": round(self.seconds, 2),
        }


def _check_task(value: str) -> str:
    if value != ALL and value not in {t.value for t in Task}:
        raise typer.BadParameter(f"unknown task {value!r}; choose {_TASK_HELP}")
    return value


def _build_frame(task: Task, tables: Any) -> TaskFrame:
    from allotment.features import build

    builders = {
        Task.SUPPLIER_DELAY: build.supplier_delay_frame,
        Task.SLA_BREACH: build.sla_breach_frame,
        Task.CHURN: build.churn_frame,
    }
    return builders[task](tables)


def train_one(
    task: Task, tables: Any, *, config_path: Path | None, actor: str, say: Any
) -> TaskOutcome:
    """Train ``task`` on the loaded tables, log and register it, and offer it to the gate."""
    from allotment.modeling.config import default_config, load_config
    from allotment.modeling.train import train_task

    started = time.perf_counter()
    say(f"[bold]{task.value}[/]: building features")
    frame = _build_frame(task, tables)
    config = load_config(config_path) if config_path else default_config(task)
    result = train_task(frame, config, progress=lambda msg: say(f"  {task.value}: {msg}"))
    return register_and_offer(frame, result, actor=actor, say=say, started=started)


def train_tasks(
    tasks: list[Task], tables: Any, *, config_path: Path | None, actor: str, say: Any
) -> tuple[list[TaskOutcome], dict[str, str]]:
    """Train each task in turn; returns the outcomes and task -> message of those that failed.

    One task's failure (e.g. too little history to split) does not stop the others: each
    logged run stands on its own.
    """
    outcomes: list[TaskOutcome] = []
    failures: dict[str, str] = {}
    for task in tasks:
        try:
            outcomes.append(train_one(task, tables, config_path=config_path, actor=actor, say=say))
        except AppError as exc:
            failures[task.value] = exc.message
            say(f"[red]{task.value}: failed:[/] {exc.message}")
    return outcomes, failures


def register_and_offer(
    frame: TaskFrame,
    result: TrainResult,
    *,
    actor: str,
    say: Any,
    started: float,
    name: str | None = None,
    intended_use: str | None = None,
) -> TaskOutcome:
    """Log ``result`` to MLflow, register it, offer it to the gate, and summarise it.

    ``name`` is the registered model name (default: the task's model, e.g. ``allotment-churn``);
    ``started`` is the ``time.perf_counter()`` the reported seconds count from.
    """
    from allotment.errors import ModelPromotionRefusedError
    from allotment.modeling import registry

    task = frame.task
    test = result.test_index
    X_test = frame.X.iloc[test].reset_index(drop=True)
    assert frame.y is not None  # train_task refuses unlabelled frames
    y_test = frame.y.iloc[test].to_numpy()
    windows = result.split.windows
    say(f"  {task.value}: logging to MLflow")
    registered = registry.log_training_run(
        result.model,
        task=task,
        features=result.features,
        X_test=X_test,
        y_test=y_test,
        params=result.params,
        metrics=result.flat_metrics(),
        data_hash=registry.frame_hash(frame.X.assign(_y=frame.y.to_numpy())),
        name=name,
        test_window=" to ".join(windows["test"]) if "test" in windows else None,
        data_window=(
            f"{windows['train'][0]} to {windows['test'][1]}"
            if "train" in windows and "test" in windows
            else None
        ),
        feature_importances=result.feature_importances,
        explain_model=result.classifier,
        intended_use=intended_use,
        companions={f"days_late_p{round(q.alpha * 100):02d}": q.model for q in result.quantiles},
    )
    try:
        promotion = registry.promote(
            registered.name,
            registered.version,
            actor=actor,
            reason="trained by `allotment train`",
            eval_frame=(X_test, y_test),
        )
        champion, gate = True, list(promotion.decision.reasons)
    except ModelPromotionRefusedError as exc:
        champion, gate = False, list(exc.reasons)
    m = result.metrics
    return TaskOutcome(
        task=task.value,
        rows=result.split.sizes,
        metrics={
            "auc": m.roc_auc,
            "pr_auc": m.pr_auc,
            "ece": m.ece,
            "brier": m.brier,
            "oracle_auc": m.oracle_auc,
            "auc_ratio": m.auc_ratio,
        },
        baselines={k: b.roc_auc for k, b in result.baselines.items()},
        model_name=registered.name,
        version=registered.version,
        champion=champion,
        gate=gate,
        seconds=time.perf_counter() - started,
    )


def train_user_data(
    task: str, data: Path, mapping_path: Path, *, strict: bool, actor: str, console: Console
) -> TaskOutcome:
    """Train on a user's table through its mapping (never the database), guarding for leaks.

    A malformed mapping, or one naming a column the file lacks, exits 2 like any bad option;
    bad values in the data and a ``--strict`` refusal exit 1.
    """
    from allotment.modeling.byod import (
        DataMappingError,
        leakage_warnings,
        load_mapping,
        load_user_frame,
    )
    from allotment.modeling.train import train_task

    started = time.perf_counter()
    try:
        mapping = load_mapping(mapping_path)
        if task not in (ALL, mapping.task.value):
            raise DataMappingError(
                f"{mapping_path}: task is {mapping.task.value!r}, but --task is {task!r}",
                file=str(mapping_path),
            )
        console.print(f"reading {data.name} through {mapping_path.name}")
        frame = load_user_frame(
            data, mapping, notice=lambda text: console.print(f"[yellow]note:[/] {text}")
        )
    except DataMappingError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        raise typer.Exit(2) from None
    except AppError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        raise typer.Exit(1) from None
    with app_errors():
        warnings = leakage_warnings(frame, target_name=mapping.target)
        for w in warnings:
            console.print(f"[yellow]possible leakage:[/] {w}")
        if warnings and strict:
            columns = ", ".join(w.column for w in warnings)
            err_console.print(
                f"[bold red]refused (--strict):[/] possible target leakage in {columns}; "
                "drop them (or move them to ignore) in the mapping",
                highlight=False,
            )
            raise typer.Exit(1)
        name = mapping.task.value
        result = train_task(
            frame, mapping.train_config(), progress=lambda msg: console.print(f"  {name}: {msg}")
        )
        return register_and_offer(
            frame,
            result,
            actor=actor,
            say=console.print,
            started=started,
            name=mapping.model_name,
            intended_use=(
                f"The {name} task trained on the user's table {data.name} "
                f"(mapping {mapping_path.name})."
            ),
        )


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "—" if value is None else format(value, spec)


def print_summary(outcomes: list[TaskOutcome], console: Console) -> None:
    """The end-of-training table: metrics beside baselines and oracle, version, champion."""
    table = Table(
        "task",
        "train/valid/test",
        "AUC",
        "logistic",
        "base rate",
        "oracle",
        "ratio",
        "ECE",
        "version",
        "champion",
        "s",
        title="training summary (test split)",
    )
    for o in outcomes:
        r = o.rows
        table.add_row(
            o.task,
            f"{r['train']:,}/{r['valid']:,}/{r['test']:,}",
            _fmt(o.metrics["auc"]),
            _fmt(o.baselines.get("logistic")),
            _fmt(o.baselines.get("base_rate")),
            _fmt(o.metrics["oracle_auc"]),
            _fmt(o.metrics["auc_ratio"]),
            _fmt(o.metrics["ece"], ".4f"),
            f"{o.model_name} v{o.version}",
            "yes" if o.champion else "no",
            f"{o.seconds:.0f}",
        )
    console.print(table)
    for o in outcomes:
        if not o.champion:
            fails = [g for g in o.gate if g.startswith("fail")] or o.gate
            console.print(f"{o.task}: not promoted — " + "; ".join(fails))


def train(
    task: str = typer.Option(ALL, "--task", help=_TASK_HELP, callback=_check_task),
    config: Path | None = typer.Option(
        None,
        "--config",
        exists=True,
        dir_okay=False,
        help="Training config (YAML); default: training/configs/<task>.yaml. One task only.",
    ),
    actor: str | None = typer.Option(None, "--actor", help="Who trains (recorded)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    data: Path | None = typer.Option(
        None,
        "--data",
        exists=True,
        dir_okay=False,
        help="Train on this table (CSV/Parquet) instead of the database; needs --mapping.",
    ),
    mapping: Path | None = typer.Option(
        None,
        "--mapping",
        exists=True,
        dir_okay=False,
        help="Column mapping (YAML) of the --data table: id, target, features, model name.",
    ),
    strict: bool = typer.Option(
        False, "--strict", help="With --data: refuse to train when a column looks like a leak."
    ),
) -> None:
    """Train the risk models on the database's history (or one on --data), log, gate, promote."""
    if config is not None and task == ALL:
        raise typer.BadParameter("a config file is for one task; add --task", param_hint="--config")
    # The summary table has 11 columns: never squeeze it below 130 characters.
    console = Console(stderr=as_json, highlight=False, width=max(130, Console().width))
    if data is not None or mapping is not None:
        if data is None or mapping is None:
            raise typer.BadParameter(
                "--data and --mapping go together", param_hint="--data" if data else "--mapping"
            )
        if config is not None:
            raise typer.BadParameter(
                "the mapping holds the training settings of --data", param_hint="--config"
            )
        outcome = train_user_data(
            task,
            data,
            mapping,
            strict=strict,
            actor=actor or default_actor(),
            console=console,
        )
        if as_json:
            typer.echo(json.dumps({"trained": [outcome.to_dict()], "failed": {}}, indent=2))
        else:
            print_summary([outcome], console)
        return
    if strict:
        raise typer.BadParameter("--strict applies to --data", param_hint="--strict")
    tasks = list(Task) if task == ALL else [Task(task)]
    outcomes: list[TaskOutcome] = []
    failures: dict[str, str] = {}
    engine = make_engine()
    with app_errors():
        try:
            ensure_schema(engine)
            from allotment.features.tables import load_tables

            console.print("loading history from the database")
            tables = load_tables(engine)
            outcomes, failures = train_tasks(
                tasks, tables, config_path=config, actor=actor or default_actor(), say=console.print
            )
        finally:
            engine.dispose()
    if as_json:
        payload = {"trained": [o.to_dict() for o in outcomes], "failed": failures}
        typer.echo(json.dumps(payload, indent=2))
    else:
        if outcomes:
            print_summary(outcomes, console)
        for name, message in failures.items():
            console.print(f"[bold red]{name} not trained:[/] {message}")
    if failures:
        raise typer.Exit(1)

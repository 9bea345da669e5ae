"""``allotment demo``: the single entry point that sets up and shows a working Allotment.

It migrates the embedded database, generates the ``small`` synthetic world once, trains the
three risk models unless champions that fit today's features are already registered (then it
reuses them), and prints what is there. Later stages (scoring, the service) extend this command.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func, select

from allotment.cli.generate import print_summary
from allotment.config import get_settings
from allotment.db import migrate
from allotment.db.engine import make_engine
from allotment.domain.lifecycle import ACTIVE_STATUSES
from allotment.domain.models import Backorder, Base, SimWorld
from allotment.features.frame import Task
from allotment.world.generate import generate as generate_world

DEMO_SCALE = "small"
DEMO_SEED = 7
DEMO_ACTOR = "demo"


def demo(
    seed: int = typer.Option(DEMO_SEED, "--seed", min=0, help="Seed of the demo world."),
) -> None:
    """Set up the embedded database with the small synthetic world and show what it holds."""
    console = Console(highlight=False)
    settings = get_settings()
    engine = make_engine()
    url = engine.url.render_as_string(hide_password=True)
    try:
        console.rule("[bold]Allotment demo")
        console.print(f"database: {url}")
        console.print(f"data folder: {settings.data_dir.resolve()}")
        migrate.upgrade(engine)
        console.print(f"schema at revision {migrate.current_revision(engine)}")
        with engine.connect() as conn:
            world = conn.execute(select(SimWorld)).first()
            backorders = conn.scalar(select(func.count()).select_from(Backorder)) or 0
        if world is None and backorders == 0:
            console.print(f"generating the {DEMO_SCALE!r} world (seed {seed}) …")
            summary = generate_world(
                engine, scale=DEMO_SCALE, seed=seed, show_progress=True, console=console
            )
            print_summary(summary, console)
        else:
            if world is not None:
                console.print(
                    f"world already present: scale {world.scale!r}, seed {world.seed},"
                    f" today {world.today} (regenerate with"
                    " `allotment generate --scale small --seed N --replace`)"
                )
            else:
                console.print("the database holds imported data; nothing generated")
            _print_counts(engine, console)
        ensure_champions(engine, console)
    finally:
        engine.dispose()
    console.rule("next")
    console.print(
        "try: allotment backorders show 1 · allotment db status · allotment export customers"
        " customers.csv · allotment --help"
    )


def ensure_champions(engine: Engine, console: Console) -> dict[str, int | None]:
    """Reuse the registered champions that fit our features; train the tasks that have none.

    Returns task -> champion version (``None`` when the gate refused the trained model: the
    service then scores those risks with the policy's rule terms, flagged as degraded).
    """
    from allotment.cli.train import print_summary as print_training_summary
    from allotment.cli.train import train_tasks
    from allotment.errors import ModelSignatureError, ModelUnavailableError
    from allotment.features.registry import feature_kinds
    from allotment.features.tables import load_tables
    from allotment.modeling import registry

    console.rule("[bold]risk models")
    console.print(f"model registry: {registry.tracking_uri()}")
    champions: dict[str, int | None] = {}
    missing: list[Task] = []
    for task in Task:
        try:
            loaded = registry.load_champion(task, feature_kinds(task))
        except (ModelUnavailableError, ModelSignatureError) as exc:
            console.print(f"{task.value}: {exc.message} → training")
            missing.append(task)
        else:
            champions[task.value] = loaded.version
            console.print(f"{task.value}: reusing champion {loaded.name} v{loaded.version}")
    if not missing:
        return champions
    tables = load_tables(engine)
    outcomes, failures = train_tasks(
        missing, tables, config_path=None, actor=DEMO_ACTOR, say=console.print
    )
    if outcomes:
        print_training_summary(outcomes, console)
    for task_name, message in failures.items():
        champions[task_name] = None
        console.print(
            f"[yellow]{task_name}: not trained ({message}) — its risk is left out of priorities"
            " (rule terms only, flagged degraded)[/]"
        )
    for outcome in outcomes:
        champions[outcome.task] = outcome.version if outcome.champion else None
        if not outcome.champion:
            console.print(
                f"[yellow]{outcome.task}: no champion — its risk is left out of priorities"
                " (rule terms only, flagged degraded) until a model passes the gate[/]"
            )
    return champions


def _print_counts(engine: Engine, console: Console) -> None:
    table = Table("table", "rows", title="what the database holds")
    with engine.connect() as conn:
        for t in Base.metadata.sorted_tables:
            n = conn.scalar(select(func.count()).select_from(t)) or 0
            table.add_row(t.name, f"{n:,}")
        open_bo = conn.scalar(
            select(func.count()).select_from(Backorder).where(Backorder.status.in_(ACTIVE_STATUSES))
        )
    console.print(table)
    console.print(f"open backorders: {open_bo:,}")

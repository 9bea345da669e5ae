"""Generate a synthetic distributor: simulate under the static rule, store the world."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from allotment.config import get_settings
from allotment.errors import WorldConfigError
from allotment.world.metrics import auc, rate
from allotment.world.model import ST_RESOLVED, DayStats, World
from allotment.world.persist import (
    DatabaseNotEmptyError,
    existing_rows,
    expected_rows,
    iter_tables,
    not_empty_message,
    truth_frames,
    write_world,
)
from allotment.world.policies import AllocationPolicy, StaticTierPolicy
from allotment.world.scales import get_scale


@dataclass(frozen=True)
class WorldStats:
    """Base rates and oracle AUCs of a world (realized outcomes only)."""

    po_late_rate: float
    sla_breach_rate: float
    monthly_churn_rate: float
    oracle_auc: dict[str, float]
    truths: dict[str, int]
    open_backorders: int
    open_order_lines: int
    vip_share: float


@dataclass(frozen=True)
class GenerateSummary:
    """What ``allotment generate`` made."""

    scale: str
    seed: int
    today: date
    policy: str
    state_path: str
    simulate_seconds: float
    write_seconds: float
    rows: dict[str, int]
    stats: WorldStats
    total_rows: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total_rows", sum(self.rows.values()))

    @property
    def seconds(self) -> float:
        return self.simulate_seconds + self.write_seconds

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["today"] = self.today.isoformat()
        out["seconds"] = round(self.seconds, 3)
        return out


def world_stats(world: World) -> WorldStats:
    """Base rates, oracle AUCs and the live backlog of a stepped world."""
    frames = truth_frames(world)
    aucs: dict[str, float] = {}
    rates: dict[str, float] = {}
    counts: dict[str, int] = {}
    for kind, f in frames.items():
        known = f["outcome"] >= 0
        y = f["outcome"][known].astype(bool)
        aucs[kind] = round(auc(f["p"][known], y), 4)
        rates[kind] = round(rate(y), 4)
        counts[kind] = int(known.sum())
    lines = world.lines
    waiting = world.waiting
    return WorldStats(
        po_late_rate=rates["supplier_delay"],
        sla_breach_rate=rates["sla_breach"],
        monthly_churn_rate=rates["churn"],
        oracle_auc=aucs,
        truths=counts,
        open_backorders=int(np.count_nonzero(world.backorders["status"] < ST_RESOLVED)),
        open_order_lines=int(np.count_nonzero(lines["shipped"][waiting] < lines["qty"][waiting])),
        vip_share=round(float(np.mean(world.cust_tier == 0)), 4),
    )


def simulate(
    scale_name: str,
    seed: int,
    *,
    policy: AllocationPolicy | None = None,
    progress: Progress | None = None,
) -> World:
    """Create the world for ``scale_name`` and run its whole history (no database)."""
    scale = get_scale(scale_name)
    world = World.create(scale, seed)
    task = progress.add_task("simulating days", total=scale.days) if progress else None

    def on_day(_: DayStats) -> None:
        if progress is not None and task is not None:
            progress.advance(task)

    world.run(scale.days, policy or StaticTierPolicy(), on_day=on_day)
    return world


def state_path_for(scale: str, seed: int) -> Path:
    """Where the stepped world of ``scale``/``seed`` is stored for later simulation."""
    return (get_settings().data_dir / "worlds" / f"{scale}-seed{seed}.pkl").resolve()


def generate(
    engine: Engine,
    *,
    scale: str,
    seed: int,
    replace: bool = False,
    show_progress: bool = False,
    console: Console | None = None,
) -> GenerateSummary:
    """Simulate ``scale`` with ``seed`` under the static rule and write it to ``engine``.

    Raises
    ------
    DatabaseNotEmptyError
        When the database holds data and ``replace`` is false (checked before simulating).
    """
    get_scale(scale)  # fail fast on an unknown scale
    if not 0 <= seed < 2**31:
        raise WorldConfigError(f"seed must be in [0, 2**31), got {seed}")
    if not replace:
        with engine.connect() as conn:
            found = existing_rows(conn)
        if found:
            raise DatabaseNotEmptyError(not_empty_message(found), tables=sorted(found))
    with ExitStack() as stack:
        progress: Progress | None = None
        if show_progress:
            progress = stack.enter_context(
                Progress(
                    TextColumn("{task.description:<18}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=console,
                    transient=False,
                )
            )
        t0 = time.perf_counter()
        policy = StaticTierPolicy()
        world = simulate(scale, seed, policy=policy, progress=progress)
        path = world.save(state_path_for(scale, seed))
        simulate_seconds = time.perf_counter() - t0

        t1 = time.perf_counter()
        tables = iter_tables(world, state_path=str(path))
        total = expected_rows(world)
        task = progress.add_task("writing rows", total=total) if progress else None

        def on_chunk(_: str, n: int) -> None:
            if progress is not None and task is not None:
                progress.advance(task, n)

        rows = write_world(engine, tables, replace=replace, progress=on_chunk)
        write_seconds = time.perf_counter() - t1
    return GenerateSummary(
        scale=scale,
        seed=seed,
        today=world.date_of(world.day),
        policy=policy.name,
        state_path=str(path),
        simulate_seconds=round(simulate_seconds, 3),
        write_seconds=round(write_seconds, 3),
        rows=rows,
        stats=world_stats(world),
    )

"""The risks the simulated blend is priced with: the champion models, or the world's truth.

``blend`` is our product: every ``rescore_days`` simulated days (:class:`ModelRisks`) the
policy's current world is written to a scratch SQLite database with the generator's own
persistence (:func:`allotment.world.persist.write_world`, what ``allotment generate`` writes),
the scoring frames are built as of the last day with data by our one feature code
(:func:`allotment.features.scoring_frame`, through :func:`allotment.scoring.risks.task_risk`,
the service's own path), and the champions predict

* P(churn) of every active customer,
* P(supplier delay) of every open PO line,
* P(SLA breach) of every active backorder (subject: its order line).

Between re-scores the last predictions are reused, as a service scoring on a schedule would:
a line reads its customer's churn, the delay of the PO line it is pegged to, and its own SLA
breach. Two gaps, treated differently:

* A line that was not a backorder at the last re-score has no SLA-breach row (scoring prices
  backorders only): its SLA term is 0 — the blend's other terms, the churn and delay models and
  the rule terms, price it with the policy's normal weights. Most contests are for stock on
  hand among lines ordered that day, none of them a backorder yet; treating them as degraded
  (the blend's fallback weights, rule terms only) put 145 of 145 line decisions of a 3-day tiny
  run on the fallback rule, leaving the models nothing to decide.
* A customer or PO line the last re-score did not predict (a PO line placed since), or a task
  without a champion, has no risk (NaN): :func:`allotment.scoring.blend.blend` scores the lines
  that need it on the policy's rule terms with its ``fallback_weights`` (flagged degraded),
  exactly as scoring treats a backorder without a feature row.

``oracle-blend`` (:class:`OracleRisks`) is a diagnostic, not the product: the same blend fed
the probabilities the generator draws outcomes from — the blend if the models were perfect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import StaticPool

from allotment.domain.models import Base
from allotment.errors import AppError, ModelSignatureError, ModelUnavailableError
from allotment.features.frame import Task
from allotment.features.registry import feature_kinds
from allotment.features.tables import Tables, day_to_timestamp, load_tables
from allotment.modeling import registry
from allotment.scoring.blend import Risks
from allotment.scoring.risks import task_risk
from allotment.world.model import World
from allotment.world.persist import iter_tables, write_world
from allotment.world.policies import DemandLines

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: Simulated days between two re-scores of the blend's risks by default.
RESCORE_DAYS = 7


class SimulationModelsMissingError(AppError):
    """``blend`` was asked for and the registry holds no champion that fits our features."""

    status_code = 409
    code = "simulation_models_missing"


class RiskSource(Protocol):
    """Where a ranked policy reads P(SLA breach), P(churn) and P(supplier delay) of lines."""

    def risks(self, lines: DemandLines) -> Risks:
        """The three probabilities of each line (NaN where there is none)."""
        ...


@dataclass(frozen=True)
class Champions:
    """The champion version of each task that fits our features (``None``: none; why)."""

    versions: dict[Task, int | None]
    reasons: dict[Task, str] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        """Whether at least one task has a champion."""
        return any(v is not None for v in self.versions.values())

    def describe(self) -> dict[str, str | None]:
        """Task → ``"<model> v<version>"`` (``None`` without a champion)."""
        return {
            t.value: None if v is None else f"{registry.model_name(t)} v{v}"
            for t, v in self.versions.items()
        }


def find_champions() -> Champions:
    """The champions of the configured registry that fit today's features (never raises for a
    missing or refused one: its reason is kept)."""
    versions: dict[Task, int | None] = {}
    reasons: dict[Task, str] = {}
    for task in Task:
        try:
            versions[task] = registry.load_champion(task, feature_kinds(task)).version
        except (ModelUnavailableError, ModelSignatureError) as exc:
            versions[task], reasons[task] = None, exc.message
    return Champions(versions, reasons)


def require_champions(champions: Champions) -> Champions:
    """``champions`` if there is at least one, else :class:`SimulationModelsMissingError`."""
    if not champions.any:
        raise SimulationModelsMissingError(
            f"blend needs the trained risk models and the registry ({registry.tracking_uri()})"
            " has no champion that fits our features; run `allotment train` or simulate with"
            " --train",
            field="policy",
        )
    return champions


@contextmanager
def world_database(world: World) -> Iterator[Engine]:
    """An in-memory SQLite database holding ``world`` as ``allotment generate`` writes it (the
    generator's own persistence), disposed of on exit."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        Base.metadata.create_all(engine)
        write_world(engine, iter_tables(world, state_path=None))
        yield engine
    finally:
        engine.dispose()


def world_tables(world: World) -> Tables:
    """``world`` as the feature code reads a database (:func:`world_database`, then
    :func:`~allotment.features.load_tables`)."""
    with world_database(world) as engine:
        return load_tables(engine)


@dataclass
class ModelRisks:
    """The champions' risks of one simulated world, refreshed by :meth:`rescore`.

    Arrays are indexed by the world's customer, PO line and order line (database id − 1);
    NaN where the last re-score had no prediction (see the module docstring for how a line
    reads them); ``rescores`` counts the re-scores (the
    first happens on first use when the caller has not re-scored yet).
    """

    world: World
    champions: Champions
    churn: F64 = field(default_factory=lambda: np.zeros(0))
    delay: F64 = field(default_factory=lambda: np.zeros(0))
    sla: F64 = field(default_factory=lambda: np.zeros(0))
    rescores: int = 0

    def rescore(self) -> None:
        """Predict every customer, open PO line and active backorder as of the world's day."""
        w = self.world
        tables = world_tables(w)
        day = day_to_timestamp(np.array([tables.data_end]))[0].date()
        sizes = {Task.CHURN: w.scale.n_customers, Task.SUPPLIER_DELAY: w.pol.n}
        sizes[Task.SLA_BREACH] = w.lines.n
        out: dict[Task, F64] = {}
        for task, n in sizes.items():
            out[task] = p = np.full(n, np.nan)
            if self.champions.versions.get(task) is None:
                continue
            tr = task_risk(task, tables, day, use_models=True, subjects=np.arange(1, n + 1))
            if tr.version is None:
                continue
            ids = np.fromiter(tr.row_of, dtype=np.int64, count=len(tr.row_of))
            rows = np.fromiter(tr.row_of.values(), dtype=np.int64, count=len(tr.row_of))
            p[ids - 1] = tr.probability[rows]
        self.churn, self.delay, self.sla = (
            out[Task.CHURN],
            out[Task.SUPPLIER_DELAY],
            out[Task.SLA_BREACH],
        )
        self.rescores += 1

    def risks(self, lines: DemandLines) -> Risks:
        """The last re-score's risks of ``lines`` (NaN for what it did not predict)."""
        if not self.rescores:
            self.rescore()
        w = self.world
        idx = lines.line_id
        peg = w.lines["peg"][idx]
        p_delay = np.full(len(idx), np.nan)
        known = (peg >= 0) & (peg < len(self.delay))
        p_delay[known] = self.delay[peg[known]]
        # No SLA-breach row at the last re-score (not a backorder then): no SLA term yet.
        p_sla = np.zeros(len(idx))
        scored = idx < len(self.sla)
        p_sla[scored] = np.nan_to_num(self.sla[idx[scored]], nan=0.0)
        return Risks(
            sla_breach=p_sla, churn=self.churn[w.lines["customer"][idx]], supplier_delay=p_delay
        )


class OracleRisks:
    """The world's **true** probabilities (the ``oracle-blend`` diagnostic).

    P(SLA breach): 1 once the promised day has passed, else the chance that the supply the line
    would wait for (the earliest open PO line of its SKU-location, or a PO line ordered today)
    arrives by the promised day; P(churn) of the customer at today's service record;
    P(supplier delay) of the PO line it is pegged to. A trained model approaches these (its AUC
    is bounded by the oracle AUC).
    """

    def __init__(self, world: World) -> None:
        self.world = world

    def risks(self, lines: DemandLines) -> Risks:
        """The world's true P(SLA breach), P(churn) and P(supplier delay) of ``lines``."""
        w, d = self.world, lines.day
        idx = lines.line_id
        promised = w.lines["promised"][idx]
        p_ok = self._p_supply_in_time(lines.group, lines.quantity, promised, d)
        p_breach = np.where(promised < d, 1.0, 1.0 - p_ok)
        p_churn = w.churn_probability(d)[w.lines["customer"][idx]]
        peg = w.lines["peg"][idx]
        pegged = peg >= 0
        p_delay = np.zeros(len(idx))
        if pegged.any():
            po = peg[pegged]
            truth = np.clip(w.pol["p_late"][po], 0.0, 1.0)  # spot buys carry -1: never late
            p_delay[pegged] = np.where(w.pol["noticed"][po], 1.0, truth)
        return Risks(sla_breach=p_breach, churn=p_churn, supplier_delay=p_delay)

    def _p_supply_in_time(self, group: I64, qty: I64, promised: I64, d: int) -> F64:
        """P(the next supply of each line's SKU-location arrives by its promised day).

        The earliest open PO line of the SKU-location, the line queued behind what is already
        locked on it; with none open, a PO line ordered today (its nominal lead time and the
        supplier's lateness today).
        """
        w = self.world
        out = np.zeros(len(group))
        open_pol = w.open_pol
        first = np.full(w.n_pairs, -1, dtype=np.int64)
        if len(open_pol):
            pair = w.pol["pair"][open_pol]
            order = np.lexsort((open_pol, w.pol["eta"][open_pol], pair))
            pairs, head = np.unique(pair[order], return_index=True)
            first[pairs] = open_pol[order][head]  # earliest ETA per SKU-location
        po = first[group]
        has = po >= 0
        if has.any():
            pos_end = w.pol["locked_qty"][po[has]] + qty[has]
            out[has] = w.p_supply_on_time(po[has], pos_end, promised[has], d)
        new = ~has
        if new.any():
            supplier = w.prod_supplier[w.pair_product[group[new]]]
            mode = w.sup_mode[supplier]
            in_time = d + w.pair_lead[group[new]] <= promised[new]
            out[new] = np.where(in_time, 1.0 - w.p_late(supplier, mode, d), 0.0)
        return out

"""Backlog scoring: risks for every open backorder, the blend, one snapshot per backorder."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy.orm import Session

from allotment.domain.models import PolicyVersion
from allotment.explain import cache as explain_cache
from allotment.features.frame import Task
from allotment.features.tables import day_to_timestamp, load_tables, to_day
from allotment.modeling import registry
from allotment.policy.schema import Policy
from allotment.scoring import repository as repo
from allotment.scoring.blend import COMPONENTS, BlendResult, Exposures, Risks, blend, needed_models
from allotment.scoring.eta import eta_quantiles
from allotment.scoring.risks import TaskRisk, explainer_for, task_risk

Progress = Callable[[str], None]
#: Which id of a backorder row is the subject of each task's frame.
SUBJECT_COLUMN = {
    Task.SLA_BREACH: "order_line_id",
    Task.CHURN: "customer_id",
    Task.SUPPLIER_DELAY: "po_line_id",
}
#: PO line statuses whose supply is still to come (a delay risk applies).
_OPEN_SUPPLY = ("open", "partially_received")
_TASKS = (Task.SLA_BREACH, Task.CHURN, Task.SUPPLIER_DELAY)
#: Flag problems that made a backorder fall back to the rule terms.
_FALLBACKS = ("model_unavailable", "no_feature_row")


@dataclass(frozen=True)
class ScoredBackorder:
    """One backorder's score, as summarised for a person."""

    backorder_id: int
    number: str
    customer: str
    tier: str
    priority: float
    components: dict[str, float]
    degraded: bool
    top_reason: str


@dataclass(frozen=True)
class ScoreRunResult:
    """What a scoring run did."""

    run_id: int
    trigger: str
    as_of: date
    policy_version_id: int
    policy_name: str
    model_versions: dict[str, int]
    unavailable: dict[str, str]
    scored: int
    degraded: int
    explained: int
    top: list[ScoredBackorder]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "as_of": self.as_of.isoformat(),
            "policy_version_id": self.policy_version_id,
            "policy_name": self.policy_name,
            "model_versions": self.model_versions,
            "unavailable": self.unavailable,
            "scored": self.scored,
            "degraded": self.degraded,
            "explained": self.explained,
            "top": [vars(t) for t in self.top],
            "seconds": self.seconds,
        }


def _active_policy(session: Session) -> tuple[PolicyVersion, Policy]:
    from allotment.policy import service as policy_service

    return policy_service.active_policy(session)


def exposures_of(
    bos: pd.DataFrame, contracts: pd.DataFrame, open_value: dict[int, float], as_of_day: int
) -> Exposures:
    """What each open backorder puts at stake, from :func:`repository.open_backorders` rows,
    the contracts in force, each customer's open backorder value (USD) and the as-of day number
    (days since 1970-01-01); shared with the policy what-if so both measure the same."""
    cust = bos["customer_id"].to_numpy(np.int64)
    con = contracts.reindex(cust)
    qty = bos["open_quantity"].to_numpy(np.float64)  # units
    price = bos["unit_price"].to_numpy(np.float64)  # USD per unit
    value = qty * price
    created = (
        bos["created_at"].to_numpy("datetime64[D]") - np.datetime64("1970-01-01", "D")
    ).astype(np.int64)
    has_supply = (
        bos["po_line_id"].notna().to_numpy() & bos["po_line_status"].isin(_OPEN_SUPPLY).to_numpy()
    )
    return Exposures(
        tier=list(bos["tier"]),
        is_emergency=bos["is_emergency"].to_numpy(bool),
        value_at_risk=value,
        margin_at_risk=qty * (price - bos["unit_cost"].to_numpy(np.float64)),
        penalty_rate_per_day=con["penalty_rate_per_day"].to_numpy(np.float64),
        penalty_cap_rate=con["penalty_cap_rate"].to_numpy(np.float64),
        lifetime_value=bos["lifetime_value"].to_numpy(np.float64),
        customer_open_value=np.array([open_value.get(int(c), 0.0) for c in cust]),
        has_supply=has_supply,
        days_waiting=(as_of_day - created).astype(np.float64),
    )


def score(
    session: Session,
    *,
    ids: Sequence[int] | None = None,
    as_of: date | datetime | str | None = None,
    trigger: str | None = None,
    explain_top: int = 50,
    progress: Progress | None = None,
    policy: tuple[PolicyVersion, Policy] | None = None,
) -> ScoreRunResult:
    """Score open backorders (all, or ``ids``) with the active policy and champion models."""
    with _gc_paused():
        return _score(
            session,
            ids=ids,
            as_of=as_of,
            trigger=trigger,
            explain_top=explain_top,
            progress=progress,
            policy=policy,
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a run builds its millions of short-lived
    objects (frames, rows, texts): its full passes over them cost about a second on a 100k
    backlog and free nothing (reference counting frees them). Restored afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _score(
    session: Session,
    *,
    ids: Sequence[int] | None,
    as_of: date | datetime | str | None,
    trigger: str | None,
    explain_top: int,
    progress: Progress | None,
    policy: tuple[PolicyVersion, Policy] | None,
) -> ScoreRunResult:
    say = progress or (lambda _msg: None)
    clock: dict[str, float] = {}
    t0 = time.perf_counter()
    started = datetime.now(UTC)
    version, pol = policy or _active_policy(session)
    say("loading open backorders")
    bos = repo.open_backorders(session=session, ids=ids)
    clock["backorders"] = time.perf_counter() - t0
    say("loading facts for features")
    t_facts = time.perf_counter()
    tables = load_tables(
        session.connection(),
        backorders=None if ids is None else bos["backorder_id"].tolist(),
        truths=False,
        as_of_day=None if as_of is None else to_day(as_of),
        active_history=True,
    )
    clock["facts"] = time.perf_counter() - t_facts
    day = tables.data_end if as_of is None else to_day(as_of)
    day_date: date = day_to_timestamp(np.array([day]))[0].date()
    contracts = repo.contracts_at(
        session=session, customer_ids=bos["customer_id"].tolist(), on=day_date
    )
    if ids is None:  # every active backorder is in hand: no second query
        open_value = _open_value(bos)
    else:
        open_value = repo.customer_open_value(
            session=session, customer_ids=bos["customer_id"].tolist()
        )
    clock["load"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    risks: dict[Task, TaskRisk] = {}
    for task in _TASKS:
        say(f"predicting {task.value}")
        risks[task] = task_risk(
            task,
            tables,
            day_date,
            use_models=pol.blend.use_models,
            subjects=bos[SUBJECT_COLUMN[task]].to_numpy(),
        )
        for stage, seconds in risks[task].seconds.items():
            clock[f"{task.value}.{stage}"] = seconds
    clock["predict"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    x = exposures_of(bos, contracts, open_value, day)
    need = dict(zip(_TASKS, needed_models(pol, x.has_supply), strict=True))
    n = len(bos)
    p = {task: np.full(n, np.nan) for task in _TASKS}
    rows = {task: np.full(n, -1, dtype=np.int64) for task in _TASKS}
    for task, tr in risks.items():
        if tr.version is None:
            continue
        idx = _rows_of(bos[SUBJECT_COLUMN[task]], tr.row_of)
        rows[task] = idx
        found = idx >= 0
        p[task][found] = tr.probability[idx[found]]
    result = blend(
        x,
        Risks(p[Task.SLA_BREACH], p[Task.CHURN], p[Task.SUPPLIER_DELAY]),
        pol,
    )
    clock["blend"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    model_versions = {tr.model_name: tr.version for tr in risks.values() if tr.version is not None}
    run = repo.create_run(
        session=session,
        trigger=trigger or ("full" if ids is None else "ids"),
        policy_version_id=version.id,
        model_versions=model_versions,
        started_at=started,
    )
    run.as_of = day_date
    bo_ids = bos["backorder_id"].to_numpy(np.int64)
    etas = _etas(risks[Task.SUPPLIER_DELAY], day)
    snapshots, flags = _snapshot_rows(
        run_id=run.id,
        scored_at=repo.db_timestamp(session, started),
        policy_version_id=version.id,
        model_versions=model_versions,
        as_of=day_date,
        bos=bos,
        risks=risks,
        rows=rows,
        need=need,
        has_supply=x.has_supply,
        p=p,
        result=result,
        etas=etas,
    )
    say(f"writing {n:,} snapshots")
    repo.insert_snapshots(session=session, rows=snapshots)
    repo.set_priorities(session=session, ids=bo_ids.tolist(), priorities=result.priority.tolist())
    run.scored = n
    run.degraded = int(result.degraded.sum())
    run.finished_at = datetime.now(UTC)
    session.flush()
    clock["write"] = time.perf_counter() - t3

    # Highest priority first; ties by id, so the ranking is deterministic.
    order = np.lexsort((bo_ids, -result.priority))
    explained = 0
    if explain_top > 0 and pol.blend.use_models and n:
        t4 = time.perf_counter()
        say(f"explaining the top {min(explain_top, n)}")
        explained = _explain_eagerly(session, risks, rows, order[:explain_top])
        clock["explain"] = time.perf_counter() - t4
    top = [
        ScoredBackorder(
            backorder_id=int(bo_ids[i]),
            number=str(bos["number"].iat[i]),
            customer=str(bos["customer_name"].iat[i]),
            tier=str(bos["tier"].iat[i]),
            priority=float(result.priority[i]),
            components=result.row(i),
            degraded=bool(result.degraded[i]),
            top_reason=_top_reason(result.row(i), bool(result.degraded[i]), flags[i]),
        )
        for i in order[:10]
    ]
    clock["total"] = time.perf_counter() - t0
    return ScoreRunResult(
        run_id=run.id,
        trigger=run.trigger,
        as_of=day_date,
        policy_version_id=version.id,
        policy_name=version.name,
        model_versions=model_versions,
        unavailable={tr.model_name: tr.reason for tr in risks.values() if tr.reason is not None},
        scored=n,
        degraded=int(result.degraded.sum()),
        explained=explained,
        top=top,
        seconds=clock,
    )


#: JSON of six floats in :data:`COMPONENTS` order (``repr`` of a finite float is valid JSON).
_COMPONENTS_JSON = "{" + ",".join(f'"{name}":%r' for name in COMPONENTS) + "}"


def _finite(a: npt.NDArray[np.float64]) -> list[list[float]]:
    # JSON has no NaN/inf; blend outputs are finite unless an input was infinite.
    out: list[list[float]] = np.nan_to_num(a, nan=0.0, posinf=1e300, neginf=0.0).tolist()
    return out


def _open_value(bos: pd.DataFrame) -> dict[int, float]:
    """:func:`repository.customer_open_value` of every customer, from all active backorders:
    integer cents x units summed exactly, then USD."""
    if not len(bos):
        return {}
    cents = np.rint(bos["unit_price"].to_numpy(np.float64) * 100.0).astype(np.int64)
    value = bos["open_quantity"].to_numpy(np.int64) * cents
    total = pd.Series(value).groupby(bos["customer_id"].to_numpy(np.int64)).sum()
    return {int(c): int(v) / 100.0 for c, v in zip(total.index, total.to_numpy(), strict=True)}


def _rows_of(subjects: pd.Series, row_of: dict[int, int]) -> npt.NDArray[np.int64]:
    """The feature row of each subject id (-1: none, or no subject), vectorised."""
    keys = np.fromiter(row_of.keys(), dtype=np.int64, count=len(row_of))
    values = np.fromiter(row_of.values(), dtype=np.int64, count=len(row_of))
    present = subjects.notna().to_numpy()
    at = pd.Index(keys).get_indexer(pd.Index(subjects.fillna(-1).astype(np.int64)))
    out: npt.NDArray[np.int64] = np.where(present & (at >= 0), values[at], -1)
    return out


def _etas(risk: TaskRisk, day: int) -> dict[int, str]:
    """PO line id -> ETA P50/P90 as snapshot JSON, from the supplier-delay champion's quantile
    companions (empty when the champion has none or is unavailable: no ETA, not a guess)."""
    if risk.version is None or risk.X is None or len(risk.X) == 0:
        return {}
    companions = registry.load_companions(risk.model_name, risk.version)
    promised = day + risk.X["days_to_promise"].to_numpy(np.float64)
    ids = np.array(sorted(risk.row_of, key=risk.row_of.__getitem__), dtype=np.int64)
    eta = eta_quantiles(risk.X, ids, promised.astype(np.int64), np.full(len(ids), day), companions)
    if eta is None:
        return {}
    epoch = np.datetime64("1970-01-01", "D")
    p50 = np.datetime_as_string(epoch + eta.p50.astype("timedelta64[D]"), unit="D").tolist()
    p90 = np.datetime_as_string(epoch + eta.p90.astype("timedelta64[D]"), unit="D").tolist()
    floored = eta.floored.tolist()
    # json.dumps({"p50": a, "p90": b, "floored": f}, separators=(",", ":")), as text: the
    # dates are ISO strings and the flag a bool.
    return {
        int(i): f'{{"p50":"{a}","p90":"{b}","floored":{"true" if f else "false"}}}'
        for i, a, b, f in zip(eta.ids.tolist(), p50, p90, floored, strict=True)
    }


def _snapshot_rows(
    *,
    run_id: int,
    scored_at: Any,
    policy_version_id: int,
    model_versions: dict[str, int],
    as_of: date,
    bos: pd.DataFrame,
    risks: dict[Task, TaskRisk],
    rows: dict[Task, npt.NDArray[np.int64]],
    need: dict[Task, npt.NDArray[np.bool_]],
    has_supply: npt.NDArray[np.bool_],
    p: dict[Task, npt.NDArray[np.float64]],
    result: BlendResult,
    etas: dict[int, str] | None = None,
) -> tuple[list[tuple[Any, ...]], list[list[dict[str, Any]]]]:
    """The ``score_snapshots`` rows for an executemany insert, and each row's flags.

    JSON columns are built as JSON text here, once (see
    :func:`allotment.scoring.repository.insert_snapshots`): a 100k backlog spends more time
    in per-value type processing than in the database otherwise.
    """
    n = len(bos)
    # Column by column, as plain Python lists: indexing numpy scalars one by one, or looking
    # the same things up per row, costs more than the insert.
    bo_ids = bos["backorder_id"].astype(int).tolist()
    subjects = {task: _int_list(bos[SUBJECT_COLUMN[task]]) for task in _TASKS}
    prob = {task: _float_list(p[task]) for task in _TASKS}
    day = as_of.isoformat()
    # Per row: the feature digest of each model that scored it, and its input flags (JSON),
    # joined column by column (object arrays: one C loop per model, not one per row).
    digest_parts = np.full(n, "", dtype=object)
    input_parts = np.full(n, "", dtype=object)
    for task in _TASKS:
        tr = risks[task]
        at = np.flatnonzero(rows[task] >= 0)
        if not len(at):
            continue
        r = rows[task][at]
        digests: npt.NDArray[np.object_] = np.asarray(tr.digests, dtype=object)[r]
        _append(digest_parts, at, (f'"{tr.model_name}":"' + digests + '"').astype(object))
        flagged = np.asarray(tr.flags, dtype=object)[r]
        some = flagged != ""
        _append(input_parts, at[some], flagged[some])
    input_flags: list[list[str]] = [[f] if f else [] for f in input_parts.tolist()]
    digest_parts_text: list[str] = digest_parts.tolist()
    # The scoring's own flags (fallbacks, no supply): only the few rows that have any.
    all_flags: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for task in _TASKS:
        tr = risks[task]
        for i in np.flatnonzero((rows[task] < 0) & need[task]).tolist():
            all_flags[i].append(
                {
                    "model": tr.model_name,
                    "problem": "model_unavailable" if tr.reason else "no_feature_row",
                    "detail": tr.reason
                    or f"no {task.value} feature row for {SUBJECT_COLUMN[task]}"
                    f" {subjects[task][i]} as of {day}",
                }
            )
    po_lines = subjects[Task.SUPPLIER_DELAY]
    po_status = bos["po_line_status"].tolist()
    not_pending = bos["po_line_id"].notna().to_numpy() & ~has_supply
    for i in np.flatnonzero(not_pending).tolist():
        all_flags[i].append(
            {
                "model": risks[Task.SUPPLIER_DELAY].model_name,
                "problem": "supply_not_pending",
                "detail": f"PO line {po_lines[i]} is {po_status[i]}: no delay risk",
            }
        )
    for i, flags in enumerate(all_flags):
        if flags:
            input_flags[i].extend(json.dumps(f) for f in flags)
    etas = etas or {}
    eta_parts = [f'"eta":{etas[po]},' if po is not None and po in etas else "" for po in po_lines]
    exposures = [_COMPONENTS_JSON % tuple(e) for e in _finite(result.exposure)]
    inputs = [
        f'{{"multiplier":{m!r},"rule_only":{"true" if r else "false"},{eta}"exposures":{x}}}'
        for m, r, eta, x in zip(
            result.multiplier.tolist(),
            result.rule_only.tolist(),
            eta_parts,
            exposures,
            strict=True,
        )
    ]
    comps = [_COMPONENTS_JSON % tuple(c) for c in _finite(result.components)]
    versions_json = json.dumps(model_versions, sort_keys=True)
    # In repository.SNAPSHOT_COLUMNS order.
    out = [
        (
            run_id,
            bo_id,
            scored_at,
            policy_version_id,
            versions_json,
            p_delay,
            p_sla,
            p_churn,
            comp,
            priority,
            degraded,
            "[" + ",".join(flagged) + "]",
            "{" + digests + "}",
            inp,
        )
        for bo_id, p_delay, p_sla, p_churn, comp, priority, degraded, flagged, digests, inp in zip(
            bo_ids,
            prob[Task.SUPPLIER_DELAY],
            prob[Task.SLA_BREACH],
            prob[Task.CHURN],
            comps,
            result.priority.tolist(),
            result.degraded.tolist(),
            input_flags,
            digest_parts_text,
            inputs,
            strict=True,
        )
    ]
    return out, all_flags


def _append(
    acc: npt.NDArray[np.object_], at: npt.NDArray[np.intp], texts: npt.NDArray[np.object_]
) -> None:
    """Join ``texts`` onto the comma-separated texts of ``acc`` at positions ``at``."""
    have = acc[at]
    acc[at] = np.where(have == "", texts, have + "," + texts)


def _float_list(values: npt.NDArray[np.float64]) -> list[float | None]:
    """Python floats, NaN (unavailable) -> None."""
    out: list[float | None] = values.tolist()
    for i in np.flatnonzero(np.isnan(values)).tolist():
        out[i] = None
    return out


def _int_list(values: pd.Series) -> list[int | None]:
    """Python ints, a missing id -> None."""
    missing = values.isna().to_numpy()
    out: list[int | None] = values.fillna(-1).to_numpy(np.int64).tolist()
    for i in np.flatnonzero(missing).tolist():
        out[i] = None
    return out


_LABELS = {
    "sla": "SLA penalty exposure",
    "churn": "relationship value at risk",
    "delay": "supply delay on value",
    "value": "value at risk",
    "margin": "margin at risk",
    "age": "days waiting",
}


def _top_reason(comps: dict[str, float], degraded: bool, flags: list[dict[str, Any]]) -> str:
    name, usd = max(comps.items(), key=lambda kv: (kv[1], kv[0]))
    text = f"{_LABELS[name]} ${usd:,.0f}"
    if degraded:
        why = next((f["problem"] for f in flags if f["problem"] in _FALLBACKS), "")
        text += f" (degraded: {why})"
    return text


def _explain_eagerly(
    session: Session,
    risks: dict[Task, TaskRisk],
    rows: dict[Task, npt.NDArray[np.int64]],
    top: npt.NDArray[np.int64],
) -> int:
    """Fill the explanation cache for the top rows (each model's distinct feature rows)."""
    done = 0
    for task in _TASKS:
        tr = risks[task]
        if tr.version is None or tr.X is None:
            continue
        wanted = sorted({int(rows[task][i]) for i in top if rows[task][i] >= 0})
        if not wanted:
            continue
        loaded = registry.load_version(tr.model_name, tr.version, tr.features)
        X = tr.X.iloc[wanted]
        values = [dict(zip(X.columns, row, strict=True)) for row in X.itertuples(index=False)]
        explain_cache.get_or_explain(
            session, explainer_for(loaded), values, [tr.digests[r] for r in wanted]
        )
        done += len(wanted)
    return done

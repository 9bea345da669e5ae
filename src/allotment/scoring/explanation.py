"""Why a backorder ranks where it does: its components, split into feature attributions (USD).

An explanation starts from the backorder's latest score snapshot (its components, the
multiplier and exposures the blend multiplied - with the snapshot's policy version's weights
they give the factors ``K = M · w · E`` - and the feature digests it scored). Each model-driven
component ``K · p`` is split into ``K · φ_j`` per feature plus a baseline ``K · base``, from the
model version the snapshot used (see :mod:`allotment.scoring.blend` and
:mod:`allotment.explain.attribution` for the method), so the feature parts add up to the
component and the components to the priority.

Attributions come from the explanation cache (model version, feature digest); on a miss the
features are recomputed as of the snapshot's day and their digest is checked against the one
that was scored: a different digest (facts recorded since for that day) is flagged
``feature_digest_mismatch`` and the baseline absorbs the difference, so the parts still add up.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from allotment.domain.models import (
    Backorder,
    Customer,
    CustomerOrder,
    CustomerOrderLine,
    ExplanationCache,
    PolicyVersion,
    ScoreRun,
    ScoreSnapshot,
)
from allotment.errors import AppError, ModelSignatureError, ModelUnavailableError, NotFoundError
from allotment.explain import METHOD
from allotment.explain import cache as explain_cache
from allotment.explain import reasons as reason_text
from allotment.features.build import scoring_frame
from allotment.features.frame import Task
from allotment.features.tables import Tables, load_tables, to_day
from allotment.modeling import registry
from allotment.policy import service as policy_service
from allotment.scoring.blend import BASELINE, COMPONENTS, MODEL_COMPONENTS
from allotment.scoring.risks import explainer_for, row_digests

#: Plain names of the components.
LABELS = {
    "sla": "SLA penalty exposure",
    "churn": "relationship value at risk",
    "delay": "supplier delay on the value waiting",
    "value": "value at risk",
    "margin": "margin at risk",
    "age": "days waiting",
}
BLEND_METHOD = (
    "priority = Σ components; component = tier multiplier × emergency multiplier × policy "
    "weight × risk × exposure (USD). Each model-driven component is split as factor × "
    "(base + Σ feature contributions): " + METHOD
)
_TOP_FEATURES = 8


class ScoreSnapshotMissingError(AppError):
    """A backorder that has not been scored yet."""

    status_code = 404
    code = "score_snapshot_missing"


@dataclass(frozen=True)
class FeaturePart:
    """One feature's share of a component (USD), with its value and a plain reason."""

    feature: str
    label: str
    usd: float
    value: Any
    reason: str
    flag: dict[str, Any] | None = None


@dataclass(frozen=True)
class ComponentExplanation:
    """One component: its USD, the risk and exposure behind it, and its feature parts."""

    name: str
    label: str
    usd: float
    risk: float | None
    exposure: float
    factor: float
    model: str | None = None
    model_version: int | None = None
    # Feature parts, largest |USD| first, then the baseline part; they add up to ``usd``.
    parts: list[FeaturePart] = field(default_factory=list)


@dataclass(frozen=True)
class BackorderExplanation:
    """A backorder's decomposition: components (USD) adding up to its priority."""

    backorder_id: int
    number: str
    customer: str
    tier: str
    priority: float
    components: list[ComponentExplanation]
    risks: dict[str, float | None]
    multiplier: float
    model_versions: dict[str, int]
    policy_version_id: int
    policy_name: str
    degraded: bool
    flags: list[dict[str, Any]]
    method: str
    scored_at: datetime
    as_of: date | None
    snapshot_id: int
    run_id: int

    def component(self, name: str) -> ComponentExplanation:
        return next(c for c in self.components if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["scored_at"] = self.scored_at.isoformat()
        out["as_of"] = None if self.as_of is None else self.as_of.isoformat()
        return out


def plain_reason(feature: str, value: Any, usd: float, flag: dict[str, Any] | None = None) -> str:
    """``"Supplier on-time rate, last 90 days: 55% → +$1,240"`` (imputed inputs say so)."""
    text = f"{reason_text.label(feature)}: {reason_text.format_value(feature, value)}"
    text += f" → {reason_text.format_amount(usd)}"
    if flag is not None:
        text += f" (imputed: {flag.get('problem', '?').replace('_', ' ')})"
    return text


#: (model name, model version, feature digest): an explanation cache key.
CacheKey = tuple[str, int, str]


def _payloads(session: Session, keys: list[CacheKey]) -> dict[CacheKey, dict[str, Any]]:
    """The cached explanation payloads (base, contributions, values, flags) of ``keys``."""
    if not keys:
        return {}
    c = ExplanationCache
    rows = session.execute(
        select(c.model_name, c.model_version, c.feature_digest, c.payload).where(
            or_(
                *(
                    and_(c.model_name == m, c.model_version == v, c.feature_digest == d)
                    for m, v, d in keys
                )
            )
        )
    )
    return {(m, int(v), d): dict(p) for m, v, d, p in rows}


class _LazyTables:
    """The facts one backorder's features read at ``as_of`` (its snapshot's day), loaded on
    the first cache miss only.

    The day bounds the market-wide facts a scoped read takes: read at the latest day instead,
    a snapshot older than the data would miss lines whose outcomes fall in its windows.
    """

    def __init__(self, session: Session, backorder_id: int, as_of: date | None) -> None:
        self._session = session
        self._backorder_id = backorder_id
        self._as_of_day = None if as_of is None else to_day(as_of)
        self._tables: Tables | None = None

    def get(self) -> Tables:
        if self._tables is None:
            self._tables = load_tables(
                self._session.connection(),
                backorders=[self._backorder_id],
                truths=False,
                as_of_day=self._as_of_day,
            )
        return self._tables


def _head() -> Select[*tuple[Any, ...]]:
    """One round trip: a backorder's names, latest snapshot, its run's day and policy version."""
    latest = aliased(ScoreSnapshot)
    latest_id = (
        select(func.max(latest.id))
        .where(latest.backorder_id == bindparam("backorder_id"))
        .scalar_subquery()
    )
    return (
        select(
            Backorder.number,
            Customer.name,
            Customer.tier,
            Backorder.order_line_id,
            Customer.id,
            Backorder.po_line_id,
            ScoreSnapshot,
            ScoreRun.as_of,
            PolicyVersion,
        )
        .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
        .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
        .join(Customer, Customer.id == CustomerOrder.customer_id)
        .outerjoin(ScoreSnapshot, ScoreSnapshot.id == latest_id)
        .outerjoin(ScoreRun, ScoreRun.id == ScoreSnapshot.run_id)
        .outerjoin(PolicyVersion, PolicyVersion.id == ScoreSnapshot.policy_version_id)
        .where(Backorder.id == bindparam("backorder_id"))
    )


# Built once: a statement object costs more to build than its cached SQL costs to run.
_HEAD = _head()


def explain_backorder(
    session: Session, backorder_id: int, *, store: sessionmaker[Session] | None = None
) -> BackorderExplanation:
    """One backorder's decomposition from its latest snapshot (features recomputed on a miss).

    Attributions computed on a cache miss are stored in ``session`` (the caller commits), or,
    given ``store``, in a short transaction of their own: a read-only request never upgrades
    its transaction to a write (on SQLite that fails once another writer has committed).
    """
    found = session.execute(_HEAD, {"backorder_id": backorder_id}).one_or_none()
    if found is None:
        raise NotFoundError(
            f"backorder {backorder_id} does not exist",
            field="backorder_id",
            backorder_id=backorder_id,
        )
    head, snap, as_of, policy_row = found[:6], found[6], found[7], found[8]
    if snap is None:
        raise ScoreSnapshotMissingError(
            f"backorder {backorder_id} has not been scored yet: run `allotment score`",
            backorder_id=backorder_id,
        )
    policy = policy_service.policy_of(policy_row)
    subjects = {"sla_breach": head[3], "churn": head[4], "supplier_delay": head[5]}
    inputs = dict(snap.inputs or {})
    multiplier = float(inputs.get("multiplier", 0.0))
    exposures: dict[str, float] = inputs.get("exposures", {})
    # K = M · w · E with the weights the blend used (fallback ones for a degraded row).
    weights = policy.blend.fallback_weights if snap.degraded else policy.blend.weights
    factors = {
        name: multiplier * float(getattr(weights, name)) * float(exposures.get(name, 0.0))
        for name in COMPONENTS
    }
    risks = {
        "sla_breach": snap.p_sla_breach,
        "churn": snap.p_churn,
        "supplier_delay": snap.p_supplier_delay,
    }
    flags = list(snap.flags)
    rule_only = bool(inputs.get("rule_only", False))
    components: list[ComponentExplanation] = []
    tables = _LazyTables(session, backorder_id, as_of)
    wanted: list[CacheKey] = []
    for name in COMPONENTS:
        task = MODEL_COMPONENTS.get(name)
        model = None if task is None else registry.model_name(task)
        version = None if model is None else snap.model_versions.get(model)
        digest = None if model is None else snap.feature_digests.get(model)
        if model and version and digest and not rule_only:
            wanted.append((model, int(version), str(digest)))
    cached = _payloads(session, wanted)
    for name in COMPONENTS:
        usd = float(snap.components.get(name, 0.0))
        task = MODEL_COMPONENTS.get(name)
        risk = None if task is None else risks[task]
        model = None if task is None else registry.model_name(task)
        version = None if model is None else snap.model_versions.get(model)
        parts: list[FeaturePart] = []
        digest = None if model is None else snap.feature_digests.get(model)
        if task is not None and model and version and digest and not rule_only and usd != 0:
            parts, problems = _split(
                session,
                cached=cached.get((model, int(version), str(digest))),
                store=store,
                task=Task(task),
                model=model,
                version=int(version),
                digest=str(digest),
                subject=subjects.get(task),
                as_of=as_of,
                tables=tables,
                usd=usd,
                factor=float(factors.get(name, 0.0)),
            )
            flags.extend(problems)
        components.append(
            ComponentExplanation(
                name=name,
                label=LABELS[name],
                usd=usd,
                risk=risk,
                exposure=float(exposures.get(name, 0.0)),
                factor=float(factors.get(name, 0.0)),
                model=model if task is not None else None,
                model_version=None if version is None else int(version),
                parts=parts,
            )
        )
    return BackorderExplanation(
        backorder_id=backorder_id,
        number=str(head[0]),
        customer=str(head[1]),
        tier=str(getattr(head[2], "value", head[2])),
        priority=float(snap.priority),
        components=components,
        risks=risks,
        multiplier=multiplier,
        model_versions={str(k): int(v) for k, v in snap.model_versions.items()},
        policy_version_id=snap.policy_version_id,
        policy_name=policy_row.name,
        degraded=bool(snap.degraded),
        flags=flags,
        method=BLEND_METHOD,
        scored_at=snap.scored_at,
        as_of=as_of,
        snapshot_id=snap.id,
        run_id=snap.run_id,
    )


def _split(
    session: Session,
    *,
    cached: dict[str, Any] | None,
    store: sessionmaker[Session] | None,
    task: Task,
    model: str,
    version: int,
    digest: str,
    subject: int | None,
    as_of: date | None,
    tables: _LazyTables,
    usd: float,
    factor: float,
) -> tuple[list[FeaturePart], list[dict[str, Any]]]:
    """Feature parts of one component, and any problems met (as flags)."""
    problems: list[dict[str, Any]] = []
    payload = cached
    if payload is None:
        frame = scoring_frame(
            task, tables.get(), as_of=as_of, subjects=[] if subject is None else [subject]
        )
        rows = [i for i, s in enumerate(frame.ids.to_numpy()) if int(s) == subject]
        if not rows:
            return [], [
                {
                    "model": model,
                    "problem": "no_feature_row",
                    "detail": f"no {task.value} feature row for subject {subject} as of {as_of}",
                }
            ]
        X = frame.X.iloc[rows[:1]]
        got = row_digests(X)[0]
        if got != digest:
            problems.append(
                {
                    "model": model,
                    "problem": "feature_digest_mismatch",
                    "detail": "facts for the scoring day changed since it was scored; the"
                    " baseline part absorbs the difference",
                }
            )
        try:
            loaded = registry.load_version(model, version, frame.features)
            explainer = explainer_for(loaded)
        except (ModelUnavailableError, ModelSignatureError) as exc:
            return [], [{"model": model, "problem": "model_unavailable", "detail": exc.message}]
        row_values = {c: X[c].iat[0] for c in X.columns}
        computed = explainer.explain_rows([row_values]).row(0).to_payload(row_values)
        if store is None:
            explain_cache.store(
                session, model_name=model, model_version=version, entries={got: computed}
            )
        else:
            with store() as writer, writer.begin():
                explain_cache.store(
                    writer, model_name=model, model_version=version, entries={got: computed}
                )
        # As a cache hit would read it back (JSON), so a miss and a hit answer alike.
        payload = json.loads(json.dumps(computed))
    contributions: dict[str, float] = payload["contributions"]
    values: dict[str, Any] = payload.get("values", {})
    flagged = {f["feature"]: f for f in payload.get("flags", [])}
    parts = [
        FeaturePart(
            feature=f,
            label=reason_text.label(f),
            usd=float(factor * phi),
            value=values.get(f),
            reason=plain_reason(f, values.get(f), factor * phi, flagged.get(f)),
            flag=flagged.get(f),
        )
        for f, phi in contributions.items()
    ]
    parts.sort(key=lambda p: (-abs(p.usd), p.feature))
    baseline = usd - sum(p.usd for p in parts)
    parts.append(
        FeaturePart(
            feature=BASELINE,
            label="baseline (the model's average risk)",
            usd=baseline,
            value=None,
            reason=f"Baseline (the model's average risk) → {reason_text.format_amount(baseline)}",
        )
    )
    return parts, problems


@dataclass(frozen=True)
class Contrast:
    """Why ``a`` ranks above (or below) ``b``: component and top feature differences (USD)."""

    a: BackorderExplanation
    b: BackorderExplanation
    difference: float
    components: dict[str, float]
    features: list[tuple[str, str, float]]  # (component, feature, USD a − b), largest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "difference": self.difference,
            "components": self.components,
            "features": [{"component": c, "feature": f, "usd": v} for c, f, v in self.features],
        }


def contrast(
    session: Session,
    a_id: int,
    b_id: int,
    *,
    top: int = _TOP_FEATURES,
    store: sessionmaker[Session] | None = None,
) -> Contrast:
    """Component differences and the largest feature differences between two backorders."""
    a = explain_backorder(session, a_id, store=store)
    b = explain_backorder(session, b_id, store=store)
    comps = {c.name: c.usd - b.component(c.name).usd for c in a.components}
    diffs: list[tuple[str, str, float]] = []
    for ca in a.components:
        cb = b.component(ca.name)
        pa = {p.feature: p.usd for p in ca.parts}
        pb = {p.feature: p.usd for p in cb.parts}
        for f in sorted(set(pa) | set(pb)):
            diffs.append((ca.name, f, pa.get(f, 0.0) - pb.get(f, 0.0)))
    diffs.sort(key=lambda t: (-abs(t[2]), t[0], t[1]))
    return Contrast(a, b, a.priority - b.priority, comps, diffs[:top])

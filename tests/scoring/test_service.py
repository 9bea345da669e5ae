"""Backlog scoring end to end on the tiny world: every open backorder scored and stored once,
re-scoring by ids touches only those, a missing champion degrades to the rule terms with the
reason, explanations add up and come from the cache the second time."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from allotment.db.engine import make_sessionmaker
from allotment.domain.models import (
    ACTIVE_BACKORDER_STATUSES,
    Backorder,
    ExplanationCache,
    ScoreRun,
    ScoreSnapshot,
)
from allotment.features.tables import day_to_timestamp, load_tables
from allotment.policy import service as policy_service
from allotment.policy.documents import shipped_policy
from allotment.policy.schema import Blend, BlendWeights, Policy
from allotment.scoring.blend import BASELINE, COMPONENTS
from allotment.scoring.explanation import (
    ScoreSnapshotMissingError,
    contrast,
    explain_backorder,
)
from allotment.scoring.service import score

# The default blend without the churn term: tiny has no churn champion.
NO_CHURN = Policy(
    name="no-churn",
    blend=Blend(weights=BlendWeights(sla=1, churn=0, delay=1, value=0.1, margin=0, age=1)),
)


def _activate(session: Session, policy: Policy) -> None:
    policy_service.activate(session, document=policy, actor="test", role="admin", reason="test")
    session.flush()


def _active_ids(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(Backorder.id)
            .where(Backorder.status.in_(ACTIVE_BACKORDER_STATUSES))
            .order_by(Backorder.id)
        )
    )


def _ranking(session: Session, run_id: int) -> list[tuple[int, float]]:
    return [
        (int(b), float(p))
        for b, p in session.execute(
            select(ScoreSnapshot.backorder_id, ScoreSnapshot.priority)
            .where(ScoreSnapshot.run_id == run_id)
            .order_by(ScoreSnapshot.priority.desc(), ScoreSnapshot.backorder_id)
        ).all()
    ]


def _stored(session: Session, run_id: int) -> dict[int, tuple[object, ...]]:
    """What a run stored per backorder: risks, components, priority, flags, digests, inputs."""
    columns = (
        ScoreSnapshot.p_supplier_delay,
        ScoreSnapshot.p_sla_breach,
        ScoreSnapshot.p_churn,
        ScoreSnapshot.components,
        ScoreSnapshot.priority,
        ScoreSnapshot.degraded,
        ScoreSnapshot.flags,
        ScoreSnapshot.feature_digests,
        ScoreSnapshot.inputs,
    )
    rows = session.execute(
        select(ScoreSnapshot.backorder_id, *columns).where(ScoreSnapshot.run_id == run_id)
    ).all()
    return {int(r[0]): tuple(r[1:]) for r in rows}


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


@pytest.fixture
def scored(tiny_world: Engine) -> Session:
    session = make_sessionmaker(tiny_world)()
    _activate(session, NO_CHURN)
    return session


def test_every_open_backorder_is_scored_and_stored(scored: Session) -> None:
    session = scored
    active = _active_ids(session)
    assert active, "the tiny world has open backorders"
    with pytest.raises(ScoreSnapshotMissingError, match="has not been scored"):
        explain_backorder(session, active[0])
    result = score(session, explain_top=5)
    session.commit()

    assert result.scored == len(active) and result.degraded == 0
    assert set(result.model_versions) == {"allotment-sla-breach", "allotment-supplier-delay"}
    run = session.get(ScoreRun, result.run_id)
    assert run is not None and run.scored == len(active) and run.finished_at is not None
    snaps = session.scalars(select(ScoreSnapshot).where(ScoreSnapshot.run_id == run.id)).all()
    assert sorted(s.backorder_id for s in snaps) == active
    for s in snaps:
        assert set(s.components) == set(COMPONENTS)
        assert _close(sum(s.components.values()), s.priority)
        assert s.p_sla_breach is not None and 0 <= s.p_sla_breach <= 1
        assert s.components["churn"] == 0 and not s.degraded
        assert "allotment-sla-breach" in s.feature_digests
    # Backorders waiting on open supply carry the ETA P50/P90 of the delay model's quantiles.
    etas = [s.inputs["eta"] for s in snaps if "eta" in s.inputs]
    assert etas, "some open backorders wait on open PO lines"
    assert all(run.as_of is not None and e["p50"] > run.as_of.isoformat() for e in etas)
    assert all(e["p50"] <= e["p90"] for e in etas)
    stored = dict(session.execute(select(Backorder.id, Backorder.priority)).all())
    assert all(stored[s.backorder_id] == s.priority for s in snaps)
    # The top of the queue, highest first, and explained in advance.
    assert [t.priority for t in result.top] == sorted(
        (t.priority for t in result.top), reverse=True
    )
    assert result.top[0].priority == max(s.priority for s in snaps)
    assert result.explained > 0
    assert session.scalar(select(func.count()).select_from(ExplanationCache)) == result.explained
    session.close()


def test_rescoring_by_ids_touches_only_those_and_repeats_exactly(scored: Session) -> None:
    session = scored
    first = score(session, explain_top=0)
    active = _active_ids(session)
    before = dict(session.execute(select(Backorder.id, Backorder.priority)).all())
    target, other = active[0], active[-1]
    # Forget two priorities, and check that re-scoring them by id restores exactly those.
    for bo_id in (target, other):
        bo = session.get(Backorder, bo_id)
        assert bo is not None
        bo.priority = None
    session.flush()
    again = score(session, ids=[target, other], explain_top=0)
    assert again.trigger == "ids" and again.scored == 2
    nothing = score(session, ids=[99_999_999], explain_top=0)  # not an open backorder
    assert nothing.scored == 0 and nothing.top == []
    rows = session.scalars(
        select(ScoreSnapshot.backorder_id).where(ScoreSnapshot.run_id == again.run_id)
    )
    assert sorted(rows) == sorted([target, other])
    after = dict(session.execute(select(Backorder.id, Backorder.priority)).all())
    assert {k: v for k, v in after.items() if k not in (target, other)} == {
        k: v for k, v in before.items() if k not in (target, other)
    }
    # Same facts, same versions: the same scores, and a full run ranks exactly as before.
    assert after[target] == before[target] and after[other] == before[other]
    # Re-scoring reads only these backorders' facts, and stores exactly what a full run did.
    assert _stored(session, again.run_id) == {
        k: v for k, v in _stored(session, first.run_id).items() if k in (target, other)
    }
    third = score(session, explain_top=0)
    assert _ranking(session, third.run_id) == _ranking(session, first.run_id)
    assert [t.backorder_id for t in third.top] == [t.backorder_id for t in first.top]
    session.close()


def test_a_missing_champion_degrades_to_the_rule_terms_with_the_reason(
    tiny_world: Engine,
) -> None:
    session = make_sessionmaker(tiny_world)()
    _activate(session, shipped_policy("default"))  # weighs churn; tiny has no churn champion
    result = score(session, explain_top=0)
    assert result.scored > 0 and result.degraded == result.scored
    assert "allotment-churn" in result.unavailable
    assert "no champion" in result.unavailable["allotment-churn"]
    fallback = shipped_policy("default").blend.fallback_weights
    snaps = session.scalars(
        select(ScoreSnapshot).where(ScoreSnapshot.run_id == result.run_id)
    ).all()
    for s in snaps:
        assert s.degraded
        assert s.components["sla"] == s.components["churn"] == s.components["delay"] == 0
        problems = [(f["model"], f["problem"]) for f in s.flags]
        assert ("allotment-churn", "model_unavailable") in problems
        # Only the rule terms, with the fallback weights (margin weight 0 by default).
        assert s.components["value"] == pytest.approx(
            fallback.value * s.inputs["exposures"]["value"] * s.inputs["multiplier"]
        )
    assert all("degraded" in t.top_reason for t in result.top)
    session.close()


def test_static_tier_scores_without_models(tiny_world: Engine) -> None:
    session = make_sessionmaker(tiny_world)()
    _activate(session, shipped_policy("static-tier"))
    result = score(session, explain_top=5)
    assert result.degraded == 0 and result.model_versions == {} and result.explained == 0
    snaps = session.scalars(
        select(ScoreSnapshot).where(ScoreSnapshot.run_id == result.run_id)
    ).all()
    for s in snaps:
        assert {k for k, v in s.components.items() if v} <= {"value", "age"}
        assert s.p_sla_breach is None
    session.close()


def test_an_explanation_adds_up_and_is_cached(scored: Session) -> None:
    session = scored
    result = score(session, explain_top=0)
    top, second = result.top[0].backorder_id, result.top[1].backorder_id
    cached_before = session.scalar(select(func.count()).select_from(ExplanationCache))
    ex = explain_backorder(session, top)
    assert ex.policy_name == "no-churn" and not ex.degraded
    assert _close(sum(c.usd for c in ex.components), ex.priority)
    model_driven = [c for c in ex.components if c.parts]
    assert model_driven, "the SLA or delay component has feature parts"
    for c in model_driven:
        assert c.parts[-1].feature == BASELINE
        assert _close(sum(p.usd for p in c.parts), c.usd)
        assert all(p.reason for p in c.parts)
    assert not [f for f in ex.flags if f["problem"] == "feature_digest_mismatch"]
    cached = session.scalar(select(func.count()).select_from(ExplanationCache))
    assert cached is not None and cached_before is not None and cached > cached_before
    again = explain_backorder(session, top)  # from the cache this time
    assert [c.usd for c in again.components] == [c.usd for c in ex.components]
    assert session.scalar(select(func.count()).select_from(ExplanationCache)) == cached

    cx = contrast(session, top, second)
    assert cx.difference == pytest.approx(ex.priority - cx.b.priority)
    assert _close(sum(cx.components.values()), cx.difference)
    session.close()


def test_a_snapshot_older_than_the_data_explains_with_the_features_it_was_scored_with(
    scored: Session,
) -> None:
    # Scored 20 days before the latest facts: a miss recomputes the features at the snapshot's
    # day, market-wide 30-day rates included, so they match the digest that was scored.
    session = scored
    end = load_tables(session.connection(), truths=False).data_end
    as_of = day_to_timestamp(np.array([end - 20]))[0].date()
    result = score(session, as_of=as_of, explain_top=0)
    session.commit()
    assert result.scored > 0
    snaps = session.scalars(
        select(ScoreSnapshot).where(ScoreSnapshot.run_id == result.run_id)
    ).all()
    explained = 0
    for snap in snaps[:8]:
        ex = explain_backorder(session, snap.backorder_id)
        assert ex.as_of == as_of
        assert [f for f in ex.flags if f["problem"] == "feature_digest_mismatch"] == []
        explained += sum(1 for c in ex.components if c.parts)
    assert explained > 0, "some explained component has feature parts"
    session.close()

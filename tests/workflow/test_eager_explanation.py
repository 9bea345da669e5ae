"""End to end on the tiny world with trained champions: submitting a recommendation explains its
backorder into the cache, so the approver's view is read, not computed."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from allotment.db.engine import make_sessionmaker
from allotment.domain.models import Backorder, ExplanationCache
from allotment.policy import service as policy_service
from allotment.scoring.service import score
from allotment.workflow import approvals as wf
from tests.scoring.conftest import tiny_champions, tiny_world  # noqa: F401 (fixtures)
from tests.scoring.test_service import NO_CHURN
from tests.workflow.helpers import recommendation


def _cached(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ExplanationCache)) or 0)


def test_submission_puts_the_backorders_explanation_in_the_cache(tiny_world: Engine) -> None:  # noqa: F811
    session = make_sessionmaker(tiny_world)()
    policy_service.activate(session, document=NO_CHURN, actor="t", role="admin", reason="test")
    result = score(session, explain_top=0)  # nothing explained eagerly by the scoring run
    session.commit()
    backorder = session.get(Backorder, result.top[0].backorder_id)
    assert backorder is not None
    rec = recommendation(session, backorder=backorder)
    before = _cached(session)

    wf.submit(session, recommendation_id=rec.id, actor="pat", role="planner")

    stored = _cached(session)
    assert stored > before
    found, problem = wf.explain(session, backorder_id=backorder.id)
    assert problem is None and found is not None
    assert any(c["parts"] for c in found["components"]), "model-driven parts from the cache"
    assert _cached(session) == stored  # read from the cache, nothing computed again
    # The API sends it as JSON: every value serializes (no NaN tokens, no numpy scalars).
    json.dumps(TypeAdapter(dict[str, Any]).dump_python(found, mode="json"), allow_nan=False)
    session.rollback()
    session.close()

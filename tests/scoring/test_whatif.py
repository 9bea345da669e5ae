"""What-if: a draft policy on the backlog — re-ranked, movers, tier shift — writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import yaml  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from allotment.cli.main import app
from allotment.domain.enums import Tier
from allotment.domain.models import AuditRecord, Backorder, PolicyVersion, ScoreRun, ScoreSnapshot
from allotment.policy import service as policy_service
from allotment.policy.documents import shipped_policy, to_document
from allotment.scoring.service import exposures_of
from allotment.scoring.whatif import ranks, spearman, what_if
from tests import factories

runner = CliRunner()
AS_OF = date(2025, 2, 10)


def _backlog(session: Session) -> dict[str, Backorder]:
    """Three backorders: a big standard one, a small VIP one, a middling premium one."""
    out = {}
    backlog = (("big", Tier.STANDARD, 40), ("vip", Tier.VIP, 5), ("mid", Tier.PREMIUM, 8))
    for name, tier, qty in backlog:
        cust = factories.customer(session, tier=tier, name=name)
        out[name] = factories.backorder(session, customer_id=cust.id, quantity=qty)
    return out


def _scored(session: Session, bos: dict[str, Backorder]) -> None:
    version, _ = policy_service.active_policy(session)
    run = ScoreRun(trigger="test", policy_version_id=version.id, model_versions={}, as_of=AS_OF)
    session.add(run)
    session.flush()
    for bo in bos.values():
        session.add(
            ScoreSnapshot(
                run_id=run.id,
                backorder_id=bo.id,
                scored_at=datetime(2025, 2, 10, tzinfo=UTC),
                policy_version_id=version.id,
                model_versions={},
                p_sla_breach=0.5,
                p_churn=0.1,
                p_supplier_delay=None,
                components={},
                priority=0.0,
                degraded=False,
                flags=[],
                feature_digests={},
                inputs={},
            )
        )
    session.flush()


def test_ranks_and_spearman_by_hand() -> None:
    import numpy as np

    r = ranks(np.array([5.0, 9.0, 5.0]), np.array([30, 20, 10]))
    assert r.tolist() == [3, 1, 2]  # ties go to the older backorder (id 10)
    assert spearman(np.array([1, 2, 3]), np.array([1, 2, 3])) == 1.0
    assert spearman(np.array([1, 2, 3]), np.array([3, 2, 1])) == -1.0


def test_the_same_policy_moves_nobody(session: Session) -> None:
    _scored(session, _backlog(session))
    _, active = policy_service.active_policy(session)
    result = what_if(
        session,
        draft=active,
        active=policy_service.active_policy(session),
        exposures_of=exposures_of,
        as_of=AS_OF,
    )
    assert result.spearman == 1.0 and result.movers == []
    assert all(t.old_priority_share == t.new_priority_share for t in result.tiers)


def test_the_static_rule_puts_the_biggest_order_first_and_says_why(session: Session) -> None:
    bos = _backlog(session)
    _scored(session, bos)
    result = what_if(
        session,
        draft=shipped_policy("static-tier"),
        active=policy_service.active_policy(session),
        exposures_of=exposures_of,
        as_of=AS_OF,
        head=1,
    )
    # Default: the VIP's churn exposure (×5) leads. Static rule: value and age only, so the
    # standard customer's $20,000 line ($20,000 + 9 days × $50) beats the VIP's 5 × $2,950.
    assert [m.backorder_id for m in result.queue] == [bos["big"].id]
    big = next(m for m in result.movers if m.backorder_id == bos["big"].id)
    assert (big.old_rank, big.new_rank) == (3, 1)
    assert big.new_priority == 20_450.0
    assert big.reasons[0] == "value $2,000 → $20,000"
    assert big.reasons[1] == "churn $10,000 → $0"
    shift = {t.tier: t.head_value_shift for t in result.tiers}
    assert shift == {"vip": -2_500.0, "premium": 0.0, "standard": 20_000.0}
    assert result.spearman == -0.5  # ranks (1, 2, 3) -> (2, 3, 1)


def test_whatif_cli_writes_nothing(session: Session, tmp_path: Path) -> None:
    _scored(session, _backlog(session))
    session.commit()
    before = (
        session.scalar(select(func.count()).select_from(PolicyVersion)),
        session.scalar(select(func.count()).select_from(AuditRecord)),
        policy_service.active_policy(session)[0].id,
    )
    session.commit()  # release the test's own transaction before the command runs
    draft = tmp_path / "draft.yaml"
    draft.write_text(yaml.safe_dump(to_document(shipped_policy("static-tier"))))
    result = runner.invoke(app, ["policy", "whatif", str(draft), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["draft"] == "static-tier" and payload["backlog"] == 3
    # Same backlog as above: ranks (vip, mid, big) = (1, 2, 3) become (2, 3, 1).
    assert payload["spearman"] == -0.5
    assert payload["queue"][0]["number"] == payload["movers"][0]["number"]
    session.expire_all()
    after = (
        session.scalar(select(func.count()).select_from(PolicyVersion)),
        session.scalar(select(func.count()).select_from(AuditRecord)),
        policy_service.active_policy(session)[0].id,
    )
    assert after == before

"""The approval workflow, one business rule per test, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from allotment.db.engine import make_sessionmaker
from allotment.domain.enums import BackorderStatus, Tier
from allotment.domain.models import (
    Approval,
    AuditRecord,
    Backorder,
    PurchaseOrderLine,
    Recommendation,
)
from allotment.policy import service as policy_service
from allotment.policy.documents import shipped_policy
from allotment.workflow import approvals as wf
from allotment.workflow.errors import (
    ApprovalDecisionInvalidError,
    ApprovalOrderError,
    ApprovalRoleMismatchError,
    ApprovalSecondStepError,
    ApprovalSelfDecisionError,
    RecommendationTransitionError,
    RecommendationUpdateInvalidError,
)
from tests import factories
from tests.api.conftest import score
from tests.workflow.helpers import recommendation

NOW = datetime(2025, 2, 1, 10, 0, tzinfo=UTC)


def _submit(session: Session, amount: str = "5000.00", **kwargs: object) -> int:
    rec = recommendation(session, amount=amount, **kwargs)  # type: ignore[arg-type]
    wf.submit(session, recommendation_id=rec.id, actor="pat", role="planner", now=NOW)
    return rec.id


def _approve(session: Session, rec_id: int, actor: str, role: str, **kwargs: object) -> None:
    wf.decide(
        session,
        recommendation_id=rec_id,
        actor=actor,
        role=role,
        decision=kwargs.pop("decision", "approve"),  # type: ignore[arg-type]
        reason=kwargs.pop("reason", "fine"),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def _audit_actions(session: Session, rec_id: int) -> list[str]:
    return list(
        session.scalars(
            select(AuditRecord.action)
            .where(
                AuditRecord.entity_type == "recommendation", AuditRecord.entity_id == str(rec_id)
            )
            .order_by(AuditRecord.id)
        )
    )


# --- submission and routing ---------------------------------------------------------------


def test_amount_under_the_threshold_is_approved_at_once_with_a_notification_only_record(
    session: Session,
) -> None:
    rec_id = _submit(session, "999.99")
    rec = wf.chain(session, recommendation_id=rec_id).recommendation
    assert rec.status == "approved" and rec.awaiting_role is None
    (record,) = session.scalars(select(Approval).where(Approval.recommendation_id == rec_id))
    assert (record.decision, record.role, record.decided_by) == ("auto_approve", "auto", "system")
    assert "notification only: planner" in record.reason


def test_submission_records_the_requester_and_waits_for_the_first_step(session: Session) -> None:
    rec_id = _submit(session, "5000.00")
    rec = wf.chain(session, recommendation_id=rec_id).recommendation
    assert rec.status == "pending_approval"
    assert (rec.requested_by, rec.submitted_at) == ("pat", NOW)
    assert (rec.current_step, rec.awaiting_role) == (0, "supervisor")


def test_chain_has_each_level_from_supervisor_up_to_the_amounts_band(session: Session) -> None:
    rec_id = _submit(session, "50000.01")
    steps = wf.chain(session, recommendation_id=rec_id).steps
    assert [s.role for s in steps] == ["supervisor", "manager", "director"]
    assert [s.state for s in steps] == ["waiting", "pending", "pending"]


def test_a_vip_customer_adds_the_account_manager_last(session: Session) -> None:
    rec_id = _submit(session, "12500.00", tier=Tier.VIP)
    steps = wf.chain(session, recommendation_id=rec_id).steps
    assert [s.role for s in steps] == ["supervisor", "manager", "account_manager"]


def test_a_vip_customer_is_never_automatic(session: Session) -> None:
    rec_id = _submit(session, "10.00", tier=Tier.VIP)
    rec = wf.chain(session, recommendation_id=rec_id).recommendation
    assert rec.status == "pending_approval" and rec.awaiting_role == "account_manager"


def test_a_single_step_policy_routes_only_the_amounts_band(session: Session) -> None:
    base = shipped_policy("default")
    approvals = base.approvals.model_copy(update={"chain": "single"})
    single = base.model_copy(update={"name": "single", "approvals": approvals})
    policy_service.activate(session, document=single, actor="t", role="admin", reason="test")
    rec_id = _submit(session, "50000.01")
    rec = wf.chain(session, recommendation_id=rec_id).recommendation
    assert [s.role for s in wf.chain(session, recommendation_id=rec_id).steps] == ["director"]
    assert rec.route["policy_version_id"] == policy_service.active_policy(session)[0].id


def test_a_second_submission_for_the_same_customer_and_sku_routes_on_the_sum(
    session: Session,
) -> None:
    first = recommendation(session, amount="6000.00")
    bo = session.get(Backorder, first.backorder_id)
    second = recommendation(session, amount="6000.00", backorder=bo)
    wf.submit(session, recommendation_id=first.id, actor="pat", role="planner", now=NOW)
    later = NOW + timedelta(hours=23)
    wf.submit(session, recommendation_id=second.id, actor="pat", role="planner", now=later)
    assert second.routed_amount == Decimal("12000.00")
    assert wf.chain_roles(second) == ["supervisor", "manager"]
    assert wf.chain_roles(first) == ["supervisor"]


def test_a_submission_outside_the_window_routes_on_its_own_amount(session: Session) -> None:
    first = recommendation(session, amount="6000.00")
    bo = session.get(Backorder, first.backorder_id)
    second = recommendation(session, amount="6000.00", backorder=bo)
    wf.submit(session, recommendation_id=first.id, actor="pat", role="planner", now=NOW)
    later = NOW + timedelta(hours=24, seconds=1)
    wf.submit(session, recommendation_id=second.id, actor="pat", role="planner", now=later)
    assert second.routed_amount == Decimal("6000.00")


def test_only_a_proposed_recommendation_can_be_submitted(session: Session) -> None:
    rec_id = _submit(session)
    with pytest.raises(RecommendationTransitionError, match="pending_approval"):
        wf.submit(session, recommendation_id=rec_id, actor="pat", role="planner")


def test_a_recommendation_of_a_closed_backorder_cannot_be_submitted(session: Session) -> None:
    rec = recommendation(session)
    bo = session.get(Backorder, rec.backorder_id)
    assert bo is not None
    bo.status = BackorderStatus.CANCELLED
    with pytest.raises(RecommendationTransitionError, match="cancelled"):
        wf.submit(session, recommendation_id=rec.id, actor="pat", role="planner")


# --- who may decide -----------------------------------------------------------------------


def test_nobody_approves_a_recommendation_they_submitted(session: Session) -> None:
    rec_id = _submit(session)
    with pytest.raises(ApprovalSelfDecisionError):
        _approve(session, rec_id, "pat", "supervisor")


def test_nobody_approves_a_recommendation_they_created(session: Session) -> None:
    rec_id = _submit(session, created_by="sam")
    with pytest.raises(ApprovalSelfDecisionError):
        _approve(session, rec_id, "sam", "supervisor")


def test_one_person_does_not_fill_two_steps_of_a_chain(session: Session) -> None:
    rec_id = _submit(session, "12500.00")
    _approve(session, rec_id, "sue", "supervisor")
    # Sue was promoted in between: her new role is the next step's, but she already signed.
    with pytest.raises(ApprovalSecondStepError):
        _approve(session, rec_id, "sue", "manager")


def test_a_role_that_is_not_in_the_chain_is_refused(session: Session) -> None:
    rec_id = _submit(session)
    with pytest.raises(ApprovalRoleMismatchError):
        _approve(session, rec_id, "max", "manager")


def test_admin_has_no_override(session: Session) -> None:
    rec_id = _submit(session)
    with pytest.raises(ApprovalRoleMismatchError):
        _approve(session, rec_id, "root", "admin")


def test_a_later_step_cannot_decide_before_an_earlier_one(session: Session) -> None:
    rec_id = _submit(session, "12500.00")
    with pytest.raises(ApprovalOrderError, match="waits for supervisor"):
        _approve(session, rec_id, "max", "manager")


def test_a_decided_step_is_not_decided_again_by_someone_else(session: Session) -> None:
    rec_id = _submit(session, "12500.00")
    _approve(session, rec_id, "sue", "supervisor")
    with pytest.raises(ApprovalOrderError, match="already decided"):
        _approve(session, rec_id, "sid", "supervisor")


# --- decisions ----------------------------------------------------------------------------


def test_approve_moves_to_the_next_step_and_the_last_approves(session: Session) -> None:
    rec_id = _submit(session, "12500.00")
    _approve(session, rec_id, "sue", "supervisor")
    rec = wf.chain(session, recommendation_id=rec_id).recommendation
    assert (rec.status, rec.awaiting_role) == ("pending_approval", "manager")
    _approve(session, rec_id, "max", "manager")
    view = wf.chain(session, recommendation_id=rec_id)
    assert view.recommendation.status == "approved" and view.recommendation.awaiting_role is None
    assert [s.state for s in view.steps] == ["approved", "approved"]


def test_approve_with_conditions_records_the_conditions(session: Session) -> None:
    rec_id = _submit(session)
    _approve(
        session,
        rec_id,
        "sue",
        "supervisor",
        decision="approve_with_conditions",
        conditions="only if the supplier confirms air freight",
    )
    view = wf.chain(session, recommendation_id=rec_id)
    assert view.recommendation.status == "approved"
    assert view.conditions == ["only if the supplier confirms air freight"]


def test_approve_with_conditions_needs_the_conditions(session: Session) -> None:
    rec_id = _submit(session)
    with pytest.raises(ApprovalDecisionInvalidError, match="conditions"):
        _approve(session, rec_id, "sue", "supervisor", decision="approve_with_conditions")


def test_conditions_go_only_with_approve_with_conditions(session: Session) -> None:
    rec_id = _submit(session)
    with pytest.raises(ApprovalDecisionInvalidError, match="conditions"):
        _approve(session, rec_id, "sue", "supervisor", conditions="air freight")


def test_every_decision_needs_a_reason(session: Session) -> None:
    rec_id = _submit(session)
    with pytest.raises(ApprovalDecisionInvalidError, match="reason"):
        _approve(session, rec_id, "sue", "supervisor", decision="reject", reason="  ")


def test_an_unknown_decision_is_refused(session: Session) -> None:
    rec_id = _submit(session)
    with pytest.raises(ApprovalDecisionInvalidError, match="unknown decision"):
        _approve(session, rec_id, "sue", "supervisor", decision="maybe")


def test_reject_is_final(session: Session) -> None:
    rec_id = _submit(session, "12500.00")
    _approve(session, rec_id, "sue", "supervisor", decision="reject", reason="too dear")
    rec = wf.chain(session, recommendation_id=rec_id).recommendation
    assert rec.status == "rejected" and rec.awaiting_role is None
    with pytest.raises(RecommendationTransitionError):
        _approve(session, rec_id, "max", "manager")


def test_request_alternative_ends_the_chain_and_returns_it_to_proposed(session: Session) -> None:
    rec_id = _submit(session, "12500.00")
    _approve(session, rec_id, "sue", "supervisor")
    _approve(session, rec_id, "max", "manager", decision="request_alternative", reason="transfer")
    view = wf.chain(session, recommendation_id=rec_id)
    assert view.recommendation.status == "proposed" and view.steps == []
    assert [d.voided for d in view.decisions] == [True, True]
    assert view.decisions[-1].decision == "request_alternative"


def test_after_request_alternative_a_new_submission_starts_a_new_chain(session: Session) -> None:
    rec_id = _submit(session)
    _approve(session, rec_id, "sue", "supervisor", decision="request_alternative", reason="x")
    wf.submit(session, recommendation_id=rec_id, actor="pat", role="planner")
    _approve(session, rec_id, "sue", "supervisor")  # her earlier decision was voided
    assert wf.chain(session, recommendation_id=rec_id).recommendation.status == "approved"


# --- changes ------------------------------------------------------------------------------


def test_a_change_to_an_approved_recommendation_voids_its_approvals(session: Session) -> None:
    rec_id = _submit(session)
    _approve(session, rec_id, "sue", "supervisor")
    wf.update(session, recommendation_id=rec_id, actor="pat", role="planner", reason="4", units=4)
    view = wf.chain(session, recommendation_id=rec_id)
    assert view.recommendation.status == "pending_approval"
    assert view.recommendation.awaiting_role == "supervisor"
    assert [d.voided for d in view.decisions] == [True]
    _approve(session, rec_id, "sue", "supervisor")  # a new chain: she may sign again


def test_a_change_of_units_scales_the_money_and_reroutes(session: Session) -> None:
    rec_id = _submit(session, "15000.00")
    wf.update(session, recommendation_id=rec_id, actor="pat", role="planner", reason="5", units=5)
    rec = wf.chain(session, recommendation_id=rec_id).recommendation
    assert (rec.amount, rec.committed, rec.details["units"]) == (
        Decimal("7500.00"),
        Decimal("1500.00"),
        5,
    )
    assert wf.chain_roles(rec) == ["supervisor"]


def test_a_change_that_changes_nothing_is_refused(session: Session) -> None:
    rec_id = _submit(session)
    with pytest.raises(RecommendationUpdateInvalidError, match="nothing"):
        wf.update(
            session, recommendation_id=rec_id, actor="pat", role="planner", reason="x", units=10
        )


def test_units_beyond_the_open_quantity_are_refused(session: Session) -> None:
    rec_id = _submit(session)
    with pytest.raises(RecommendationUpdateInvalidError, match="open quantity"):
        wf.update(
            session, recommendation_id=rec_id, actor="pat", role="planner", reason="x", units=11
        )


def test_an_executed_recommendation_can_no_longer_change(session: Session) -> None:
    rec_id = _submit(session, "500.00")
    wf.execute(session, recommendation_id=rec_id, actor="pat", role="planner", reason="go")
    with pytest.raises(RecommendationTransitionError, match="executed"):
        wf.update(
            session, recommendation_id=rec_id, actor="pat", role="planner", reason="x", units=4
        )


# --- execution ----------------------------------------------------------------------------


def test_executing_ship_partial_partially_resolves_the_backorder(session: Session) -> None:
    rec_id = _submit(session, "500.00", kind="ship_partial", units=4)
    done = wf.execute(session, recommendation_id=rec_id, actor="pat", role="planner", reason="go")
    bo = session.get(Backorder, done.backorder_id)
    assert bo is not None
    assert (bo.status, bo.open_quantity) == (BackorderStatus.PARTIALLY_RESOLVED, 6)
    assert done.recommendation.status == "executed"
    assert (done.recommendation.executed_by, bo.history[-1].changed_by) == ("pat", "pat")


def test_executing_ship_partial_of_every_open_unit_resolves_the_backorder(
    session: Session,
) -> None:
    rec_id = _submit(session, "500.00", kind="ship_partial", units=10)
    done = wf.execute(session, recommendation_id=rec_id, actor="pat", role="planner", reason="go")
    assert done.status_after is BackorderStatus.RESOLVED


def test_executing_an_expedite_updates_the_eta_through_the_state_machine(
    session: Session,
) -> None:
    po = factories.po_line(session, current_eta=date(2025, 2, 20))
    cust = factories.customer(session)
    bo = factories.backorder(session, customer_id=cust.id, po_line_id=po.id)
    rec = recommendation(session, amount="500.00", backorder=bo, arrival=date(2025, 2, 8))
    rec.details = {**rec.details, "eta_after": "2025-02-08"}
    wf.submit(session, recommendation_id=rec.id, actor="pat", role="planner")
    done = wf.execute(session, recommendation_id=rec.id, actor="pat", role="planner", reason="go")
    assert (done.status_before, done.status_after) == (
        BackorderStatus.OPEN,
        BackorderStatus.ETA_UPDATED,
    )
    assert bo.expected_fulfillment_date == date(2025, 2, 8)
    line = session.get(PurchaseOrderLine, po.id)
    assert line is not None and line.current_eta == date(2025, 2, 8)
    assert line.eta_history[-1].previous_eta == date(2025, 2, 20)


def test_executing_an_arrival_keeps_a_partially_resolved_status(session: Session) -> None:
    rec_id = _submit(session, "500.00", kind="transfer")
    rec = wf.chain(session, recommendation_id=rec_id).recommendation
    bo = session.get(Backorder, rec.backorder_id)
    assert bo is not None
    bo.status = BackorderStatus.PARTIALLY_RESOLVED
    done = wf.execute(session, recommendation_id=rec_id, actor="pat", role="planner", reason="go")
    assert done.status_after is BackorderStatus.PARTIALLY_RESOLVED
    assert bo.expected_fulfillment_date == date(2025, 2, 5)


def test_executing_outreach_leaves_the_backorder_status_alone(session: Session) -> None:
    rec_id = _submit(session, "500.00", kind="outreach")
    done = wf.execute(session, recommendation_id=rec_id, actor="pat", role="planner", reason="go")
    assert done.status_before is done.status_after is BackorderStatus.OPEN
    assert done.recommendation.status == "executed"


def test_only_an_approved_recommendation_is_executed(session: Session) -> None:
    rec_id = _submit(session)
    with pytest.raises(RecommendationTransitionError, match="pending_approval"):
        wf.execute(session, recommendation_id=rec_id, actor="pat", role="planner", reason="go")


def test_execution_reports_the_conditions_of_its_approval(session: Session) -> None:
    rec_id = _submit(session)
    _approve(
        session, rec_id, "sue", "supervisor", decision="approve_with_conditions", conditions="air"
    )
    done = wf.execute(session, recommendation_id=rec_id, actor="pat", role="planner", reason="go")
    assert done.conditions == ["air"]


# --- inbox --------------------------------------------------------------------------------


def test_the_inbox_holds_what_waits_for_my_role_oldest_then_largest_first(
    session: Session,
) -> None:
    small = recommendation(session, amount="2000.00")
    large = recommendation(session, amount="9000.00")
    old = recommendation(session, amount="1500.00")
    for rec, at in ((small, NOW), (large, NOW), (old, NOW - timedelta(hours=1))):
        wf.submit(session, recommendation_id=rec.id, actor="pat", role="planner", now=at)
    got = wf.inbox(session, actor="sue", role="supervisor")
    assert [r.id for r in got] == [old.id, large.id, small.id]
    assert wf.inbox(session, actor="max", role="manager") == []


def test_the_inbox_leaves_out_my_own_requests(session: Session) -> None:
    rec = recommendation(session)
    wf.submit(session, recommendation_id=rec.id, actor="sue", role="supervisor")
    assert wf.inbox(session, actor="sue", role="supervisor") == []
    assert [r.id for r in wf.inbox(session, actor="sid", role="supervisor")] == [rec.id]


def test_the_inbox_leaves_out_chains_i_already_decided(session: Session) -> None:
    rec_id = _submit(session, "12500.00")
    _approve(session, rec_id, "sue", "supervisor")
    assert wf.inbox(session, actor="sue", role="manager") == []
    assert [r.id for r in wf.inbox(session, actor="max", role="manager")] == [rec_id]


# --- audit and explanation ----------------------------------------------------------------


def test_every_state_change_is_audited_with_model_and_policy_versions(session: Session) -> None:
    rec_id = _submit(session, "12500.00")
    _approve(session, rec_id, "sue", "supervisor")
    _approve(session, rec_id, "max", "manager")
    wf.execute(session, recommendation_id=rec_id, actor="pat", role="planner", reason="go")
    assert _audit_actions(session, rec_id) == [
        "recommendation.submitted",
        "recommendation.approve",
        "recommendation.approve",
        "recommendation.executed",
    ]
    policy_id = policy_service.active_policy(session)[0].id
    records = session.scalars(
        select(AuditRecord).where(
            AuditRecord.entity_type == "recommendation", AuditRecord.entity_id == str(rec_id)
        )
    ).all()
    for r in records:
        assert r.model_versions == {"allotment-sla-breach": 3}
        assert r.policy_version_id == policy_id
    assert records[0].after is not None and records[0].after["chain"] == ["supervisor", "manager"]


def test_submission_computes_the_backorders_explanation(session: Session) -> None:
    rec = recommendation(session)
    policy_service.active_policy(session)  # the snapshot is scored under the shipped default
    score(session, rec.backorder_id)
    wf.submit(session, recommendation_id=rec.id, actor="pat", role="planner")
    record = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "recommendation.submitted")
    ).one()
    assert record.after is not None and record.after["explanation"] == "computed"


def test_a_backorder_without_a_score_is_submitted_without_an_explanation(
    session: Session,
) -> None:
    rec_id = _submit(session)
    record = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "recommendation.submitted")
    ).one()
    assert record.after is not None
    assert record.after["explanation"].startswith("unavailable: backorder")
    assert wf.chain(session, recommendation_id=rec_id).recommendation.status == "pending_approval"


def test_concurrent_halves_of_a_split_see_each_other(engine: Engine, session: Session) -> None:
    first = recommendation(session, amount="6000.00")
    second = recommendation(
        session, amount="6000.00", backorder=session.get(Backorder, first.backorder_id)
    )
    policy_service.active_policy(session)
    session.commit()
    factory = make_sessionmaker(engine)
    routed = threading.Event()

    def submit_first() -> None:
        with factory() as s:
            wf.submit(s, recommendation_id=first.id, actor="pat", role="planner")
            routed.set()
            time.sleep(0.5)  # still uncommitted while the second submission starts
            s.commit()

    worker = threading.Thread(target=submit_first)
    worker.start()
    assert routed.wait(30)
    with factory() as s:
        wf.submit(s, recommendation_id=second.id, actor="pam", role="planner")
        s.commit()
    worker.join()
    session.expire_all()
    got = sorted(session.get(Recommendation, i).routed_amount for i in (first.id, second.id))  # type: ignore[union-attr]
    assert got == [Decimal("6000.00"), Decimal("12000.00")]


def test_an_explanation_that_cannot_be_stored_now_does_not_fail_the_request(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from allotment.scoring import explanation

    def busy(_session: Session, _backorder_id: int) -> None:
        raise OperationalError("INSERT INTO explanation_cache", {}, Exception("database is locked"))

    monkeypatch.setattr(explanation, "explain_backorder", busy)
    rec = recommendation(session)
    found, problem = wf.explain(session, backorder_id=rec.backorder_id)
    assert found is None and problem is not None and "database busy" in problem
    assert wf.chain(session, recommendation_id=rec.id).recommendation.status == "proposed"


# --- notifications --------------------------------------------------------------------------


def _outbox(session: Session, rec_id: int) -> list[tuple[str, str]]:
    from allotment.domain.models import Notification

    rows = session.scalars(select(Notification).order_by(Notification.id)).all()
    return sorted(
        {(n.kind, n.recipient) for n in rows if n.payload.get("recommendation_id") == rec_id}
    )


def test_an_automatic_approval_notifies_the_policys_roles_only(session: Session) -> None:
    rec_id = _submit(session, "999.99")
    assert _outbox(session, rec_id) == [("approval_auto", "role:planner")]


def test_each_step_that_starts_waiting_notifies_its_role_once(session: Session) -> None:
    rec_id = _submit(session, "10000.00")  # supervisor, then manager
    assert _outbox(session, rec_id) == [("approval_waiting", "role:supervisor")]
    _approve(session, rec_id, "sam", "supervisor")
    assert _outbox(session, rec_id) == [
        ("approval_waiting", "role:manager"),
        ("approval_waiting", "role:supervisor"),
    ]
    _approve(session, rec_id, "max", "manager")  # the last step: nobody else waits
    assert len(_outbox(session, rec_id)) == 2

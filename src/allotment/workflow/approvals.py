"""The recommendation approval workflow: submit, decide step by step, change, execute.

A flow driven by the recommendation's status (services flush; the caller commits):

================  =====================================  ===================================
from              by                                     to
================  =====================================  ===================================
proposed          :func:`submit`                         pending_approval (approved at once
                                                         under the automatic threshold)
pending_approval  :func:`decide` approve or              pending_approval (the next step)
                  approve_with_conditions, not the last
                  step
pending_approval  the same on the last step              approved
pending_approval  :func:`decide` reject                  rejected (final)
pending_approval  :func:`decide` request_alternative     proposed (chain voided)
pending_approval, :func:`update`                         pending_approval (approvals voided,
approved                                                 routed again)
approved          :func:`execute`                        executed (final)
================  =====================================  ===================================

Rules
-----
- **Route at submission.** The chain is computed when the recommendation is submitted, with the
  active policy (:func:`allotment.policy.routing.route`), on its own amount plus the amounts of
  the same customer and SKU's *submitted* recommendations (pending, approved, executed) that
  commit money, submitted within the policy's window before it (24 hours by default): splitting
  an action into two submissions does not dodge a threshold. Each level from supervisor up to
  the amount's band signs off in order (``approvals.chain: single``: only the band's role); a
  VIP customer adds the account manager last. Under the automatic threshold the recommendation
  is approved at once, with a notification-only ``auto_approve`` record naming who is notified.
- **Who decides.** The caller's role must be the role of the step that waits — exactly: no role
  stands in for another (a director does not fill a supervisor step) and ``admin`` has no
  override (deny by default; admin decides only a step the policy gives to ``admin``).
  Nobody decides a recommendation they requested (created or submitted); nobody fills two steps
  of one chain (also refused by the database); steps are decided in order.
- **Decisions**, each with a mandatory reason: ``approve`` (the next step waits, or the
  recommendation is approved after the last); ``approve_with_conditions`` (the same, with the
  conditions text, which execution reports); ``reject`` (final); ``request_alternative`` (the
  chain is voided and the recommendation goes back to ``proposed``, for its requester to change
  or replace it; a new submission starts a new chain).
- **A change voids approvals.** :func:`update` of a pending or approved recommendation voids its
  live decisions and submits the changed version again (re-routed on its new amount; the
  person who changed it is its requester now).
- **Eager explanation.** Entering ``pending_approval`` computes the backorder's explanation, so
  its feature attributions are in the explanation cache when an approver opens it.
- **Execution** (approved only) acts on the backorder through its state machine; see
  :func:`execute` for what each kind of action does.

Every state change appends an audit record with the recommendation's model versions and the
policy version its route came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from allotment.audit import service as audit
from allotment.db.types import to_money, utcnow
from allotment.domain import backorders as backorder_svc
from allotment.domain import repository as domain_repo
from allotment.domain.enums import BackorderStatus
from allotment.domain.lifecycle import TERMINAL_STATUSES, can_transition
from allotment.domain.models import Approval, Backorder, EtaChange, Recommendation
from allotment.errors import AppError
from allotment.notify import outbox
from allotment.policy import service as policy_service
from allotment.policy.routing import Route, route, usd
from allotment.recommend.actions import Kind
from allotment.workflow import repository as repo
from allotment.workflow.errors import (
    ApprovalDecisionInvalidError,
    ApprovalOrderError,
    ApprovalRoleMismatchError,
    ApprovalSecondStepError,
    ApprovalSelfDecisionError,
    RecommendationTransitionError,
    RecommendationUpdateInvalidError,
)

#: Who records the automatic approvals.
SYSTEM_ACTOR = "system"
#: Longest reason or conditions text (characters).
MAX_TEXT = 2000


class Decision(StrEnum):
    """What an approver can decide on the step that waits for them."""

    APPROVE = "approve"
    APPROVE_WITH_CONDITIONS = "approve_with_conditions"
    REJECT = "reject"
    REQUEST_ALTERNATIVE = "request_alternative"


#: The decision recorded for an amount under the automatic threshold.
AUTO_APPROVE = "auto_approve"
_APPROVING = frozenset({Decision.APPROVE, Decision.APPROVE_WITH_CONDITIONS})
#: Statuses a recommendation can still be changed in.
_CHANGEABLE = frozenset({"proposed", "pending_approval", "approved"})


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of a chain: its role, its state and its live decision (if any).

    ``state`` is ``approved``, ``rejected``, ``alternative_requested``, ``waiting`` (the step
    whose turn it is) or ``pending`` (a later step).
    """

    index: int
    role: str
    state: str
    decision: Approval | None = None


@dataclass(frozen=True)
class Chain:
    """A recommendation's current chain and every decision ever recorded on it (voided too)."""

    recommendation: Recommendation
    steps: list[Step]
    decisions: list[Approval]
    conditions: list[str] = field(default_factory=list)


def chain_roles(rec: Recommendation) -> list[str]:
    """The roles of the recommendation's chain, in order (empty: automatic or not routed)."""
    return [str(r) for r in (rec.route or {}).get("chain", [])]


def chain(session: Session, *, recommendation_id: int) -> Chain:
    """The recommendation with its chain's steps and all its decisions."""
    rec = repo.get(session=session, recommendation_id=recommendation_id)
    decisions = repo.decisions(session=session, recommendation_id=rec.id)
    live = {d.step_index: d for d in decisions if not d.voided and d.decision != AUTO_APPROVE}
    steps: list[Step] = []
    submitted = rec.status != "proposed" and rec.submitted_at is not None
    for i, role in enumerate(chain_roles(rec) if submitted else []):
        d = live.get(i)
        if d is not None:
            state = {
                Decision.REJECT.value: "rejected",
                Decision.REQUEST_ALTERNATIVE.value: "alternative_requested",
            }.get(d.decision, "approved")
        elif rec.status == "pending_approval" and rec.current_step == i:
            state = "waiting"
        else:
            state = "pending"
        steps.append(Step(index=i, role=role, state=state, decision=d))
    conditions = [
        d.conditions
        for d in decisions
        if not d.voided and d.decision == Decision.APPROVE_WITH_CONDITIONS and d.conditions
    ]
    return Chain(recommendation=rec, steps=steps, decisions=decisions, conditions=conditions)


def inbox(session: Session, *, actor: str, role: str, limit: int = 100) -> list[Recommendation]:
    """What waits for ``role`` that ``actor`` may decide: oldest submission, then largest first.

    Leaves out what ``actor`` requested (created or submitted) and chains where ``actor``
    already decided a step.
    """
    return repo.inbox(session=session, actor=actor, role=str(role), limit=limit)


# --- helpers ------------------------------------------------------------------------------


def _state(rec: Recommendation) -> dict[str, Any]:
    return {
        "status": rec.status,
        "kind": rec.kind,
        "units": (rec.details or {}).get("units"),
        "amount": rec.amount,
        "routed_amount": rec.routed_amount,
        "committed": rec.committed,
        "chain": chain_roles(rec),
        "current_step": rec.current_step,
        "awaiting_role": rec.awaiting_role,
        "requested_by": rec.requested_by,
    }


def _policy_version(rec: Recommendation) -> int | None:
    routed = (rec.route or {}).get("policy_version_id")
    return int(routed) if routed is not None else rec.policy_version_id


def _audit(
    session: Session,
    rec: Recommendation,
    *,
    actor: str,
    role: str | None,
    action: str,
    before: Mapping[str, Any] | None,
    reason: str | None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    audit.append(
        session,
        actor=actor,
        role=role,
        action=action,
        entity_type="recommendation",
        entity_id=rec.id,
        before=before,
        after={**_state(rec), **(extra or {})},
        reason=reason,
        model_versions=rec.model_versions or None,
        policy_version_id=_policy_version(rec),
    )


def _text(value: str | None, name: str, *, required: bool) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise ApprovalDecisionInvalidError(f"a decision needs a {name}", field=name)
        return None
    if len(text) > MAX_TEXT:
        raise ApprovalDecisionInvalidError(
            f"{name} is longer than {MAX_TEXT} characters", field=name
        )
    return text


def _requesters(rec: Recommendation) -> set[str]:
    return {p for p in (rec.created_by, rec.requested_by) if p}


def _route_now(session: Session, rec: Recommendation, now: datetime) -> Route:
    """The chain with the active policy, on the amount summed over the customer and SKU's
    submitted recommendations within the policy's window before ``now``."""
    version, policy = policy_service.active_policy(session)
    # Locking the customer serializes routing of their submissions (PostgreSQL; SQLite has one
    # writer anyway), so two concurrent halves of a split each see the other.
    tier = repo.customer_tier(session=session, customer_id=rec.customer_id, for_update=True)
    hours = policy.recommendations.split_window_hours
    counted: list[tuple[int, datetime, Decimal]] = []
    if rec.committed > 0:  # a decision that commits no money is not part of a split
        counted = repo.submitted_amounts(
            session=session,
            customer_id=rec.customer_id,
            product_id=rec.product_id,
            since=now - timedelta(hours=hours),
            until=now,
            exclude_id=rec.id,
        )
    total = rec.amount + sum((a for _, _, a in counted), Decimal("0"))
    found = route(policy, total, tier=tier, requested_by=rec.requested_by)
    reasons = found.reasons
    if counted:
        ids = ", ".join(str(i) for i, _, _ in counted)
        reasons = (
            f"{usd(rec.amount)} plus {usd(total - rec.amount)} of recommendation(s) {ids} for the"
            f" same customer and SKU submitted within {hours} h = {usd(total)} (splitting does"
            " not dodge a threshold)",
            *reasons,
        )
    rec.route = {
        **found.to_dict(),
        "reasons": list(reasons),
        "policy_version_id": version.id,
        "routed_at": now.isoformat(),
        "counted": [i for i, _, _ in counted],
    }
    rec.routed_amount = to_money(found.amount)
    return found


def explain(session: Session, *, backorder_id: int) -> tuple[dict[str, Any] | None, str | None]:
    """The backorder's explanation as plain data (filling the explanation cache on a miss), or
    None and why there is none (not scored, model unavailable...)."""
    from allotment.scoring.explanation import explain_backorder  # heavy: only when needed

    try:
        with session.begin_nested():
            return explain_backorder(session, backorder_id).to_dict(), None
    except AppError as exc:
        return None, exc.message
    except OperationalError:
        # SQLite: a read transaction (a GET) that must store a cache miss cannot become the
        # writer when another write committed after its snapshot. The request goes on without it.
        return None, "the explanation could not be stored now (database busy); ask again"


def _explain_eagerly(session: Session, backorder_id: int) -> str:
    """Compute the backorder's explanation now, so approvers find it cached; its outcome."""
    _found, problem = explain(session, backorder_id=backorder_id)
    return "computed" if problem is None else f"unavailable: {problem}"


def _enter_chain(
    session: Session, rec: Recommendation, *, actor: str, now: datetime
) -> tuple[Route, str | None]:
    """Route ``rec`` and start its chain (approved at once when automatic).

    Returns the route and the eager explanation's outcome (None when automatic).
    """
    rec.requested_by = actor
    rec.submitted_at = now
    found = _route_now(session, rec, now)
    if found.auto:
        notify = ", ".join(found.notify) or "nobody"
        repo.add_decision(
            session=session,
            row=Approval(
                recommendation_id=rec.id,
                step_index=0,
                role="auto",
                decided_by=SYSTEM_ACTOR,
                decision=AUTO_APPROVE,
                reason="; ".join(found.reasons) + f" (notification only: {notify})",
                decided_at=now,
                voided=False,
            ),
        )
        rec.status = "approved"
        rec.current_step = None
        rec.awaiting_role = None
        rec.decided_at = now
        session.flush()
        outbox.notify_auto_approved(session, rec, found.notify, now=now)
        return found, None
    rec.status = "pending_approval"
    rec.current_step = 0
    rec.awaiting_role = found.chain[0]
    rec.decided_at = None
    session.flush()
    _notify_waiting(session, rec, now=now)
    return found, _explain_eagerly(session, rec.backorder_id)


def _notify_waiting(session: Session, rec: Recommendation, *, now: datetime) -> None:
    """Tell the role whose step now waits; a new submission (its time) is a new round."""
    assert rec.awaiting_role is not None and rec.submitted_at is not None
    outbox.notify_approval_waiting(
        session,
        rec,
        rec.awaiting_role,
        approval_round=int(rec.submitted_at.timestamp()),
        now=now,
    )


def _active_backorder(session: Session, rec: Recommendation, *, lock: bool) -> Backorder:
    backorder = domain_repo.get_backorder(
        session=session, backorder_id=rec.backorder_id, for_update=lock
    )
    if backorder.status in TERMINAL_STATUSES:
        raise RecommendationTransitionError(
            f"recommendation {rec.id}: its backorder {backorder.number} is"
            f" {backorder.status.value}",
            field="recommendation_id",
        )
    return backorder


# --- flows --------------------------------------------------------------------------------


def submit(
    session: Session,
    *,
    recommendation_id: int,
    actor: str,
    role: str | None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Recommendation:
    """Submit a proposed recommendation for approval (``actor`` becomes its requester)."""
    now = now or utcnow()
    rec = repo.get(session=session, recommendation_id=recommendation_id, for_update=True)
    if rec.status != "proposed":
        raise RecommendationTransitionError(
            f"recommendation {rec.id} is {rec.status}; only a proposed one can be submitted",
            field="recommendation_id",
        )
    _active_backorder(session, rec, lock=False)
    why = _text(reason, "reason", required=False)
    before = _state(rec)
    found, explanation = _enter_chain(session, rec, actor=actor, now=now)
    _audit(
        session,
        rec,
        actor=actor,
        role=str(role) if role else None,
        action="recommendation.auto_approved" if found.auto else "recommendation.submitted",
        before=before,
        reason=why or "; ".join(found.reasons),
        extra={"notify": list(found.notify), "explanation": explanation},
    )
    return rec


def decide(
    session: Session,
    *,
    recommendation_id: int,
    actor: str,
    role: str,
    decision: Decision | str,
    reason: str,
    conditions: str | None = None,
    now: datetime | None = None,
) -> Recommendation:
    """Record ``actor``'s decision on the step that waits for their ``role``."""
    now = now or utcnow()
    try:
        kind = Decision(decision)
    except ValueError:
        allowed = ", ".join(d.value for d in Decision)
        raise ApprovalDecisionInvalidError(
            f"unknown decision {decision!r}; one of: {allowed}", field="decision"
        ) from None
    why = _text(reason, "reason", required=True)
    assert why is not None
    terms = _text(conditions, "conditions", required=kind is Decision.APPROVE_WITH_CONDITIONS)
    if terms is not None and kind is not Decision.APPROVE_WITH_CONDITIONS:
        raise ApprovalDecisionInvalidError(
            "conditions go with approve_with_conditions only", field="conditions"
        )
    rec = repo.get(session=session, recommendation_id=recommendation_id, for_update=True)
    if rec.status != "pending_approval" or rec.current_step is None:
        raise RecommendationTransitionError(
            f"recommendation {rec.id} is {rec.status}; only one pending approval can be decided",
            field="recommendation_id",
        )
    if actor in _requesters(rec):
        raise ApprovalSelfDecisionError(
            f"{actor} requested recommendation {rec.id} and may decide no step of it"
        )
    live = repo.decisions(session=session, recommendation_id=rec.id, live_only=True)
    mine = next((d for d in live if d.decided_by == actor), None)
    if mine is not None:
        raise ApprovalSecondStepError(
            f"{actor} already decided step {mine.step_index + 1} ({mine.role}) of recommendation"
            f" {rec.id}; one person fills one step of a chain"
        )
    roles = chain_roles(rec)
    role = str(role)
    if role not in roles:
        raise ApprovalRoleMismatchError(
            f"role {role!r} is not a step of recommendation {rec.id}'s chain ({' → '.join(roles)})"
        )
    index = roles.index(role)
    if index != rec.current_step:
        waiting = roles[rec.current_step]
        if index > rec.current_step:
            text = f"step {index + 1} ({role}) comes after step {rec.current_step + 1} ({waiting})"
        else:
            text = f"step {index + 1} ({role}) is already decided"
        raise ApprovalOrderError(
            f"recommendation {rec.id}: {text}; it waits for {waiting}", field="recommendation_id"
        )
    before = _state(rec)
    repo.add_decision(
        session=session,
        row=Approval(
            recommendation_id=rec.id,
            step_index=index,
            role=role,
            decided_by=actor,
            decision=kind.value,
            reason=why,
            conditions=terms,
            decided_at=now,
            voided=False,
        ),
    )
    if kind in _APPROVING:
        if index + 1 < len(roles):
            rec.current_step = index + 1
            rec.awaiting_role = roles[index + 1]
            session.flush()
            _notify_waiting(session, rec, now=now)
        else:
            rec.status = "approved"
            rec.current_step = None
            rec.awaiting_role = None
            rec.decided_at = now
    elif kind is Decision.REJECT:
        rec.status = "rejected"
        rec.current_step = None
        rec.awaiting_role = None
        rec.decided_at = now
    else:  # request_alternative: the chain ends; the requester changes or replaces it
        repo.void_live(session=session, recommendation_id=rec.id, at=now)
        rec.status = "proposed"
        rec.current_step = None
        rec.awaiting_role = None
        rec.decided_at = None
    session.flush()
    _audit(
        session,
        rec,
        actor=actor,
        role=role,
        action=f"recommendation.{kind.value}",
        before=before,
        reason=why,
        extra={"step": index, "conditions": terms},
    )
    return rec


def update(
    session: Session,
    *,
    recommendation_id: int,
    actor: str,
    role: str | None,
    reason: str,
    units: int | None = None,
    cost: Decimal | None = None,
    committed: Decimal | None = None,
    benefit: Decimal | None = None,
    now: datetime | None = None,
) -> Recommendation:
    """Change what a recommendation does; a submitted one loses its approvals and is routed again.

    ``units`` alone scales the money (cost, money committed, benefit) in proportion; money given
    explicitly (USD) is taken as is. The amount is recomputed (benefit + money committed). A
    pending or approved recommendation has its live decisions voided and enters a new chain with
    ``actor`` as its requester (approved at once if the new amount is automatic).
    """
    now = now or utcnow()
    why = (reason or "").strip()
    if not why:
        raise RecommendationUpdateInvalidError("a change needs a reason", field="reason")
    rec = repo.get(session=session, recommendation_id=recommendation_id, for_update=True)
    if rec.status not in _CHANGEABLE:
        raise RecommendationTransitionError(
            f"recommendation {rec.id} is {rec.status} and can no longer change",
            field="recommendation_id",
        )
    backorder = _active_backorder(session, rec, lock=False)
    details = dict(rec.details or {})
    old_units = int(details.get("units") or 0)
    new = {
        "cost": rec.cost if cost is None else to_money(cost),
        "committed": rec.committed if committed is None else to_money(committed),
        "benefit": rec.benefit if benefit is None else to_money(benefit),
    }
    for name, value in new.items():
        if value < 0:
            raise RecommendationUpdateInvalidError(f"{name} must not be negative", field=name)
    if units is not None:
        if not 1 <= units <= backorder.open_quantity:
            raise RecommendationUpdateInvalidError(
                f"units must be between 1 and the backorder's open quantity"
                f" {backorder.open_quantity}, got {units}",
                field="units",
            )
        if units != old_units and old_units > 0:
            share = Decimal(units) / Decimal(old_units)
            given = {"cost": cost, "committed": committed, "benefit": benefit}
            for name, value in list(new.items()):
                if given[name] is None:
                    new[name] = to_money(value * share)
        details["units"] = units
    changed = (units is not None and units != old_units) or any(
        new[name] != getattr(rec, name) for name in new
    )
    if not changed:
        raise RecommendationUpdateInvalidError(
            f"recommendation {rec.id}: nothing would change", field="units"
        )
    before = _state(rec)
    rec.cost, rec.committed, rec.benefit = new["cost"], new["committed"], new["benefit"]
    rec.net_value = to_money(rec.benefit - rec.cost)
    rec.amount = to_money(rec.benefit + rec.committed)
    rec.details = details
    resubmit = rec.status in ("pending_approval", "approved")
    voided = 0
    explanation: str | None = None
    found: Route | None = None
    if resubmit:
        voided = repo.void_live(session=session, recommendation_id=rec.id, at=now)
        found, explanation = _enter_chain(session, rec, actor=actor, now=now)
    session.flush()
    _audit(
        session,
        rec,
        actor=actor,
        role=str(role) if role else None,
        action="recommendation.updated",
        before=before,
        reason=why,
        extra={
            "approvals_voided": voided,
            "explanation": explanation,
            "notify": list(found.notify) if found else [],
        },
    )
    return rec


# --- execution ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Execution:
    """What executing a recommendation did to its backorder."""

    recommendation: Recommendation
    backorder_id: int
    status_before: BackorderStatus
    status_after: BackorderStatus
    effect: str
    conditions: list[str]


#: Kinds that bring the late units on a new date (the action's ``arrival``).
_ARRIVALS = frozenset({Kind.EXPEDITE, Kind.ALTERNATE_SUPPLIER, Kind.TRANSFER, Kind.SUBSTITUTE})


def _arrival(rec: Recommendation) -> date | None:
    raw = (rec.details or {}).get("eta_after") or (rec.details or {}).get("arrival")
    return date.fromisoformat(str(raw)) if raw else None


def _apply(
    session: Session,
    rec: Recommendation,
    backorder: Backorder,
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> str:
    """Act on the backorder for ``rec``'s kind; returns the effect in words."""
    kind = Kind(rec.kind)
    units = int((rec.details or {}).get("units") or 0)
    if kind is Kind.SHIP_PARTIAL:
        if not 1 <= units <= backorder.open_quantity:
            raise RecommendationTransitionError(
                f"recommendation {rec.id} ships {units} unit(s) but backorder {backorder.number}"
                f" has {backorder.open_quantity} open",
                field="recommendation_id",
            )
        backorder_svc.record_fulfilment(
            session, backorder=backorder, quantity=units, actor=actor, reason=reason, at=now
        )
        return f"shipped {units} unit(s) now; {backorder.open_quantity} still open"
    if kind in _ARRIVALS:
        arrival = _arrival(rec)
        if arrival is None:
            raise RecommendationTransitionError(
                f"recommendation {rec.id} ({kind.value}) has no arrival date to apply",
                field="recommendation_id",
            )
        text = f"{kind.value}: expected {backorder.expected_fulfillment_date} → {arrival}"
        if kind is Kind.EXPEDITE and backorder.po_line_id is not None:
            po_line = domain_repo.get_po_line(
                session=session, po_line_id=backorder.po_line_id, for_update=True
            )
            po_line.eta_history.append(
                EtaChange(
                    recorded_at=now,
                    previous_eta=po_line.current_eta,
                    new_eta=arrival,
                    reason=f"expedited (recommendation {rec.id}): {reason}",
                )
            )
            text += f"; PO line {po_line.id} ETA {po_line.current_eta} → {arrival}"
            po_line.current_eta = arrival
        backorder.expected_fulfillment_date = arrival
        if can_transition(backorder.status, BackorderStatus.ETA_UPDATED):
            backorder_svc.transition(
                session,
                backorder=backorder,
                to=BackorderStatus.ETA_UPDATED,
                actor=actor,
                reason=f"{text}: {reason}",
                at=now,
            )
        backorder.updated_at = now
        return text
    # Outreach and hold for complete move no stock: the backorder keeps its status.
    if kind is Kind.OUTREACH:
        return "customer outreach done; backorder status unchanged"
    return "holding for the complete quantity; backorder status unchanged"


def execute(
    session: Session,
    *,
    recommendation_id: int,
    actor: str,
    role: str | None,
    reason: str,
    now: datetime | None = None,
) -> Execution:
    """Carry out an approved recommendation through the backorder's state machine.

    By kind: ``ship_partial`` fulfils its units now (``partially_resolved``, or ``resolved``
    when nothing is left open); ``expedite`` records the PO line's new ETA and, like
    ``alternate_supplier``, ``transfer`` and ``substitute``, sets the backorder's expected date to
    the action's arrival and moves it to ``eta_updated`` where the lifecycle allows (a
    partially resolved or escalated backorder keeps its status, as for any ETA update);
    ``outreach`` and ``hold_for_complete`` leave the backorder's status as it is. The
    recommendation becomes ``executed``; conditions of its approvals are returned.
    """
    now = now or utcnow()
    why = (reason or "").strip()
    if not why:
        raise RecommendationUpdateInvalidError("an execution needs a reason", field="reason")
    rec = repo.get(session=session, recommendation_id=recommendation_id, for_update=True)
    if rec.status != "approved":
        raise RecommendationTransitionError(
            f"recommendation {rec.id} is {rec.status}; only an approved one can be executed",
            field="recommendation_id",
        )
    backorder = _active_backorder(session, rec, lock=True)
    before = _state(rec)
    bo_before = {
        "status": backorder.status.value,
        "open_quantity": backorder.open_quantity,
        "expected_fulfillment_date": backorder.expected_fulfillment_date,
    }
    status_before = backorder.status
    effect = _apply(session, rec, backorder, actor=actor, reason=why, now=now)
    rec.status = "executed"
    rec.executed_at = now
    rec.executed_by = actor
    session.flush()
    conditions = chain(session, recommendation_id=rec.id).conditions
    role_text = str(role) if role else None
    _audit(
        session,
        rec,
        actor=actor,
        role=role_text,
        action="recommendation.executed",
        before=before,
        reason=why,
        extra={"effect": effect, "conditions": conditions},
    )
    audit.append(
        session,
        actor=actor,
        role=role_text,
        action="backorder.recommendation_executed",
        entity_type="backorder",
        entity_id=backorder.id,
        before=bo_before,
        after={
            "status": backorder.status.value,
            "open_quantity": backorder.open_quantity,
            "expected_fulfillment_date": backorder.expected_fulfillment_date,
            "recommendation_id": rec.id,
        },
        reason=f"{effect}: {why}",
        model_versions=rec.model_versions or None,
        policy_version_id=_policy_version(rec),
    )
    return Execution(
        recommendation=rec,
        backorder_id=backorder.id,
        status_before=status_before,
        status_after=backorder.status,
        effect=effect,
        conditions=conditions,
    )

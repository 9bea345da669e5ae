"""Errors of the approval workflow (rendered by the service's one handler with their status)."""

from __future__ import annotations

from allotment.errors import AppError, NotFoundError


class RecommendationNotFoundError(NotFoundError):
    code = "recommendation_not_found"


class RecommendationTransitionError(AppError):
    """A workflow step the recommendation's status does not allow (submit twice, execute a
    rejected one, change an executed one...)."""

    status_code = 409
    code = "recommendation_transition_invalid"


class RecommendationUpdateInvalidError(AppError):
    """A change that cannot be made as asked (no change, units out of range, negative money)."""

    status_code = 422
    code = "recommendation_update_invalid"


class ApprovalDecisionInvalidError(AppError):
    """A decision without a reason, with conditions it cannot carry, or of an unknown kind."""

    status_code = 422
    code = "approval_decision_invalid"


class ApprovalSelfDecisionError(AppError):
    """The person who requested (created or submitted) a recommendation decides no step of it."""

    status_code = 403
    code = "approval_self_decision"


class ApprovalSecondStepError(AppError):
    """One person fills at most one step of a chain."""

    status_code = 403
    code = "approval_second_step"


class ApprovalRoleMismatchError(AppError):
    """The caller's role is not a step of the chain (no role stands in for another)."""

    status_code = 403
    code = "approval_role_mismatch"


class ApprovalOrderError(AppError):
    """The caller's step is not the one waiting: an earlier step has not decided yet, or theirs
    has already been decided by someone else."""

    status_code = 409
    code = "approval_out_of_order"

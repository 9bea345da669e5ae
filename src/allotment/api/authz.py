"""The authorization table: permission -> roles allowed. Deny by default.

Every route under ``/api/v1`` declares exactly one permission (``deps.require``); a route that
declares none is refused when the app is built, and the tests walk every route x method x role
against this table. Later route groups (events, approvals, allocations, ...) add their rows here.
"""

from __future__ import annotations

from collections.abc import Mapping

from allotment.users.roles import Role

R = Role
ALL_ROLES: frozenset[Role] = frozenset(Role)
# Roles that work backorders day to day (and so may open and move them).
OPERATIONS: frozenset[Role] = frozenset(
    {R.PLANNER, R.CUSTOMER_SERVICE, R.SUPERVISOR, R.MANAGER, R.DIRECTOR, R.ADMIN}
)

# Roles that decide how stock is used: commit allocations (customer service and sales call
# customers, data scientists study models; neither moves stock).
DECIDE: frozenset[Role] = frozenset({R.PLANNER, R.SUPERVISOR, R.MANAGER, R.DIRECTOR, R.ADMIN})
# Roles that talk to customers about their backorders.
CUSTOMER_FACING: frozenset[Role] = frozenset(
    {R.CUSTOMER_SERVICE, R.ACCOUNT_MANAGER, R.SUPERVISOR, R.MANAGER, R.DIRECTOR, R.ADMIN}
)
# Roles that answer for decisions (approve, escalate) and the administrators.
SUPERVISORS_AND_UP: frozenset[Role] = frozenset({R.SUPERVISOR, R.MANAGER, R.DIRECTOR, R.ADMIN})

AUTHORIZATION: Mapping[str, frozenset[Role]] = {
    "me:read": ALL_ROLES,
    "backorders:read": ALL_ROLES,
    "backorders:create": OPERATIONS,
    # Status changes follow supply and escalation: not customer service's or sales' to make.
    "backorders:transition": OPERATIONS - {R.CUSTOMER_SERVICE},
    "models:read": ALL_ROLES,
    # Command center, analytics, KPIs: read-only figures for everybody.
    "insights:read": ALL_ROLES,
    # Simulate and compare allocations (nothing written): deciders, and data scientists who
    # compare policies and models on money.
    "allocations:read": DECIDE | {R.DATA_SCIENTIST},
    # Commit a plan: it ships stock on hand and moves backorders.
    "allocations:commit": DECIDE,
    "policies:read": ALL_ROLES,
    "policies:whatif": DECIDE | {R.DATA_SCIENTIST},
    # The active policy sets every weight, threshold and approval route: admin only.
    "policies:activate": frozenset({R.ADMIN}),
    "outreach:read": OPERATIONS | {R.ACCOUNT_MANAGER},
    # Dashboard only (no API route). A draft changes nothing until an admin activates it: the
    # people who tune policies may write one.
    "policies:draft": frozenset({R.DIRECTOR, R.DATA_SCIENTIST, R.ADMIN}),
    # The trail shows every decision and who made it: the people who answer for decisions
    # (supervisor and up) and admins. Planners see a backorder's own history on its detail.
    "audit:read": SUPERVISORS_AND_UP,
    # The outbox holds messages to customers and roles: who runs the escalations reads it.
    "notifications:read": SUPERVISORS_AND_UP,
    # Recommendations and their approval chain (allotment.workflow.approvals). Who may decide a
    # given step is the workflow's rule (the step's exact role); this row is the outer gate: the
    # roles of the default chains. Admin administers; it approves nothing (deny by default).
    "recommendations:read": ALL_ROLES,
    "recommendations:submit": frozenset(
        {R.PLANNER, R.CUSTOMER_SERVICE, R.SUPERVISOR, R.MANAGER, R.DIRECTOR}
    ),
    "approvals:decide": frozenset({R.SUPERVISOR, R.MANAGER, R.DIRECTOR, R.ACCOUNT_MANAGER}),
    "recommendations:execute": frozenset({R.PLANNER, R.SUPERVISOR, R.MANAGER, R.DIRECTOR}),
    # ERP / WMS / CRM connectors (machine users with API keys) and the people who run them.
    "events:ingest": OPERATIONS,
    "outreach:contact": CUSTOMER_FACING,
}

# Routes that need no credentials (besides the OpenAPI documents).
PUBLIC_PATHS: frozenset[str] = frozenset({"/health", "/ready", "/api/v1/auth/token"})


def allowed(permission: str, role: Role | str) -> bool:
    """Whether ``role`` holds ``permission`` (unknown permission or role: no)."""
    roles = AUTHORIZATION.get(permission)
    return roles is not None and role in {r.value for r in roles}

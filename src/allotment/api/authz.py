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

AUTHORIZATION: Mapping[str, frozenset[Role]] = {
    "me:read": ALL_ROLES,
    "backorders:read": ALL_ROLES,
    "backorders:create": OPERATIONS,
    # Status changes follow supply and escalation: not customer service's or sales' to make.
    "backorders:transition": OPERATIONS - {R.CUSTOMER_SERVICE},
    "models:read": ALL_ROLES,
    # Dashboard pages over services that have no API route yet (the API's rows, when they come,
    # should reuse these names).
    "outreach:read": OPERATIONS | {R.ACCOUNT_MANAGER},
    "allocations:simulate": OPERATIONS - {R.CUSTOMER_SERVICE},
    # Committing ships stock and moves backorders: a supervisor's call or above, not a planner's.
    "allocations:commit": frozenset({R.SUPERVISOR, R.MANAGER, R.DIRECTOR, R.ADMIN}),
    "policies:read": ALL_ROLES,
    "policies:whatif": (OPERATIONS - {R.CUSTOMER_SERVICE}) | {R.DATA_SCIENTIST},
    "policies:draft": frozenset({R.DIRECTOR, R.DATA_SCIENTIST, R.ADMIN}),
    "policies:activate": frozenset({R.ADMIN}),
    # The approval workflow (the service checks the step's exact role on every decision).
    "recommendations:submit": OPERATIONS - {R.CUSTOMER_SERVICE},
    "recommendations:execute": OPERATIONS - {R.CUSTOMER_SERVICE},
    "approvals:read": frozenset({R.SUPERVISOR, R.MANAGER, R.DIRECTOR, R.ACCOUNT_MANAGER, R.ADMIN}),
    "approvals:decide": frozenset(
        {R.SUPERVISOR, R.MANAGER, R.DIRECTOR, R.ACCOUNT_MANAGER, R.ADMIN}
    ),
}

# Routes that need no credentials (besides the OpenAPI documents).
PUBLIC_PATHS: frozenset[str] = frozenset({"/health", "/ready", "/api/v1/auth/token"})


def allowed(permission: str, role: Role | str) -> bool:
    """Whether ``role`` holds ``permission`` (unknown permission or role: no)."""
    roles = AUTHORIZATION.get(permission)
    return roles is not None and role in {r.value for r in roles}

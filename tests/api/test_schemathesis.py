"""schemathesis against the app's own OpenAPI: every operation, with and without credentials.

Every operation the app exposes is generated from its schema (so route groups added later are
covered without touching this file), called in-process through ASGI (no network) as an admin,
and validated by schemathesis' checks (no 5xx, documented status codes, response bodies and
content types that match the schema, auth that is really required). The same case is sent
without credentials: a protected operation must answer 401, a public one must not fail.
A few backorders make the reads return real rows rather than empty lists.

One check is left out: ``positive_data_acceptance`` (a request valid by the schema must get a
2xx/404/409). The API has rules OpenAPI cannot state - a period whose end follows its start,
opaque cursors only the list itself issues, a backorder quantity within the line's open quantity
- and answers them with a 422 that names the field; every other check runs.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.orm import Session

from allotment.api import authz
from allotment.api.app import api_routes
from allotment.domain.enums import Tier
from allotment.policy import service as policy_service
from allotment.users.roles import Role
from tests import factories
from tests.api.conftest import bearer, score
from tests.insights.helpers import at, backorder

#: Examples per operation (positive and negative together): ~30 operations x 2 backends take
#: about two minutes on a shared two-core machine.
EXAMPLES = 10
#: Seconds a call may take: the first one to read the model registry creates its tables (about
#: 10 s on a shared machine); the default 10 s would fail a correct request.
TIMEOUT = 120
CREDENTIALS = frozenset({"authorization", "x-api-key"})


@pytest.fixture
def api_schema(app: FastAPI, session: Session) -> Any:
    admin = factories.user(session, role=Role.ADMIN)
    policy_service.active_policy(session)  # scored with a valid policy document
    vip = factories.customer(session, tier=Tier.VIP)
    first = backorder(session, created=at(date(2025, 2, 18)), customer_id=vip.id)
    backorder(session, created=at(date(2025, 2, 1)), quantity=3)
    score(session, first.id, p_churn=0.5, p_sla_breach=0.5)
    session.commit()
    app.state.test_admin_headers = bearer(app, admin)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the app mounts (read from its routers, no app built)."""
    return sorted(
        (method, path)
        for path, route in api_routes()
        for method in route.methods or ()
        if method != "HEAD"
    )


@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_conforms_with_and_without_credentials(
    api_schema: Any, app: FastAPI, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    admin = app.state.test_admin_headers

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
    )
    def check(case: Any) -> None:
        # Generated credentials (random keys and tokens) would turn every call into a 401.
        case.headers = {
            k: v for k, v in (case.headers or {}).items() if k.lower() not in CREDENTIALS
        }
        case.call_and_validate(
            headers=admin, excluded_checks=[positive_data_acceptance], timeout=TIMEOUT
        )
        anonymous = case.call(timeout=TIMEOUT)
        where = (case.method, case.formatted_path, anonymous.text)
        assert anonymous.status_code < 500, where
        if path not in authz.PUBLIC_PATHS:
            assert anonymous.status_code == 401, where

    check()

"""No request yields a 5xx: arbitrary parameters and bodies get a 2xx or a shaped 4xx."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import assert_error

URL = "/api/v1/backorders"
FILTERS = [
    "status", "tier", "priority_min", "priority_max", "age", "supplier_id", "product_id",
    "category", "location_id", "value_min", "value_max", "churn_risk_min",
    "sla_breach_risk_min", "fillable_elsewhere", "sort", "order", "limit", "cursor",
]  # fmt: skip
BODY_FIELDS = [
    "order_line_id", "quantity", "reason", "root_cause", "po_line_id",
    "expected_fulfillment_date", "status", "to",
]  # fmt: skip

scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["NaN", "-Infinity", "1e400", "\x00", "open", "vip", "15+", "2025-01-01"]),
)
json_values = st.recursive(
    st.none() | st.booleans() | scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5
)
fuzz = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _ok(response: Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail", "field"}, body


@fuzz
@given(params=st.dictionaries(st.sampled_from(FILTERS), scalars.map(str), max_size=5))
def test_list_never_fails_on_any_parameters(
    client: TestClient, headers: dict[str, str], params: dict[str, str]
) -> None:
    _ok(client.get(URL, params=params, headers=headers))


@fuzz
@given(
    body=st.dictionaries(st.sampled_from(BODY_FIELDS) | st.text(max_size=8), json_values),
    target=scalars.map(str),
)
def test_writes_never_fail_on_any_body(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], target: str
) -> None:
    target = quote(target, safe="") or "0"
    # Python's json writes NaN/Infinity tokens: invalid JSON, which is the point.
    raw = json.dumps(body).encode()
    post = {"content": raw, "headers": {**headers, "Content-Type": "application/json"}}
    _ok(client.post(URL, **post))  # type: ignore[arg-type]
    _ok(client.post(f"{URL}/{target}/transition", **post))  # type: ignore[arg-type]
    _ok(client.get(f"{URL}/{target}", headers=headers))


def test_known_edge_inputs_are_refused_cleanly(client: TestClient, headers: dict[str, str]) -> None:
    for params, field in [
        ({"supplier_id": str(2**40)}, "supplier_id"),
        ({"value_min": "1e400"}, "value_min"),
        ({"priority_min": "nan"}, "priority_min"),
        ({"category": "valves\x00"}, "category"),
    ]:
        response = client.get(URL, params=params, headers=headers)
        assert response.status_code == 422, (params, response.text)
        assert_error(response.json(), "RequestValidationError", field)
    body = {"order_line_id": 1, "quantity": 1, "reason": "nul\x00"}
    assert_error(
        client.post(URL, json=body, headers=headers).json(), "RequestValidationError", "reason"
    )
    sign_in = client.post("/api/v1/auth/token", data={"username": "a\x00b", "password": "x"})
    assert sign_in.status_code == 401

"""POST /api/v1/events: one event or a batch, idempotent, per-event results."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allotment.domain.models import Backorder, IngestedEvent, InventoryPosition
from allotment.users import service as users
from allotment.users.roles import Role
from tests import factories
from tests.api.conftest import assert_error, bearer
from tests.events.helpers import T0, small

URL = "/api/v1/events"
NO_RESCORE = URL + "?rescore=false"


def _delay(world: Any, event_id: str = "po-delay-1", eta: str = "2025-02-01") -> dict[str, Any]:
    return {
        "type": "po_delayed",
        "event_id": event_id,
        "occurred_at": T0.isoformat(),
        "po_number": world.po_number,
        "line_no": 1,
        "new_eta": eta,
    }


def _adjust(world: Any, event_id: str, delta: int) -> dict[str, Any]:
    return {
        "type": "inventory_adjusted",
        "event_id": event_id,
        "occurred_at": T0.isoformat(),
        "sku": world.product.sku,
        "location_code": world.location.code,
        "delta": delta,
    }


def test_one_event_is_applied_and_a_resend_returns_the_first_result(
    client: TestClient, headers: dict[str, str], session: Session
) -> None:
    w = small(session)
    first = client.post(NO_RESCORE, json=_delay(w), headers=headers)
    assert first.status_code == 200, first.text
    (result,) = first.json()["results"]
    assert result["status"] == "applied"
    assert len(result["touched"]["backorders_created"]) == 1
    again = client.post(NO_RESCORE, json=_delay(w), headers=headers)
    (repeat,) = again.json()["results"]
    assert (repeat["status"], repeat["first_status"]) == ("duplicate", "applied")
    assert repeat["touched"] == result["touched"]
    assert session.scalar(select(func.count()).select_from(Backorder)) == 1


def test_a_batch_returns_one_result_per_event_in_order(
    client: TestClient, headers: dict[str, str], session: Session
) -> None:
    w = small(session)
    body = {
        "events": [
            _adjust(w, "a-1", 5),
            _adjust(w, "a-2", -50),  # would leave -45 on hand: parked
            _adjust(w, "a-3", 2),
        ]
    }
    got = client.post(NO_RESCORE, json=body, headers=headers).json()
    assert [r["status"] for r in got["results"]] == ["applied", "parked", "applied"]
    assert got["results"][1]["error"].startswith("InventoryAdjustmentError")
    assert got["counts"] == {"applied": 2, "duplicate": 0, "stale": 0, "parked": 1}
    assert session.scalars(select(InventoryPosition.on_hand)).one() == 7


def test_the_same_id_with_another_payload_is_a_422_naming_the_field(
    client: TestClient, headers: dict[str, str], session: Session
) -> None:
    w = small(session)
    client.post(NO_RESCORE, json=_delay(w), headers=headers)
    single = client.post(NO_RESCORE, json=_delay(w, eta="2025-03-01"), headers=headers)
    assert single.status_code == 422
    assert_error(single.json(), "EventPayloadMismatchError", "new_eta")
    batch = client.post(
        NO_RESCORE,
        json={"events": [_adjust(w, "x-1", 1), _delay(w, eta="2025-03-01")]},
        headers=headers,
    )
    assert batch.status_code == 422
    assert_error(batch.json(), "EventPayloadMismatchError", "events.1.new_eta")
    assert session.scalar(select(func.count()).select_from(InventoryPosition)) == 0


def test_unknown_fields_and_types_are_refused_by_name(
    client: TestClient, headers: dict[str, str], session: Session
) -> None:
    w = small(session)
    extra = client.post(URL, json={"events": [{**_delay(w), "status": "x"}]}, headers=headers)
    assert extra.status_code == 422
    assert_error(extra.json(), "RequestValidationError", "events.0.status")
    unknown = client.post(URL, json={**_delay(w), "type": "po_teleported"}, headers=headers)
    assert unknown.status_code == 422
    naive = client.post(
        URL, json={**_delay(w), "occurred_at": "2025-01-20T09:00:00"}, headers=headers
    )
    assert_error(naive.json(), "RequestValidationError", "occurred_at")
    assert session.scalar(select(func.count()).select_from(IngestedEvent)) == 0


def test_a_batch_over_1000_events_is_refused(
    client: TestClient, headers: dict[str, str], session: Session
) -> None:
    w = small(session)
    body = {"events": [_adjust(w, f"b-{i}", 1) for i in range(1001)]}
    got = client.post(URL, json=body, headers=headers)
    assert got.status_code == 422
    assert_error(got.json(), "RequestValidationError", "events")


def test_concurrent_duplicates_apply_once(app: FastAPI, session: Session) -> None:
    w = small(session)
    user = factories.user(session, role=Role.PLANNER)
    session.commit()
    auth = bearer(app, user)
    body = _adjust(w, "same-id", 3)
    barrier = threading.Barrier(2)
    statuses: list[str] = []

    def send() -> None:
        with TestClient(app) as c:
            barrier.wait()
            got = c.post(NO_RESCORE, json=body, headers=auth)
            statuses.append(got.json()["results"][0]["status"])

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == ["applied", "duplicate"]
    session.expire_all()
    assert session.scalars(select(InventoryPosition.on_hand)).one() == 3


def test_an_erp_connector_ingests_with_an_api_key(client: TestClient, session: Session) -> None:
    w = small(session)
    users.create_user(session, name="erp", role=Role.PLANNER, password=None)
    key = users.issue_api_key(session, name="erp").secret
    session.commit()
    got = client.post(NO_RESCORE, json=_adjust(w, "k-1", 2), headers={"X-API-Key": key})
    assert got.status_code == 200, got.text
    row = session.scalars(select(IngestedEvent)).one()
    assert row.received_by == "erp"


def test_touched_backorders_are_rescored_after_the_response(
    client: TestClient, headers: dict[str, str], session: Session
) -> None:
    w = small(session)
    got = client.post(URL, json=_delay(w), headers=headers).json()
    assert (got["rescore"], got["rescore_queued"]) == ("scheduled", 1)
    session.expire_all()
    (bo,) = session.scalars(select(Backorder)).all()
    assert bo.priority is not None  # the background drain ran (TestClient waits for it)

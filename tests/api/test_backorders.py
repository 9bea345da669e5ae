"""The backorder routes on a small hand-checkable backlog, on both backends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from allotment.db.types import utcnow
from allotment.domain import backorders as svc
from allotment.domain.enums import BackorderStatus, Tier
from allotment.domain.models import AuditRecord, Backorder, InventoryPosition
from tests import factories
from tests.api.conftest import assert_error, score

URL = "/api/v1/backorders"


@dataclass
class Backlog:
    b1: Backorder
    b2: Backorder
    b3: Backorder
    ids: dict[str, int]


def _backorder(session: Session, *, days_old: int, **line: Any) -> Backorder:
    order_line = factories.order_line(session, **line)
    return svc.create_manual(
        session,
        order_line_id=order_line.id,
        quantity=order_line.quantity,
        actor="test",
        reason="short",
        po_line_id=line.get("po_line_id"),
        at=utcnow() - timedelta(days=days_old, hours=1),
    )


def _backlog(session: Session) -> Backlog:
    """Three backorders:

    ====  ========  =====  ======  =====  ========  =====  =====  =====  ==================
    id    tier      prod   cat     USD    priority  churn  sla    age    fillable elsewhere
    ====  ========  =====  ======  =====  ========  =====  =====  =====  ==================
    b1    vip       p1     valves  5000   300       0.8    0.2    2      yes (15 free at B)
    b2    standard  p2     pumps   500    100       0.1    0.9    10     no (stock only at A)
    b3    standard  p1     valves  10000  (none)    -      -      20     no (needs 20)
    ====  ========  =====  ======  =====  ========  =====  =====  =====  ==================
    """
    s1, s2 = factories.supplier(session), factories.supplier(session)
    loc_a, loc_b = factories.location(session), factories.location(session)
    p1 = factories.product(session, category="valves", supplier_id=s1.id)
    p2 = factories.product(session, category="pumps", supplier_id=s2.id)
    vip = factories.customer(session, tier=Tier.VIP)
    std = factories.customer(session, tier=Tier.STANDARD)
    # b1 waits on a PO from s2: the PO's supplier, not the product's usual one, counts.
    po = factories.po_line(session, product_id=p1.id, supplier_id=s2.id, location_id=loc_a.id)
    b1 = _backorder(
        session,
        days_old=2,
        customer_id=vip.id,
        product_id=p1.id,
        location_id=loc_a.id,
        quantity=10,
        po_line_id=po.id,
    )
    b2 = _backorder(
        session,
        days_old=10,
        customer_id=std.id,
        product_id=p2.id,
        location_id=loc_a.id,
        quantity=5,
        unit_price=Decimal("100.00"),
    )
    b3 = _backorder(
        session,
        days_old=20,
        customer_id=std.id,
        product_id=p1.id,
        location_id=loc_a.id,
        quantity=20,
    )
    svc.transition(session, backorder=b2, to=BackorderStatus.ESCALATED, actor="t", reason="late")
    b1.priority, b2.priority = 300.0, 100.0
    score(session, b1.id, p_churn=0.8, p_sla_breach=0.2, priority=300.0)
    score(session, b2.id, p_churn=0.5, p_sla_breach=0.5, priority=90.0)  # superseded
    score(session, b2.id, p_churn=0.1, p_sla_breach=0.9, priority=100.0)
    session.add_all(
        [
            InventoryPosition(product_id=p1.id, location_id=loc_b.id, on_hand=25, committed=10),
            InventoryPosition(product_id=p2.id, location_id=loc_a.id, on_hand=100, committed=0),
        ]
    )
    session.commit()
    ids = {"s1": s1.id, "s2": s2.id, "p1": p1.id, "p2": p2.id, "a": loc_a.id, "b": loc_b.id}
    return Backlog(b1=b1, b2=b2, b3=b3, ids=ids)


def _numbers(client: TestClient, headers: dict[str, str], **params: Any) -> set[str]:
    response = client.get(URL, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {item["number"] for item in response.json()["items"]}


def test_each_filter_selects_the_rows_it_names(
    client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    bl = _backlog(session)
    b1, b2, b3 = bl.b1.number, bl.b2.number, bl.b3.number

    def q(**params: Any) -> set[str]:
        return _numbers(client, headers, **params)

    assert q() == {b1, b2, b3}
    assert q(status="escalated") == {b2}
    # Resolved backorders leave the default queue and come back on request.
    resolved = factories.backorder(session, status=BackorderStatus.RESOLVED)
    session.commit()
    assert q() == {b1, b2, b3}
    assert q(status="resolved") == {resolved.number}
    assert q(status=["open", "escalated"]) == {b1, b2, b3}
    assert q(tier="vip") == {b1}
    assert q(priority_min=150) == {b1}
    assert q(priority_min=50, priority_max=150) == {b2}
    assert q(age="0-7") == {b1}
    assert q(age="8-14") == {b2}
    assert q(age="15+") == {b3}
    assert q(supplier_id=bl.ids["s2"]) == {b1, b2}
    assert q(supplier_id=bl.ids["s1"]) == {b3}
    assert q(product_id=bl.ids["p2"]) == {b2}
    assert q(category="valves") == {b1, b3}
    assert q(location_id=bl.ids["a"]) == {b1, b2, b3}
    assert q(location_id=bl.ids["b"]) == set()
    assert q(value_min="5000") == {b1, b3}
    assert q(value_min="400.50", value_max="5000.00") == {b1, b2}
    assert q(churn_risk_min=0.5) == {b1}  # b2's older 0.5 does not count: latest only
    assert q(sla_breach_risk_min=0.9) == {b2}
    assert q(fillable_elsewhere=True) == {b1}
    assert q(fillable_elsewhere=False) == {b2, b3}
    assert q(tier="standard", category="valves") == {b3}

    items = client.get(URL, headers=headers).json()["items"]
    assert [i["number"] for i in items] == [b1, b2, b3]  # priority descending, unscored last
    first = items[0]
    assert first["p_churn"] == 0.8 and first["value_at_risk"] == "5000.00"
    assert first["customer"]["tier"] == "vip" and first["age_days"] == 2
    assert first["supplier_id"] == bl.ids["s2"]
    bad = client.get(URL, params={"churn_risk_min": 2}, headers=headers)
    assert bad.status_code == 422
    assert_error(bad.json(), "RequestValidationError", "churn_risk_min")
    bad = client.get(URL, params={"status": "lost"}, headers=headers)
    assert_error(bad.json(), "RequestValidationError", "status.0")


def _walk(client: TestClient, headers: dict[str, str], limit: int, **params: Any) -> list[int]:
    seen: list[int] = []
    cursor = None
    for _ in range(100):
        page_params = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get(URL, params=page_params, headers=headers).json()
        assert len(body["items"]) <= limit
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


def test_cursor_pages_walk_every_row_once_in_order(
    client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    rows: list[Backorder] = []
    for i in range(13):
        b = _backorder(session, days_old=i % 5, quantity=1 + i % 3)
        b.priority = None if i % 6 == 0 else float(i % 4 * 10)  # ties and unscored rows
        rows.append(b)
    session.commit()

    def expect(key: Any, reverse: bool) -> list[int]:
        return [b.id for b in sorted(rows, key=lambda b: (key(b), b.id), reverse=reverse)]

    def prio(b: Backorder) -> float:
        return b.priority if b.priority is not None else -1e300

    assert _walk(client, headers, 4) == expect(prio, True)
    assert _walk(client, headers, 5, sort="priority", order="asc") == expect(prio, False)
    assert _walk(client, headers, 3, sort="value", order="asc") == expect(
        lambda b: b.value_at_risk, False
    )
    assert _walk(client, headers, 4, sort="age") == expect(lambda b: b.created_at, False)
    assert _walk(client, headers, 4, sort="created") == expect(lambda b: b.created_at, True)

    # Rows inserted mid-walk neither shift nor repeat the pages still to come.
    first = client.get(URL, params={"limit": 4}, headers=headers).json()
    newcomer = _backorder(session, days_old=0)
    newcomer.priority = 1000.0
    session.commit()
    rest = _walk(client, headers, 4, cursor=first["next_cursor"])
    assert [i["id"] for i in first["items"]] + rest == expect(prio, True)

    too_big = client.get(URL, params={"limit": 201}, headers=headers)
    assert too_big.status_code == 422
    assert_error(too_big.json(), "RequestValidationError", "limit")
    for cursor in ("garbage!", first["next_cursor"]):
        wrong = client.get(URL, params={"cursor": cursor, "sort": "value"}, headers=headers)
        assert wrong.status_code == 422
        assert_error(wrong.json(), "CursorInvalidError", "cursor")


def test_detail_shows_lines_history_and_latest_score(
    client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    bl = _backlog(session)
    body = client.get(f"{URL}/{bl.b2.id}", headers=headers).json()
    assert body["number"] == bl.b2.number and body["status"] == "escalated"
    assert body["order_line"]["unit_price"] == "100.00" and body["po_line"] is None
    assert [(h["from_status"], h["to_status"]) for h in body["history"]] == [
        (None, "open"),
        ("open", "escalated"),
    ]
    score_ = body["score"]
    assert score_["priority"] == 100.0 and score_["p_sla_breach"] == 0.9
    assert sum(score_["components"].values()) == score_["priority"]
    assert score_["policy"]["name"] == "test" and score_["model_versions"]
    with_po = client.get(f"{URL}/{bl.b1.id}", headers=headers).json()
    assert with_po["po_line"]["supplier_id"] == bl.ids["s2"]
    assert client.get(f"{URL}/{bl.b3.id}", headers=headers).json()["score"] is None
    missing = client.get(f"{URL}/999999", headers=headers)
    assert missing.status_code == 404
    assert_error(missing.json(), "NotFoundError", "backorder_id")
    not_int = client.get(f"{URL}/abc", headers=headers)
    assert_error(not_int.json(), "RequestValidationError", "backorder_id")


def test_a_backorder_opened_through_the_api_tells_the_policys_roles_once(
    client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    from allotment.domain.models import Notification

    line = factories.order_line(session, quantity=8)
    session.commit()
    body = {"order_line_id": line.id, "quantity": 3, "reason": "customer called"}
    refused = client.post(URL, json={**body, "quantity": 9}, headers=headers)
    assert refused.status_code == 422
    assert session.query(Notification).count() == 0  # rolled back with the refused request
    session.rollback()
    made = client.post(URL, json=body, headers=headers).json()
    client.post(URL, json=body, headers=headers)  # refused: the line has an active backorder
    rows = session.query(Notification).order_by(Notification.id).all()
    assert [(n.kind, n.recipient) for n in rows] == [
        ("backorder_created", "role:customer_service"),
        ("backorder_created", "role:sales_rep"),
    ]
    assert made["number"] in rows[0].subject and "3 x SKU-" in rows[0].subject


def test_manual_creation_and_transitions(
    app: FastAPI, client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    line = factories.order_line(session, quantity=8)
    session.commit()
    body = {"order_line_id": line.id, "quantity": 3, "reason": "customer called"}
    for extra in ("status", "priority", "approvals", "value_at_risk"):
        refused = client.post(URL, json={**body, extra: "x"}, headers=headers)
        assert refused.status_code == 422
        assert_error(refused.json(), "RequestValidationError", extra)
        assert "set by the server" in refused.json()["detail"]
    unknown = client.post(URL, json={**body, "colour": "red"}, headers=headers)
    assert_error(unknown.json(), "RequestValidationError", "colour")
    too_many = client.post(URL, json={**body, "quantity": 9}, headers=headers)
    assert too_many.status_code == 422
    assert_error(too_many.json(), "BackorderCreationError", "quantity")
    assert session.query(Backorder).count() == 0  # nothing half-written
    session.rollback()  # end the read: on SQLite it holds the write lock

    created = client.post(URL, json=body, headers=headers)
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["status"] == "open" and made["value_at_risk"] == "1500.00"
    assert made["created_by"].startswith("user")
    again = client.post(URL, json=body, headers=headers)
    assert_error(again.json(), "BackorderCreationError", "order_line_id")

    move = f"{URL}/{made['id']}/transition"
    resolved = client.post(move, json={"to": "resolved", "reason": "shipped"}, headers=headers)
    assert resolved.status_code == 200 and resolved.json()["closed_at"] is not None
    back = client.post(move, json={"to": "open", "reason": "oops"}, headers=headers)
    assert back.status_code == 409
    assert_error(back.json(), "BackorderTransitionError")
    assert "final" in back.json()["detail"]
    trail = [(r.action, r.actor, r.role) for r in session.query(AuditRecord).order_by("id")]
    assert trail == [
        ("backorder.created", made["created_by"], "planner"),
        ("backorder.transitioned", made["created_by"], "planner"),
    ]  # the refused transition left no record
    session.rollback()
    blank = client.post(move, json={"to": "cancelled", "reason": ""}, headers=headers)
    assert_error(blank.json(), "RequestValidationError", "reason")

    huge = client.post(
        URL, json={**body, "reason": "x" * (app.state.settings.max_body_bytes + 1)}, headers=headers
    )
    assert huge.status_code == 413
    assert_error(huge.json(), "ContentTooLarge")
    not_json = client.post(
        URL, content=b"{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    assert not_json.json()["error"] == "RequestValidationError"

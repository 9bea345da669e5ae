"""GET /api/v1/audit (filters, pages), /audit/verify (tampering named), /notifications."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from allotment import audit
from allotment.domain.models import AuditRecord, User
from allotment.notify import outbox
from allotment.users.roles import Role
from tests import factories
from tests.api.conftest import assert_error, bearer
from tests.audit.lift import append_only_lifted
from tests.notify.helpers import ETA_CONTEXT


def _supervisor(app: FastAPI, session: Session) -> dict[str, str]:
    user: User = factories.user(session, role=Role.SUPERVISOR)
    session.commit()
    return bearer(app, user)


def _trail(session: Session) -> list[AuditRecord]:
    specs = [
        ("alice", "backorder.created", "backorder", "1"),
        ("bob", "backorder.escalated", "backorder", "1"),
        ("alice", "backorder.created", "backorder", "2"),
        ("carol", "policy.activated", "policy_version", "1"),
        ("bob", "backorder.escalated", "backorder", "2"),
    ]
    records = [
        audit.append(
            session,
            actor=actor,
            role="planner",
            action=action,
            entity_type=kind,
            entity_id=ident,
            before=None,
            after={"n": i},
            reason=f"step {i}",
        )
        for i, (actor, action, kind, ident) in enumerate(specs)
    ]
    session.commit()
    return records


def _ids(response: object) -> list[int]:
    return [item["id"] for item in response.json()["items"]]  # type: ignore[attr-defined]


def test_audit_records_are_filtered_by_entity_actor_action_and_time(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    headers = _supervisor(app, session)
    r = _trail(session)
    get = lambda **q: client.get("/api/v1/audit", params=q, headers=headers)  # noqa: E731
    assert _ids(get()) == [x.id for x in reversed(r)]
    assert _ids(get(entity_type="backorder", entity_id="1")) == [r[1].id, r[0].id]
    assert _ids(get(actor="bob")) == [r[4].id, r[1].id]
    assert _ids(get(action="backorder.created")) == [r[2].id, r[0].id]
    assert _ids(get(entity_type="policy_version")) == [r[3].id]
    assert _ids(get(actor="nobody")) == []
    # since is inclusive, until exclusive; naive times are UTC.
    since = r[2].occurred_at.isoformat()
    until = r[3].occurred_at.replace(tzinfo=None).isoformat()
    assert _ids(get(since=since)) == [r[4].id, r[3].id, r[2].id]
    assert _ids(get(since=since, until=until)) == [r[2].id]
    body = get(entity_id="2", action="policy.activated").json()
    assert body["items"] == []
    item = get(actor="carol").json()["items"][0]
    assert item["after"] == {"n": 3} and item["prev_hash"] == r[2].hash
    assert item["hash"] == r[3].hash and item["reason"] == "step 3"


def test_audit_pages_follow_the_cursor_and_the_page_size_is_bounded(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    headers = _supervisor(app, session)
    r = _trail(session)
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/audit", params=params, headers=headers).json()
        seen.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [[r[4].id, r[3].id], [r[2].id, r[1].id], [r[0].id]]

    too_big = client.get("/api/v1/audit", params={"limit": 201}, headers=headers)
    assert too_big.status_code == 422
    assert_error(too_big.json(), "PageSizeInvalidError", "limit")
    bad = client.get("/api/v1/audit", params={"cursor": "bm90IG1pbmU"}, headers=headers)
    assert bad.status_code == 422
    assert_error(bad.json(), "CursorInvalidError", "cursor")
    backwards = client.get(
        "/api/v1/audit",
        params={"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        headers=headers,
    )
    assert backwards.status_code == 422
    assert_error(backwards.json(), "AuditQueryInvalidError", "until")
    overflow = client.get(
        "/api/v1/audit", params={"since": "9999-12-31T23:00:00-05:00"}, headers=headers
    )
    assert overflow.status_code == 422
    assert_error(overflow.json(), "AuditQueryInvalidError", "since")


def test_verify_reports_ok_then_the_first_tampered_record(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    headers = _supervisor(app, session)
    r = _trail(session)
    ok = client.get("/api/v1/audit/verify", headers=headers)
    assert ok.status_code == 200
    assert ok.json() == {
        "ok": True,
        "checked": 5,
        "first_broken_id": None,
        "problem": None,
        "detail": "",
        "head_hash": r[4].hash,
    }

    def tamper_then_verify(*statements: str) -> dict[str, object]:
        with append_only_lifted(session.connection()):
            for sql in statements:
                session.execute(text(sql))
        session.commit()
        body: dict[str, object] = client.get("/api/v1/audit/verify", headers=headers).json()
        return body

    edited = tamper_then_verify(f"UPDATE audit_records SET actor = 'mallory' WHERE id = {r[2].id}")
    assert (edited["ok"], edited["first_broken_id"], edited["problem"]) == (
        False,
        r[2].id,
        "hash_mismatch",
    )
    assert edited["head_hash"] == r[1].hash and edited["checked"] == 3
    deleted = tamper_then_verify(
        f"UPDATE audit_records SET actor = 'alice' WHERE id = {r[2].id}",
        f"DELETE FROM audit_records WHERE id = {r[1].id}",
    )
    assert (deleted["ok"], deleted["first_broken_id"], deleted["problem"]) == (
        False,
        r[2].id,
        "broken_link",
    )


def test_audit_and_outbox_are_for_supervisors_and_up(
    app: FastAPI, client: TestClient, session: Session, headers: dict[str, str]
) -> None:
    # ``headers`` is a planner's: the decisions trail is not theirs to read.
    for path in ("/api/v1/audit", "/api/v1/audit/verify", "/api/v1/notifications"):
        denied = client.get(path, headers=headers)
        assert denied.status_code == 403, path
        assert_error(denied.json(), "PermissionDeniedError")


def test_the_outbox_lists_newest_first_by_status_and_channel(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    headers = _supervisor(app, session)
    context = ETA_CONTEXT
    ids = []
    for key in ("a", "b"):
        ids += outbox.enqueue(
            session,
            kind="customer_eta_change",
            recipient="customer:C-1",
            context=context,
            dedupe_key=key,
            channels=("log", "webhook"),
        )
    session.commit()
    from allotment.domain.models import Notification

    dead = session.get(Notification, ids[1])
    assert dead is not None
    dead.status, dead.last_error = "dead", "webhook answered HTTP 500"
    session.commit()

    everything = client.get("/api/v1/notifications", headers=headers).json()
    assert [i["id"] for i in everything["items"]] == list(reversed(ids))
    got = client.get("/api/v1/notifications", params={"status": "dead"}, headers=headers).json()
    assert [(i["id"], i["channel"], i["last_error"]) for i in got["items"]] == [
        (ids[1], "webhook", "webhook answered HTTP 500")
    ]
    by_channel = client.get(
        "/api/v1/notifications", params={"channel": "log", "limit": 1}, headers=headers
    ).json()
    assert [i["id"] for i in by_channel["items"]] == [ids[2]]
    following = client.get(
        "/api/v1/notifications",
        params={"channel": "log", "limit": 1, "cursor": by_channel["next_cursor"]},
        headers=headers,
    ).json()
    assert [i["id"] for i in following["items"]] == [ids[0]]
    assert following["next_cursor"] is None
    unknown = client.get("/api/v1/notifications", params={"status": "lost"}, headers=headers)
    assert unknown.status_code == 422
    assert_error(unknown.json(), "RequestValidationError", "status")


AUDIT_PARAMS = ["entity_type", "entity_id", "actor", "action", "since", "until", "limit", "cursor"]
OUTBOX_PARAMS = ["status", "kind", "channel", "limit", "cursor"]
odd = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        ["\x00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "2026-01-01", "dead"]
    ),
    st.datetimes().map(lambda d: d.isoformat()),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    audit_params=st.dictionaries(st.sampled_from(AUDIT_PARAMS), odd, max_size=4),
    outbox_params=st.dictionaries(st.sampled_from(OUTBOX_PARAMS), odd, max_size=3),
)
def test_no_parameters_make_the_audit_or_outbox_lists_fail(
    app: FastAPI,
    client: TestClient,
    session: Session,
    audit_params: dict[str, str],
    outbox_params: dict[str, str],
) -> None:
    headers = _admin_headers(app, session)
    for path, params in (("/api/v1/audit", audit_params), ("/api/v1/notifications", outbox_params)):
        response = client.get(path, params=params, headers=headers)
        assert response.status_code < 500, (path, params, response.text)
        assert response.status_code not in (401, 403), response.text
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "detail", "field"}


def _admin_headers(app: FastAPI, session: Session) -> dict[str, str]:
    """An admin's credentials (made once per database: every fuzzed example shares it)."""
    user = session.scalars(select(User).where(User.role == Role.ADMIN)).first()
    if user is None:
        user = factories.user(session, role=Role.ADMIN)
        session.commit()
    return bearer(app, user)

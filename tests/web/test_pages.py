"""The dashboard's pages without a browser: who sees what, reading without JavaScript, errors."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allotment.api import authz
from allotment.domain.enums import PolicyStatus
from allotment.domain.models import AllocationRun, AuditRecord, PolicyVersion, Recommendation
from allotment.users.roles import Role
from allotment.web.deps import WebUser, page
from allotment.web.mount import PageUnprotectedError, check_protected, page_permission, web_routes
from allotment.web.render import NAV
from tests.web.conftest import sign_in
from tests.web.world import PASSWORD, World

GET_PAGES = {
    "/dashboard": "insights:read",
    "/dashboard/queue": "backorders:read",
    "/dashboard/backorders/{id}": "backorders:read",
    "/dashboard/outreach": "outreach:read",
    "/dashboard/allocation": "allocations:read",
    "/dashboard/policy": "policies:read",
    "/dashboard/models": "models:read",
}


def csrf(client: TestClient, path: str = "/dashboard/policy") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found, path
    return found.group(1)


def text_of(html: str) -> str:
    """What a reader without JavaScript sees: the text, scripts left out."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_every_page_answers_each_role_as_the_table_says(
    app: FastAPI, world: World, session: Session
) -> None:
    for role in Role:
        client = sign_in(app, world.users[role.value])
        for path, permission in GET_PAGES.items():
            got = client.get(path.replace("{id}", str(world.backorders[0].id)))
            if role in authz.AUTHORIZATION[permission]:
                assert got.status_code == 200, (role, path, got.text[:300])
            else:
                assert got.status_code == 403, (role, path)
                assert "Not allowed" in got.text and "may not" in got.text


def post_login(
    client: TestClient,
    name: str,
    *,
    password: str = PASSWORD,
    csrf_token: str | None = "from-cookie",
    next_: str | None = None,
) -> Any:
    """POST the sign-in form as a browser would (the login CSRF cookie's value by default)."""
    if "allotment_login_csrf" not in client.cookies:
        client.get("/login")
    data = {"username": name, "password": password}
    if csrf_token == "from-cookie":
        data["csrf_token"] = client.cookies["allotment_login_csrf"]
    elif csrf_token is not None:
        data["csrf_token"] = csrf_token
    if next_ is not None:
        data["next"] = next_
    return client.post("/login", data=data, follow_redirects=False)


def test_a_browser_without_a_session_is_sent_to_sign_in_and_back(
    app: FastAPI, world: World
) -> None:
    client = TestClient(app)
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 303 and home.headers["location"] == "/dashboard"
    got = client.get("/dashboard/queue?tier=vip", follow_redirects=False)
    assert got.status_code == 303
    assert got.headers["location"] == "/login?next=%2Fdashboard%2Fqueue%3Ftier%3Dvip"
    form = client.get(got.headers["location"])
    assert 'name="next" value="/dashboard/queue?tier=vip"' in form.text
    signed = post_login(client, world.users["planner"], next_="/dashboard/queue?tier=vip")
    assert signed.headers["location"] == "/dashboard/queue?tier=vip"


def test_the_session_cookie_is_httponly_and_samesite_strict(app: FastAPI, world: World) -> None:
    got = post_login(TestClient(app), world.users["planner"])
    cookie = next(
        c for c in got.headers.get_list("set-cookie") if c.startswith("allotment_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie


def test_sign_in_refuses_a_wrong_password_in_words(app: FastAPI, world: World) -> None:
    client = TestClient(app)
    got = post_login(client, world.users["planner"], password="not the password at all")
    assert got.status_code == 401
    assert "do not match an active user" in got.text
    assert "allotment_session" not in client.cookies


@pytest.mark.parametrize("token", [None, "forged"])
def test_sign_in_without_the_forms_csrf_token_is_refused(
    app: FastAPI, world: World, token: str | None
) -> None:
    client = TestClient(app)
    got = post_login(client, world.users["planner"], csrf_token=token)
    assert got.status_code == 403 and "The sign-in form had expired" in got.text
    assert "allotment_session" not in client.cookies


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_sign_in_never_redirects_off_the_site(app: FastAPI, world: World, target: str) -> None:
    got = post_login(TestClient(app), world.users["planner"], next_=target)
    assert got.headers["location"] == "/"


def test_a_form_without_the_sessions_csrf_token_changes_nothing(
    app: FastAPI, world: World, session: Session
) -> None:
    client = sign_in(app, world.users["supervisor"])
    for token in (None, "forged"):
        data = {"reason": "ship it"} | ({"csrf_token": token} if token else {})
        got = client.post("/dashboard/allocation/commit", data=data)
        assert got.status_code == 403
        assert "did not come from this site" in got.text
    assert session.scalar(select(func.count()).select_from(AllocationRun)) == 0


def test_navigation_shows_only_the_sections_the_role_may_open(app: FastAPI, world: World) -> None:
    for role in (Role.CUSTOMER_SERVICE, Role.DATA_SCIENTIST, Role.PLANNER):
        html = sign_in(app, world.users[role.value]).get("/dashboard").text
        nav = html[html.index('<nav aria-label="Sections">') : html.index("</nav>")]
        for item in NAV:
            assert (f'href="{item.href}"' in nav) == (role in authz.AUTHORIZATION[item.permission])


def test_reading_pages_carry_their_numbers_in_the_html(app: FastAPI, world: World) -> None:
    """Without JavaScript: the queue rows and the whole waterfall are in the page itself."""
    client = sign_in(app, world.users["planner"])
    queue = text_of(client.get("/dashboard/queue").text)
    for bo in world.backorders:
        assert bo.number in queue
    top = world.backorders[0]
    html = client.get(f"/dashboard/backorders/{top.id}").text
    components = [
        float(v) for v in re.findall(r'class="component-row"[^>]*data-usd="([^"]+)"', html)
    ]
    assert len(components) == 6
    assert sum(components) == pytest.approx(world.priorities[top.id], abs=0.01)
    assert f"${world.priorities[top.id]:,.0f}" in text_of(html)
    assert "Supplier on-time rate, last 90 days" in text_of(html)


def test_the_premium_vip_churn_fillable_view_lists_exactly_those(
    app: FastAPI, world: World
) -> None:
    client = sign_in(app, world.users["planner"])
    html = client.get(
        "/dashboard/queue?tier=premium&tier=vip&churn_risk_min=50&fillable_elsewhere=on"
    ).text
    shown = set(re.findall(r'data-backorder="([^"]+)"', html))
    assert shown == {world.backorders[0].number, world.backorders[1].number}


def test_a_filter_that_is_not_a_number_is_explained_not_raised(app: FastAPI, world: World) -> None:
    client = sign_in(app, world.users["planner"])
    got = client.get("/dashboard/queue?churn_risk_min=lots")
    assert got.status_code == 200
    assert "Churn risk at least: &#39;lots&#39; is not a percentage from 0 to 100" in got.text


def test_the_queue_pages_with_a_cursor(app: FastAPI, world: World) -> None:
    client = sign_in(app, world.users["planner"])
    first = client.get("/dashboard/queue?limit=25").text
    assert "Next page" not in first  # six rows fit on one page of 25
    page_one = re.findall(r'data-backorder="([^"]+)"', first)
    assert len(page_one) == len(world.backorders)
    priorities = [float(p) for p in re.findall(r'data-priority="([^"]+)"', first)]
    assert priorities == sorted(priorities, reverse=True)
    broken = client.get("/dashboard/queue?cursor=not-a-cursor")
    assert "the cursor is not one this list issued" in broken.text


def test_errors_are_pages_in_words_never_a_stack_trace(app: FastAPI, world: World) -> None:
    client = sign_in(app, world.users["planner"])
    missing = client.get("/dashboard/backorders/999999")
    assert missing.status_code == 404
    assert "There is no backorder with id 999999." in missing.text
    unknown = client.get("/dashboard/nothing-here")
    assert unknown.status_code == 404 and "There is no such page" in unknown.text
    bad = client.get("/dashboard/backorders/not-a-number")
    assert bad.status_code == 422 and "Backorder id: Input should be a valid integer" in bad.text
    for got in (missing, unknown, bad):
        assert got.headers["content-type"].startswith("text/html")
        assert "Traceback" not in got.text


def test_an_unexpected_failure_is_a_page_that_says_so(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from allotment.web.routes import outreach

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(outreach, "outreach_list", boom)
    client = sign_in(app, world.users["planner"], raise_server_exceptions=False)
    got = client.get("/dashboard/outreach")
    assert got.status_code == 500
    assert "Something went wrong on our side" in got.text
    assert "secret internals" not in got.text and "Traceback" not in got.text


def test_the_api_keeps_its_json_errors(app: FastAPI, world: World) -> None:
    got = TestClient(app).get("/api/v1/backorders/1")
    assert got.status_code == 401
    assert got.json()["error"] == "CredentialsInvalidError"


def test_comparing_says_which_ranks_higher_and_by_what(app: FastAPI, world: World) -> None:
    client = sign_in(app, world.users["planner"])
    a, b = world.backorders[3], world.backorders[0]
    got = client.get(f"/dashboard/backorders/{a.id}/compare?vs={b.number}")
    assert got.status_code == 200
    assert f"Why {b.number} ranks above {a.number}" in got.text
    nope = client.get(f"/dashboard/backorders/{a.id}/compare?vs=BO-NOPE")
    assert nope.status_code == 404 and "no backorder &#39;BO-NOPE&#39; to compare with" in nope.text


def test_a_supervisor_commits_an_allocation_with_a_reason(
    app: FastAPI, world: World, session: Session
) -> None:
    # A data scientist may simulate (to compare on money) but not commit.
    scientist = sign_in(app, world.users["data_scientist"])
    refused = scientist.post(
        "/dashboard/allocation/commit",
        data={"csrf_token": csrf(scientist, "/dashboard/allocation"), "reason": "go"},
    )
    assert refused.status_code == 403 and "may not commit allocations" in refused.text
    supervisor = sign_in(app, world.users["supervisor"])
    got = supervisor.post(
        "/dashboard/allocation/commit",
        data={"csrf_token": csrf(supervisor, "/dashboard/allocation"), "reason": "weekly plan"},
    )
    assert got.status_code == 200, got.text[:500]
    run = session.scalars(select(AllocationRun)).one()
    assert run.actor == world.users["supervisor"] and run.reason == "weekly plan"
    assert f"Committed as allocation run {run.id}" in got.text


def test_an_admin_saves_a_draft_and_activates_it_with_a_reason(
    app: FastAPI, world: World, session: Session
) -> None:
    admin = sign_in(app, world.users["admin"])
    token = csrf(admin)
    text = admin.get("/dashboard/policy").text
    document = re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', text, re.S)
    assert document
    draft = html.unescape(document.group(1)).replace("name: default", "name: vip-lighter", 1)
    saved = admin.post(
        "/dashboard/policy/drafts",
        data={"csrf_token": token, "document": draft, "reason": "try a lighter VIP weight"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    row = session.scalars(select(PolicyVersion).where(PolicyVersion.name == "vip-lighter")).one()
    assert row.status is PolicyStatus.DRAFT
    row_id = row.id
    session.rollback()  # the test's own unit of work must not hold SQLite's write lock
    planner = sign_in(app, world.users["planner"])
    refused = planner.post(
        "/dashboard/policy/activate",
        data={"csrf_token": csrf(planner), "policy_version_id": row_id, "reason": "x"},
    )
    assert refused.status_code == 403
    got = admin.post(
        "/dashboard/policy/activate",
        data={"csrf_token": token, "policy_version_id": row_id, "reason": "approved by ops"},
    )
    assert got.status_code == 200 and "Policy vip-lighter v1 is now active." in got.text
    assert session.get(PolicyVersion, row_id).status is PolicyStatus.ACTIVE  # type: ignore[union-attr]
    actions = set(session.scalars(select(AuditRecord.action)))
    assert {"policy.drafted", "policy.activated", "policy.retired"} <= actions


def test_an_invalid_draft_is_refused_naming_the_key(app: FastAPI, world: World) -> None:
    planner = sign_in(app, world.users["planner"])
    got = planner.post(
        "/dashboard/policy/whatif",
        data={"csrf_token": csrf(planner), "document": "name: default\nblend:\n  wieghts: {}\n"},
    )
    assert got.status_code == 422
    assert "unknown key" in got.text and "wieghts" in got.text


def test_a_page_without_a_permission_refuses_to_build() -> None:
    router = APIRouter()

    @router.get("/dashboard/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    with pytest.raises(PageUnprotectedError, match="forgotten"):
        check_protected(web_routes([router]))

    guarded = APIRouter()

    @guarded.get("/dashboard/guarded")
    def ok(_user: WebUser = Depends(page("backorders:read"))) -> dict[str, str]:
        return {}

    check_protected(web_routes([guarded]))
    assert page_permission(web_routes([guarded])[0]) == "backorders:read"


def _rec(world: World, index: int, kind: str) -> Any:
    bo = world.backorders[index]
    return next(r for r in world.recommendations if r.backorder_id == bo.id and r.kind == kind)


def _post(client: TestClient, path: str, **data: Any) -> Any:
    token = csrf(client, "/dashboard/queue")
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def test_only_the_waiting_steps_role_sees_the_decision_form(app: FastAPI, world: World) -> None:
    rec = _rec(world, 1, "transfer")  # $18,500: supervisor, then manager
    planner = sign_in(app, world.users["planner"])
    got = _post(planner, f"/dashboard/recommendations/{rec.id}/submit")
    assert got.status_code == 303
    detail = f"/dashboard/backorders/{rec.backorder_id}"
    form = f'aria-label="Decide recommendation {rec.id}"'
    assert form in sign_in(app, world.users["supervisor"]).get(detail).text
    manager = sign_in(app, world.users["manager"]).get(detail).text
    assert form not in manager and "Waits for the supervisor (not your step yet)." in manager
    own = planner.get(detail).text
    assert form not in own and "Waits for the supervisor." in own


def test_a_decision_without_a_reason_is_refused_in_words(app: FastAPI, world: World) -> None:
    rec = _rec(world, 1, "expedite")
    _post(sign_in(app, world.users["planner"]), f"/dashboard/recommendations/{rec.id}/submit")
    supervisor = sign_in(app, world.users["supervisor"])
    got = _post(supervisor, f"/dashboard/recommendations/{rec.id}/decide", decision="approve")
    assert got.status_code == 422 and "A decision needs a reason." in got.text


def test_nobody_decides_what_they_requested(app: FastAPI, world: World) -> None:
    rec = _rec(world, 1, "expedite")
    supervisor = sign_in(app, world.users["supervisor"])
    _post(supervisor, f"/dashboard/recommendations/{rec.id}/submit")
    got = _post(
        supervisor, f"/dashboard/recommendations/{rec.id}/decide", decision="approve", reason="ok"
    )
    assert got.status_code == 403
    assert "requested recommendation" in got.text and "may decide no step of it" in got.text


def test_an_approved_recommendation_is_executed_with_a_reason(
    app: FastAPI, world: World, session: Session
) -> None:
    rec = _rec(world, 1, "expedite")  # $6,850: the supervisor alone
    planner = sign_in(app, world.users["planner"])
    _post(planner, f"/dashboard/recommendations/{rec.id}/submit")
    supervisor = sign_in(app, world.users["supervisor"])
    inbox = supervisor.get("/dashboard/approvals").text
    assert f'id="rec-{rec.id}"' in inbox
    decided = _post(
        supervisor,
        f"/dashboard/recommendations/{rec.id}/decide",
        decision="approve_with_conditions",
        reason="cheap insurance",
        conditions="air freight only",
        back="/dashboard/approvals",
    )
    assert decided.headers["location"] == "/dashboard/approvals"
    assert "Nothing waits for you." in supervisor.get("/dashboard/approvals").text
    detail = planner.get(f"/dashboard/backorders/{rec.backorder_id}").text
    assert "conditions: air freight only" in detail and "Execute" in detail
    got = _post(planner, f"/dashboard/recommendations/{rec.id}/execute", reason="supplier agreed")
    assert got.status_code == 303, got.text[:400]
    session.expire_all()
    assert session.get(Recommendation, rec.id).status == "executed"  # type: ignore[union-attr]


def test_the_models_page_puts_each_champion_first_with_its_oracle_ratio(
    app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from allotment.modeling import registry
    from allotment.modeling.registry import ModelRow

    def row(version: int, aliases: tuple[str, ...], auc: float) -> ModelRow:
        return ModelRow(
            name="allotment-churn",
            version=version,
            aliases=aliases,
            auc=auc,
            oracle_auc=0.95,
            auc_oracle_ratio=auc / 0.95,
            ece=0.012,
            created=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
            run_id="r",
        )

    monkeypatch.setattr(
        registry, "list_models", lambda: [row(3, (), 0.90), row(2, ("champion",), 0.88)]
    )
    page = text_of(sign_in(app, world.users["data_scientist"]).get("/dashboard/models").text)
    champion = page.index("v2 champion 0.880 0.950 92.6% 0.012 1 Dec 2026, 08:30 UTC")
    challenger = page.index("v3 challenger 0.900 0.950 94.7%")
    assert champion < challenger


def test_pages_allow_only_this_sites_scripts_and_no_framing(app: FastAPI, world: World) -> None:
    got = sign_in(app, world.users["planner"]).get("/dashboard/queue")
    assert "script-src 'self'" in got.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in got.headers["content-security-policy"]
    assert got.headers["x-frame-options"] == "DENY"
    assert got.headers["cache-control"] == "no-store"
    # Every script the pages load is vendored and served from the package.
    for src in set(re.findall(r'<script src="([^"]+)"', got.text)) | {
        "/static/vendor/chartjs/chart.umd.min.js"
    }:
        assert src.startswith("/static/")
        assert TestClient(app).get(src).status_code == 200


def test_simulation_and_what_if_work_as_plain_forms_and_as_fragments(
    app: FastAPI, world: World
) -> None:
    planner = sign_in(app, world.users["planner"])
    token = csrf(planner)
    page = planner.post("/dashboard/allocation/simulate", data={"csrf_token": token})
    assert page.status_code == 200
    assert "<html" in page.text and 'id="simulation"' in page.text  # no JavaScript: a page
    fragment = planner.post(
        "/dashboard/allocation/simulate", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert "<html" not in fragment.text and 'id="simulation"' in fragment.text
    document = html.unescape(
        re.search(  # type: ignore[union-attr]
            r'<textarea id="document"[^>]*>(.*?)</textarea>',
            planner.get("/dashboard/policy").text,
            re.S,
        ).group(1)
    ).replace("vip: 5.0", "vip: 1.0")
    whatif = planner.post(
        "/dashboard/policy/whatif", data={"csrf_token": token, "document": document}
    )
    assert whatif.status_code == 200 and "<html" in whatif.text
    assert 'id="movers"' in whatif.text and "multiplier ×5 → ×1" in whatif.text
    # The edited draft stays in the editor, next to its preview.
    assert "vip: 1.0" in html.unescape(whatif.text)


def test_the_detail_page_offers_the_neighbours_in_the_ranking(app: FastAPI, world: World) -> None:
    ranked = sorted(world.backorders, key=lambda b: -world.priorities[b.id])
    middle = ranked[2]
    page = sign_in(app, world.users["planner"]).get(f"/dashboard/backorders/{middle.id}").text
    assert f"the one ranked just above ({ranked[1].number})" in page
    assert f"the one ranked just below ({ranked[3].number})" in page


def test_customer_service_records_a_contact_with_its_outcome(
    app: FastAPI, world: World, session: Session
) -> None:
    customer_id = world.recommendations[0].customer_id
    planner = sign_in(app, world.users["planner"])
    assert "Record a contact" not in planner.get("/dashboard/outreach").text
    refused = _post(planner, f"/dashboard/outreach/{customer_id}/contacts", outcome="reached")
    assert refused.status_code == 403
    agent = sign_in(app, world.users["customer_service"])
    got = _post(
        agent,
        f"/dashboard/outreach/{customer_id}/contacts",
        outcome="offer_accepted",
        note="takes a partial shipment now",
    )
    assert got.status_code == 303
    page = text_of(agent.get("/dashboard/outreach").text)
    assert (
        f"by {world.users['customer_service']}: offer accepted — takes a partial shipment now"
        in page
    )
    actions = list(session.scalars(select(AuditRecord.action)))
    assert actions.count("outreach.contacted") == 1

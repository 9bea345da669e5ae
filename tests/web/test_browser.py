"""The dashboard in a real browser (headless Chromium): the flows a planner and approvers walk.

Each test saves a screenshot of every page it visits under ``test-output/browser/<test>/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tests.web.browser import LiveServer, Shots, output_dir
from tests.web.world import PASSWORD, World

# The browser drives the same pages on either backend; SQLite keeps it quick.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def server(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(output_dir(request.node.name))


@pytest.fixture
def browser_page(chromium: Any, server: LiveServer) -> Iterator[Any]:
    context = chromium.new_context(base_url=server.url, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    page.on(
        "console",
        # A 4xx page is reported as a failed load; anything else (a CSP refusal, a script
        # error) is a defect of the page.
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    yield page
    context.close()
    assert not problems, problems


def sign_in(page: Any, name: str, *, start: str = "/") -> None:
    page.goto(start)
    assert "/login" in page.url, page.url
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.locator("main").inner_text()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")


def _usd(cell: Any) -> float:
    return float(cell.get_attribute("data-usd"))


def test_planner_signs_in_filters_the_queue_and_reads_the_waterfall(
    browser_page: Any, world: World, shots: Shots
) -> None:
    page = browser_page
    page.goto("/")
    shots(page, "sign-in")
    sign_in(page, world.users["planner"])
    assert page.url.endswith("/dashboard")
    page.locator("#critical").wait_for()
    shots(page, "command-center")

    page.get_by_role("link", name="Backorder queue").first.click()
    page.wait_for_url("**/dashboard/queue")
    assert page.locator("table.queue tbody tr").count() == len(world.backorders)
    shots(page, "queue")

    page.get_by_role(
        "link", name="Premium or VIP customers at high churn risk, fillable from another location"
    ).click()
    page.wait_for_load_state()
    shown = set(
        page.locator("table.queue tbody tr").evaluate_all(
            "rows => rows.map(r => r.dataset.backorder)"
        )
    )
    expected = {world.backorders[0].number, world.backorders[1].number}
    assert shown == expected
    shots(page, "queue-premium-vip-churn-fillable")

    # The form through htmx: SLA risk at least 60% on the whole active queue.
    page.goto("/dashboard/queue")
    page.get_by_label("SLA risk at least (%)").fill("60")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**sla_breach_risk_min=60**")
    page.wait_for_function("document.querySelectorAll('table.queue tbody tr').length === 2")
    shots(page, "queue-sla-60")

    top = world.backorders[0]
    page.get_by_role("link", name=top.number).click()
    page.wait_for_url(f"**/dashboard/backorders/{top.id}")
    page.locator("#waterfall-chart").wait_for()
    priority = _usd(page.locator("#priority"))
    assert priority == pytest.approx(world.priorities[top.id], rel=1e-9)
    components = page.locator("tr.component-row")
    assert components.count() == 6
    total = sum(_usd(components.nth(i)) for i in range(components.count()))
    assert total == pytest.approx(priority, abs=0.01)
    for name in ("sla", "churn"):
        component = _usd(page.locator(f"tr.component-row[data-component='{name}']"))
        parts = page.locator(f"tr.part[data-part-of='{name}']")
        assert parts.count() >= 3  # two features and the baseline
        assert sum(_usd(parts.nth(i)) for i in range(parts.count())) == pytest.approx(
            component, abs=0.01
        )
    assert page.locator("[data-eta='p50']").inner_text() != "—"
    assert page.locator("meter").count() == 3
    shots(page, "backorder-detail")

    page.get_by_label("Another backorder (number or id)").fill(world.backorders[3].number)
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/compare?vs=*")
    assert f"Why {top.number} ranks above {world.backorders[3].number}" in page.inner_text("h1")
    shots(page, "compare")


def test_planner_runs_an_allocation_simulation(
    browser_page: Any, world: World, shots: Shots
) -> None:
    page = browser_page
    sign_in(page, world.users["planner"], start="/dashboard/allocation")
    assert page.url.endswith("/dashboard/allocation")
    shots(page, "allocation")
    page.get_by_role("button", name="Run a simulation").click()
    page.locator("#simulation").wait_for()
    assert page.locator("#sim-status").inner_text() in {"optimal", "relaxed"}
    # Three backorders have stock in the spare warehouse: each gets it from there.
    plan = page.locator("#plan").inner_text()
    for bo in world.backorders[:3]:
        assert bo.number in plan
    assert plan.count("@WH-SPARE") == 3
    # The rest is short, each line with its reason in words, and the supply it lacks is priced.
    short = page.locator("#short-lines tbody tr")
    assert short.count() >= 2
    for i in range(short.count()):
        assert len(short.nth(i).locator("td").last.inner_text()) > 20
    assert page.locator("#shadow-prices tbody tr").count() >= 2
    # A planner may also commit the plan (with a reason); not done here.
    assert page.get_by_role("button", name="Commit this plan").count() == 1
    shots(page, "allocation-simulated")


def test_planner_previews_a_policy_what_if(browser_page: Any, world: World, shots: Shots) -> None:
    page = browser_page
    sign_in(page, world.users["planner"], start="/dashboard/policy")
    shots(page, "policy")
    editor = page.get_by_label("Policy document")
    editor.fill(editor.input_value().replace("vip: 5.0", "vip: 1.0"))
    # A planner may preview but neither save nor activate.
    assert page.get_by_role("button", name="Save as draft").count() == 0
    assert page.get_by_role("button", name="Activate").count() == 0
    page.get_by_role("button", name="Preview what-if").click()
    page.locator("#whatif-result").wait_for()
    movers = page.locator("#movers tbody tr")
    assert movers.count() >= 1
    assert "multiplier ×5 → ×1" in page.locator("#movers").inner_text()
    shots(page, "policy-whatif")


def test_the_pages_are_keyboard_usable_and_errors_read_in_words(
    browser_page: Any, world: World, shots: Shots
) -> None:
    page = browser_page
    sign_in(page, world.users["planner"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    # Skipping lands in the main content, past the navigation.
    assert page.evaluate("document.activeElement.closest('main') !== null")
    page.goto("/dashboard/backorders/999999")
    assert "There is no backorder with id 999999" in page.inner_text("main")
    assert "Traceback" not in page.content()
    shots(page, "not-found")
    page.goto("/dashboard/models")
    shots(page, "models")
    page.goto("/dashboard/outreach")
    page.locator(".outreach-entry").first.wait_for()
    page.locator("summary", has_text="Drafted message").first.click()
    shots(page, "outreach")
    # Customer service records the call and its outcome.
    sign_out(page)
    sign_in(page, world.users["customer_service"], start="/dashboard/outreach")
    form = page.locator("form[aria-label^='Record a contact']").first
    form.get_by_label("Outcome").select_option("callback_requested")
    form.get_by_label("Note").fill("call back Tuesday")
    form.get_by_role("button", name="Contacted").click()
    page.wait_for_load_state()
    assert (
        "callback requested — call back Tuesday" in page.locator(".last-contact").first.inner_text()
    )
    shots(page, "outreach-contacted")


def _approve(page: Any, rec_id: int, reason: str) -> None:
    form = page.locator(f"#rec-{rec_id} form[aria-label='Decide recommendation {rec_id}']")
    form.get_by_label("Reason (required)").fill(reason)
    form.get_by_role("button", name="Approve", exact=True).click()
    page.wait_for_load_state()


def test_an_approval_chain_from_request_to_approved(
    browser_page: Any,
    chromium: Any,
    server: LiveServer,
    world: World,
    shots: Shots,
) -> None:
    page = browser_page
    bo = world.backorders[1]  # premium, $6,000 waiting
    transfer = next(
        r for r in world.recommendations if r.backorder_id == bo.id and r.kind == "transfer"
    )
    rec = f"#rec-{transfer.id}"

    # The planner requests it: $18,500 routes to the supervisor, then the manager.
    sign_in(page, world.users["planner"], start=f"/dashboard/backorders/{bo.id}")
    page.locator(rec).get_by_role("button", name="Submit for approval").click()
    page.wait_for_load_state()
    assert page.locator(f"{rec} .rec-status").inner_text() == "pending approval"
    assert "supervisor → manager" in page.locator(rec).inner_text()
    assert page.locator(rec).locator("form[aria-label^='Decide']").count() == 0
    shots(page, "planner-submitted")
    sign_out(page)

    # A second supervisor opens the inbox now and keeps the page open.
    other = chromium.new_context(base_url=server.url, viewport={"width": 1366, "height": 900})
    stale = other.new_page()
    sign_in(stale, "supervisor-2", start="/dashboard/approvals")
    assert stale.locator(rec).count() == 1

    # The supervisor approves within their authority, from the inbox.
    sign_in(page, world.users["supervisor"], start="/dashboard/approvals")
    assert page.locator(".inbox-item").count() == 1
    shots(page, "supervisor-inbox")
    _approve(page, transfer.id, "transfer cost is justified by the penalty avoided")
    assert page.url.endswith("/dashboard/approvals")
    assert page.locator("#inbox-empty").is_visible()
    # The rest is above a supervisor's authority: no decision form, and it says why.
    page.goto(f"/dashboard/backorders/{bo.id}")
    assert "Waits for the manager (above your authority)." in page.locator(rec).inner_text()
    assert page.locator(rec).locator("form[aria-label^='Decide']").count() == 0
    shots(page, "supervisor-approved-step-1")
    sign_out(page)

    # The other supervisor's page is stale: deciding the manager's step is refused, in words.
    _approve(stale, transfer.id, "looks fine to me")
    refusal = stale.locator("main").inner_text()
    assert "Not possible right now" in refusal and "it waits for manager" in refusal
    assert "Traceback" not in stale.content()
    shots(stale, "second-supervisor-refused")
    other.close()

    # The manager, next in the chain, completes it.
    sign_in(page, world.users["manager"], start="/dashboard/approvals")
    shots(page, "manager-inbox")
    _approve(page, transfer.id, "approved: the customer renews next quarter")
    assert page.locator("#inbox-empty").is_visible()
    page.goto(f"/dashboard/backorders/{bo.id}")
    assert page.locator(f"{rec} .rec-status").inner_text() == "approved"
    steps = page.locator(f"{rec} .chain li")
    assert steps.count() == 2
    assert "approved by supervisor-1" in steps.nth(0).inner_text()
    assert "approved by manager-1" in steps.nth(1).inner_text()
    shots(page, "manager-approved")

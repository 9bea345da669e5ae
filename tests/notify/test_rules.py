"""The policy's immediate ``backorder_created`` rule, on both backends: who is told, once."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allotment.domain import backorders as svc
from allotment.domain.enums import Tier
from allotment.domain.models import Backorder, Notification
from allotment.events import service as events
from allotment.policy import service as policies
from allotment.policy.documents import shipped_policy
from allotment.policy.schema import NotificationRule
from tests import factories
from tests.events.helpers import event, po_ref, small


def _created(session: Session) -> list[tuple[str, str]]:
    """(recipient, subject) of every backorder_created notification, in id order."""
    rows = session.execute(
        select(Notification.recipient, Notification.subject)
        .where(Notification.kind == "backorder_created")
        .order_by(Notification.id)
    ).all()
    return [(str(r), str(s)) for r, s in rows]


def _activate(session: Session, *rules: NotificationRule) -> None:
    policy = shipped_policy("default").model_copy(update={"notifications": rules})
    policies.activate(session, document=policy, actor="test", role="admin", reason="test")


def test_a_manual_backorder_tells_customer_service_and_the_sales_rep(session: Session) -> None:
    customer = factories.customer(session, tier=Tier.PREMIUM, name="Premium Manufacturing")
    line = factories.order_line(session, customer_id=customer.id, quantity=40)
    bo = svc.create_manual(
        session,
        order_line_id=line.id,
        quantity=25,
        actor="planner1",
        reason="supplier short shipped",
        expected_fulfillment_date=date(2025, 3, 4),
    )
    rows = session.scalars(
        select(Notification)
        .where(Notification.kind == "backorder_created")
        .order_by(Notification.id)
    ).all()
    # The shipped default policy (none activated): immediate to customer service and sales rep.
    assert [n.recipient for n in rows] == ["role:customer_service", "role:sales_rep"]
    assert {n.dedupe_key for n in rows} == {
        f"backorder_created:{bo.id}:role:customer_service",
        f"backorder_created:{bo.id}:role:sales_rep",
    }
    body = rows[0].body
    order_number = rows[0].payload["order_number"]
    for fact in (
        bo.number,
        "Premium Manufacturing",
        f"order {order_number} line 1",
        "25 x SKU-",
        "Root cause: other",
        "Expected: 2025-03-04",
        "$12,500",  # 25 x $500
        "supplier short shipped",
    ):
        assert fact in body, fact
    assert rows[0].subject == f"New backorder {bo.number}: 25 x {rows[0].payload['sku']} for" + (
        " Premium Manufacturing"
    )
    # Reading the policy installs none: creating a backorder writes no policy version.
    assert policies.list_policies(session) == []


def test_an_unknown_eta_is_said_so(session: Session) -> None:
    line = factories.order_line(session)
    svc.create_manual(session, order_line_id=line.id, quantity=5, actor="p", reason="short")
    body = session.scalars(select(Notification.body).limit(1)).one()
    assert "Expected: not known yet." in body


def test_the_tier_filter_decides_who_hears_and_account_managers_are_named(
    session: Session,
) -> None:
    _activate(
        session,
        NotificationRule(event="backorder_created", roles=("customer_service",)),
        NotificationRule(
            event="backorder_created",
            roles=("account_manager", "customer_service"),
            tiers=(Tier.VIP,),
        ),
    )
    standard = factories.customer(session, tier=Tier.STANDARD)
    vip = factories.customer(session, tier=Tier.VIP, account_manager="am.garcia")
    orphan = factories.customer(session, tier=Tier.VIP, account_manager=None)
    for customer in (standard, vip, orphan):
        line = factories.order_line(session, customer_id=customer.id)
        svc.create_manual(session, order_line_id=line.id, quantity=5, actor="p", reason="short")
    by_customer = [r for r, _ in _created(session)]
    assert by_customer == [
        "role:customer_service",  # standard: only the rule without a tier filter
        "role:customer_service",  # VIP: named by both rules, told once
        "user:am.garcia",
        "role:customer_service",
        "role:account_manager",  # a VIP customer without an account manager on record
    ]


def test_no_immediate_rule_no_message(session: Session) -> None:
    _activate(
        session,
        NotificationRule(
            event="backorder_created", roles=("purchasing_manager",), cadence="daily_digest"
        ),
    )
    line = factories.order_line(session)
    svc.create_manual(session, order_line_id=line.id, quantity=5, actor="p", reason="short")
    assert _created(session) == []


def test_a_supplier_delay_tells_once_per_backorder_it_creates(session: Session) -> None:
    w = small(session)
    first = svc.apply_po_delay(
        session, po_line_id=w.po_line.id, new_eta=date(2025, 2, 1), actor="p", reason="port"
    )
    assert [a.action for a in first.lines] == ["created", "not_late"]
    (created_id,) = [a.backorder_id for a in first.lines if a.action == "created"]
    assert [r for r, _ in _created(session)] == ["role:customer_service", "role:sales_rep"]
    body = session.scalars(select(Notification.body).limit(1)).one()
    assert "Root cause: supplier delay. Expected: 2025-02-01." in body
    assert f"PO line {w.po_line.id} delayed to 2025-02-01: port" in body

    # A later delay backorders the second line and only moves the first one's ETA: the first
    # is not announced again.
    second = svc.apply_po_delay(
        session, po_line_id=w.po_line.id, new_eta=date(2025, 2, 15), actor="p", reason="port"
    )
    assert [a.action for a in second.lines] == ["eta_updated", "created"]
    keys = session.scalars(
        select(Notification.dedupe_key).where(Notification.kind == "backorder_created")
    ).all()
    (new_id,) = [a.backorder_id for a in second.lines if a.action == "created"]
    assert sorted(keys) == sorted(
        f"backorder_created:{i}:role:{r}"
        for i in (created_id, new_id)
        for r in ("customer_service", "sales_rep")
    )


def test_a_resent_po_delayed_event_tells_nobody_twice(session: Session) -> None:
    w = small(session)
    delayed = event("po_delayed", **po_ref(w), new_eta="2025-02-01")
    events.ingest(session, [delayed], actor="erp")
    session.commit()
    again = events.ingest(session, [delayed], actor="erp")  # the connector retries
    session.commit()
    assert [o.status for o in again.outcomes] == ["duplicate"]
    assert len(_created(session)) == 2
    (bo,) = session.scalars(select(Backorder)).all()
    # Written at the event's time, like the backorder itself.
    created_at = session.scalars(select(Notification.created_at).limit(1)).one()
    assert created_at == bo.created_at == delayed.occurred_at


def test_the_notification_rolls_back_with_the_backorder(session: Session) -> None:
    line = factories.order_line(session)
    session.commit()
    with session.begin_nested() as attempt:
        svc.create_manual(session, order_line_id=line.id, quantity=5, actor="p", reason="short")
        assert len(_created(session)) == 2
        attempt.rollback()
    assert session.scalar(select(func.count()).select_from(Notification)) == 0
    assert session.scalar(select(func.count()).select_from(Backorder)) == 0


def test_enqueueing_the_same_creation_again_adds_nothing(session: Session) -> None:
    from allotment.notify.rules import immediate_rules, notify_backorder_created

    line = factories.order_line(session)
    bo = svc.create_manual(session, order_line_id=line.id, quantity=5, actor="p", reason="x")
    rules = immediate_rules(shipped_policy("default"), "backorder_created")
    assert notify_backorder_created(session, bo, rules=rules) == []
    assert len(_created(session)) == 2

"""Allocation against the database, on SQLite and PostgreSQL: build, commit, compare."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.allocation import service
from allotment.domain import backorders as bo_svc
from allotment.domain.enums import (
    AllocationStatus,
    BackorderStatus,
    PurchaseOrderStatus,
    Tier,
)
from allotment.domain.models import (
    Allocation,
    AllocationRun,
    AuditRecord,
    Backorder,
    InventoryPosition,
    PurchaseOrderLine,
)
from tests import factories

AS_OF = date(2025, 1, 20)


def _backorder(
    session: Session, *, product_id: int, location_id: int, tier: Tier, qty: int
) -> Backorder:
    cust = factories.customer(session, tier=tier)
    line = factories.order_line(
        session,
        customer_id=cust.id,
        product_id=product_id,
        location_id=location_id,
        quantity=qty,
        promised_date=date(2025, 2, 1),
    )
    return bo_svc.create_manual(
        session, order_line_id=line.id, quantity=qty, actor="t", reason="short"
    )


def _world(session: Session) -> tuple[Backorder, Backorder, int, int]:
    loc = factories.location(session, code="WH-East")
    prod = factories.product(session, sku="SKU-A")
    factories.inventory(session, product_id=prod.id, location_id=loc.id, on_hand=30)
    factories.po_line(
        session,
        product_id=prod.id,
        location_id=loc.id,
        quantity=20,
        promised_date=date(2025, 1, 25),
        current_eta=date(2025, 1, 25),
    )
    vip = _backorder(session, product_id=prod.id, location_id=loc.id, tier=Tier.VIP, qty=20)
    std = _backorder(session, product_id=prod.id, location_id=loc.id, tier=Tier.STANDARD, qty=25)
    session.commit()
    return vip, std, prod.id, loc.id


def test_build_problem_reads_demand_supply_and_falls_back_to_value_at_risk(
    session: Session,
) -> None:
    vip, std, _, _ = _world(session)
    built = service.build_problem(session, as_of=AS_OF)
    p = built.problem
    assert built.priority_source == {"snapshot": 0, "value_at_risk": 2}
    weights = {ln.line_id: ln.priority_weight for ln in p.lines}
    # $500/unit value at risk x the default policy's tier multipliers (VIP 5, standard 1).
    assert weights == {vip.id: 2500.0, std.id: 500.0}
    assert [(s.sku, s.location, s.quantity) for s in p.on_hand] == [("SKU-A", "WH-East", 30)]
    assert [po.quantity for po in p.in_transit] == [20]
    # The contracts' 95 % fill-rate commitment, per customer (one line each here).
    customers = {ln.customer_id for ln in p.lines}
    assert len(customers) == 2
    assert p.customer_minimum_fill == dict.fromkeys(customers, 0.95)
    assert {ln.minimum_fill for ln in p.lines} == {0.0}


def test_commit_ships_stock_moves_statuses_audits_and_next_run_compares(session: Session) -> None:
    vip, std, _, _ = _world(session)
    first = service.run(session, as_of=AS_OF)
    assert first.result.status == "optimal"
    assert first.result.objective >= first.greedy.objective
    assert first.comparison.previous_run_id is None
    run = service.commit(session, outcome=first, actor="planner.kim", reason="weekly run")
    session.commit()

    session.expire_all()
    got_vip, got_std = session.get(Backorder, vip.id), session.get(Backorder, std.id)
    assert got_vip is not None and got_std is not None
    # VIP: 20 from stock, resolved. Standard: 10 from stock now, 15 reserved on the PO line.
    assert (got_vip.status, got_vip.open_quantity) == (BackorderStatus.RESOLVED, 0)
    assert (got_std.status, got_std.open_quantity) == (BackorderStatus.PARTIALLY_RESOLVED, 15)
    assert got_std.allocation_status is AllocationStatus.ALLOCATED
    assert [h.to_status for h in got_std.history][-1] is BackorderStatus.PARTIALLY_RESOLVED
    pos = session.scalars(select(InventoryPosition)).one()
    assert pos.committed == 30
    rows = session.scalars(select(Allocation).where(Allocation.run_id == run.id)).all()
    assert sorted((r.backorder_id, r.po_line_id is None, r.quantity) for r in rows) == sorted(
        [(vip.id, True, 20), (std.id, True, 10), (std.id, False, 15)]
    )
    audit = session.scalars(
        select(AuditRecord).where(AuditRecord.action == "allocation.committed")
    ).one()
    assert audit.entity_id == str(run.id) and audit.after is not None
    assert audit.after["resolved"] == 1 and audit.after["partially_resolved"] == 1

    # The PO line is cancelled: the standard line's 15 reserved units are not held any more,
    # and nothing else can serve it.
    po = session.scalars(select(PurchaseOrderLine)).one()
    po.status = PurchaseOrderStatus.CANCELLED
    session.commit()
    second = service.run(session, as_of=AS_OF)
    c = second.comparison
    assert second.result.line(std.id).allocated == 0
    assert (c.previous_run_id, c.improved, c.deteriorated) == (run.id, 0, 1)
    assert c.value_lost == 7500.0  # 15 units x $500
    assert session.scalars(select(AllocationRun)).one().id == run.id  # a simulation writes nothing


def test_units_reserved_by_a_committed_run_are_locked(session: Session) -> None:
    _, std, prod_id, loc_id = _world(session)
    service.commit(
        session, outcome=service.run(session, as_of=AS_OF), actor="planner.kim", reason="weekly"
    )
    session.commit()
    # A new VIP backorder would outbid the standard line for the PO line, but the standard
    # line's 15 units reserved on it are locked: the newcomer gets the 5 units left.
    newcomer = _backorder(session, product_id=prod_id, location_id=loc_id, tier=Tier.VIP, qty=10)
    session.commit()
    second = service.run(session, as_of=AS_OF)
    locked = {ln.line_id: ln.locked_quantity for ln in second.built.problem.lines}
    assert locked == {std.id: 15, newcomer.id: 0}
    assert second.result.line(std.id).allocated == 15
    assert second.result.line(newcomer.id).allocated == 5
    assert second.comparison.deteriorated == 0

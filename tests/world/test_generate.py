"""``generate`` into SQLite and PostgreSQL: determinism, refusal, and what the rows say."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, text

from allotment.db.engine import make_engine
from allotment.domain.enums import BackorderStatus, Tier, TruthKind
from allotment.domain.lifecycle import ensure_path
from allotment.domain.models import (
    Backorder,
    BackorderStatusChange,
    Customer,
    CustomerOrderLine,
    InventoryPosition,
    Receipt,
    Shipment,
    SimTruth,
    SimWorld,
)
from allotment.world.generate import generate
from allotment.world.metrics import auc
from allotment.world.model import World
from allotment.world.persist import DatabaseNotEmptyError, clear_all
from allotment.world.policies import StaticTierPolicy
from tests.dumps import dump_tables


def test_same_seed_gives_identical_tables_and_another_seed_does_not(engine: Engine) -> None:
    generate(engine, scale="tiny", seed=3)
    first = dump_tables(engine)
    generate(engine, scale="tiny", seed=3, replace=True)
    assert dump_tables(engine) == first
    generate(engine, scale="tiny", seed=4, replace=True)
    other = dump_tables(engine)
    assert other["customer_order_lines"] != first["customer_order_lines"]


@pytest.mark.postgres
def test_sqlite_and_postgresql_receive_identical_rows(request: pytest.FixtureRequest) -> None:
    dumps = []
    for backend in ("sqlite", "postgresql"):
        url, _ = request.getfixturevalue(f"_{backend}_engine")
        engine = make_engine(url)
        try:
            generate(engine, scale="tiny", seed=9, replace=True)
            dumps.append(dump_tables(engine))
            with engine.begin() as conn:
                clear_all(conn)  # leave it as found: empty
        finally:
            engine.dispose()
    sqlite_dump, pg_dump = dumps
    assert sqlite_dump.keys() == pg_dump.keys()
    for table in sqlite_dump:
        assert sqlite_dump[table] == pg_dump[table], table


def test_refuses_a_database_with_data_unless_replace(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(Customer).values(
                code="KEEP", name="Existing", tier=Tier.VIP, region="west",
                created_on=date(2024, 1, 1),
            )
        )  # fmt: skip
    with pytest.raises(DatabaseNotEmptyError, match="--replace"):
        generate(engine, scale="tiny", seed=1)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Customer)) == 1
    generate(engine, scale="tiny", seed=1, replace=True)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(Customer.code == "KEEP")) == 0


@pytest.fixture
def tiny_db(engine: Engine) -> Engine:
    generate(engine, scale="tiny", seed=21)
    return engine


def test_every_stored_status_history_satisfies_the_lifecycle(tiny_db: Engine) -> None:
    paths: dict[int, list[BackorderStatus]] = defaultdict(list)
    with tiny_db.connect() as conn:
        rows = conn.execute(
            select(
                BackorderStatusChange.backorder_id,
                BackorderStatusChange.from_status,
                BackorderStatusChange.to_status,
            ).order_by(BackorderStatusChange.id)
        )
        for bo, frm, to in rows:
            assert frm == (paths[bo][-1] if paths[bo] else None)
            paths[bo].append(to)
        current = dict(conn.execute(select(Backorder.id, Backorder.status)).all())
    assert paths.keys() == current.keys()
    for bo, path in paths.items():
        ensure_path(path)
        assert path[-1] == current[bo]


def test_quantities_add_up_in_the_database(tiny_db: Engine) -> None:
    with tiny_db.connect() as conn:
        shipped = dict(
            conn.execute(
                select(Shipment.order_line_id, func.sum(Shipment.quantity)).group_by(
                    Shipment.order_line_id
                )
            ).all()
        )
        lines = conn.execute(
            select(
                CustomerOrderLine.id,
                CustomerOrderLine.quantity,
                CustomerOrderLine.shipped_quantity,
            )
        ).all()
        for line_id, qty, done in lines:
            assert 0 <= done <= qty
            assert shipped.get(line_id, 0) == done
        open_bos = conn.execute(
            select(
                Backorder.open_quantity,
                Backorder.quantity,
                CustomerOrderLine.quantity - CustomerOrderLine.shipped_quantity,
            )
            .join(CustomerOrderLine, CustomerOrderLine.id == Backorder.order_line_id)
            .where(Backorder.status.not_in([BackorderStatus.RESOLVED, BackorderStatus.CANCELLED]))
        ).all()
        assert open_bos, "tiny must leave a live backlog"
        for open_qty, qty, line_open in open_bos:
            assert 0 < open_qty == line_open <= qty
        assert conn.scalar(select(func.min(InventoryPosition.on_hand))) >= 0
        received = conn.scalar(select(func.sum(Receipt.quantity)))
        out = conn.scalar(select(func.sum(Shipment.quantity)))
        on_hand = conn.scalar(select(func.sum(InventoryPosition.on_hand)))
        state_path = conn.scalar(select(SimWorld.state_path))
    opening = int(World.load(Path(state_path)).opening_on_hand.sum())
    assert opening + received - out == on_hand


def test_truths_cover_every_kind_and_ids_continue_after_the_world(tiny_db: Engine) -> None:
    with tiny_db.begin() as conn:
        kinds = dict(
            conn.execute(select(SimTruth.kind, func.count()).group_by(SimTruth.kind)).all()
        )
        assert set(kinds) == set(TruthKind)
        n = conn.scalar(select(func.count()).select_from(Customer))
        # Sequences were advanced (PostgreSQL): a new row gets the next id, no conflict.
        new_id = conn.execute(
            insert(Customer)
            .values(code="NEW", name="New", tier=Tier.STANDARD, region="west",
                    created_on=date(2026, 1, 1))
            .returning(Customer.id)
        ).scalar_one()  # fmt: skip
        assert new_id == n + 1
        conn.execute(text("DELETE FROM customers WHERE code = 'NEW'"))


def test_the_stored_world_state_can_run_forward(tiny_db: Engine) -> None:
    with tiny_db.connect() as conn:
        state_path, today = conn.execute(select(SimWorld.state_path, SimWorld.today)).one()
    world = World.load(Path(state_path))
    assert world.date_of(world.day) == today
    before = world.lines.n
    world.run(30, StaticTierPolicy())
    assert world.lines.n > before


def test_rates_and_oracle_aucs_read_back_from_the_database(engine: Engine) -> None:
    summary = generate(engine, scale="tiny", seed=21)
    with engine.connect() as conn:
        truths = conn.execute(
            select(SimTruth.kind, SimTruth.probability, SimTruth.outcome).where(
                SimTruth.outcome.is_not(None)
            )
        ).all()
        tiers = [t for (t,) in conn.execute(select(Customer.tier))]
    by_kind: dict[TruthKind, tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
    for kind, p, y in truths:
        by_kind[kind][0].append(p)
        by_kind[kind][1].append(y)
    stats = summary.stats
    rates = {
        TruthKind.SUPPLIER_DELAY: stats.po_late_rate,
        TruthKind.SLA_BREACH: stats.sla_breach_rate,
        TruthKind.CHURN: stats.monthly_churn_rate,
    }
    for kind, (p, y) in by_kind.items():
        assert sum(y) / len(y) == pytest.approx(rates[kind], abs=1e-4)
        assert auc(p, y) == pytest.approx(stats.oracle_auc[kind.value], abs=1e-3)
    assert 0.15 <= stats.po_late_rate <= 0.6
    assert 0.3 <= stats.sla_breach_rate <= 0.95
    assert 0.003 <= stats.monthly_churn_rate <= 0.08
    for value in stats.oracle_auc.values():
        assert 0.65 <= value <= 0.99
    assert tiers.count(Tier.VIP) / len(tiers) == pytest.approx(stats.vip_share, abs=1e-4)

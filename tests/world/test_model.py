"""The world model without a database: invariants, honest probabilities, common random numbers."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from allotment.domain.enums import BackorderStatus
from allotment.domain.lifecycle import ensure_path
from allotment.world.generate import WorldStats, simulate, world_stats
from allotment.world.model import STATUSES, World
from allotment.world.persist import truth_frames
from allotment.world.policies import FcfsPolicy, StaticTierPolicy
from allotment.world.scales import get_scale


@pytest.fixture(scope="module")
def tiny() -> World:
    return simulate("tiny", 11)


@pytest.fixture(scope="module")
def small() -> World:
    return simulate("small", 7)


def _status_paths(world: World) -> dict[int, list[BackorderStatus]]:
    paths: dict[int, list[BackorderStatus]] = defaultdict(list)
    log = world.status_log
    for bo, frm, to in zip(
        log.column("backorder").tolist(),
        log.column("from_").tolist(),
        log.column("to").tolist(),
        strict=True,
    ):
        # Each recorded change starts where the previous one ended.
        if paths[bo]:
            assert paths[bo][-1] == BackorderStatus(STATUSES[frm])
        else:
            assert frm == -1
        paths[bo].append(BackorderStatus(STATUSES[to]))
    return paths


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_every_backorder_history_is_a_valid_lifecycle_path(
    name: str, request: pytest.FixtureRequest
) -> None:
    world: World = request.getfixturevalue(name)
    paths = _status_paths(world)
    assert len(paths) == world.backorders.n
    for path in paths.values():
        ensure_path(path)
    final = np.array([STATUSES.index(p[-1].value) for _, p in sorted(paths.items())])
    assert np.array_equal(final, world.backorders["status"])


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_stock_is_conserved_and_never_negative(name: str, request: pytest.FixtureRequest) -> None:
    world: World = request.getfixturevalue(name)
    lines, pol = world.lines, world.pol
    assert (world.on_hand >= 0).all()
    assert (lines["shipped"] <= lines["qty"]).all()
    assert (pol["received"] <= pol["qty"]).all()
    shipped = np.bincount(
        world.shipments.column("line"), weights=world.shipments.column("qty"), minlength=lines.n
    )
    assert np.array_equal(shipped, lines["shipped"])
    received = np.bincount(
        world.receipts.column("po_line"), weights=world.receipts.column("qty"), minlength=pol.n
    )
    assert np.array_equal(received, pol["received"])
    n = world.n_pairs
    into = np.bincount(pol["pair"], weights=pol["received"], minlength=n)
    out = np.bincount(lines["pair"], weights=lines["shipped"], minlength=n)
    held = np.bincount(pol["pair"], weights=pol["held"], minlength=n)
    assert np.array_equal(world.opening_on_hand + into - out, world.on_hand + held)


def test_backordered_lines_are_consistent(small: World) -> None:
    lines, bos = small.lines, small.backorders
    line = bos["line"]
    assert len(np.unique(line)) == len(line)  # one backorder per order line
    assert np.array_equal(lines["backorder"][line], np.arange(bos.n))
    active = bos["status"] < STATUSES.index("resolved")
    open_now = lines["qty"][line] - lines["shipped"][line]
    assert (open_now[active] > 0).all()
    assert (open_now <= bos["qty"]).all()
    resolved = bos["status"] == STATUSES.index("resolved")
    assert (open_now[resolved] == 0).all()
    # Today's live queue: every open line is either waiting on supply or backordered.
    assert (lines["done_day"][small.waiting] < 0).all()


def test_tiny_world_has_a_live_backlog_and_some_churn(tiny: World) -> None:
    stats = world_stats(tiny)
    assert stats.open_backorders > 0
    assert (tiny.cust_churn_day >= 0).sum() > 0
    assert stats.truths["sla_breach"] > 50


def _check_bands(stats: WorldStats) -> None:
    assert 0.12 <= stats.po_late_rate <= 0.45
    assert 0.40 <= stats.sla_breach_rate <= 0.90
    assert 0.005 <= stats.monthly_churn_rate <= 0.04
    assert 0.06 <= stats.vip_share <= 0.14
    for kind, value in stats.oracle_auc.items():
        assert 0.72 <= value <= 0.95, (kind, value)


def test_small_world_rates_fall_in_realistic_bands(small: World) -> None:
    stats = world_stats(small)
    _check_bands(stats)
    assert stats.open_backorders >= 300
    assert 500 <= small.scale.n_products <= 2000 and 100 <= small.scale.n_customers < 1000


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_recorded_probabilities_are_calibrated(name: str, request: pytest.FixtureRequest) -> None:
    """The truths are honest: mean probability matches the realized rate, in every decile."""
    world: World = request.getfixturevalue(name)
    for kind, frame in truth_frames(world).items():
        known = frame["outcome"] >= 0
        p, y = frame["p"][known], frame["outcome"][known]
        n = len(p)
        tolerance = 3.5 * np.sqrt(max(p.mean() * (1 - p.mean()), 0.01) / n) + 0.01
        assert abs(p.mean() - y.mean()) < tolerance, (kind, p.mean(), y.mean(), n)
        if name == "small":
            order = np.argsort(p, kind="stable")
            for chunk in np.array_split(order, 5):
                gap = abs(p[chunk].mean() - y[chunk].mean())
                assert gap < 4 * np.sqrt(0.25 / len(chunk)) + 0.02, (kind, gap)


@pytest.mark.slow
def test_medium_world_has_100k_lines_and_realistic_rates() -> None:
    world = simulate("medium", 3)
    assert world.lines.n >= 100_000
    stats = world_stats(world)
    _check_bands(stats)
    assert stats.open_backorders >= 500


# --- run forward from a stored state -----------------------------------------------------------


def _snapshot(world: World) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for prefix, store in (("line", world.lines), ("po", world.pol), ("bo", world.backorders)):
        for name, values in store.columns().items():
            out[f"{prefix}.{name}"] = values.copy()
    for prefix, log in (("ship", world.shipments), ("status", world.status_log)):
        for name in log.names:
            out[f"{prefix}.{name}"] = log.column(name).copy()
    out["on_hand"] = world.on_hand.copy()
    out["churn"] = world.cust_churn_day.copy()
    return out


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert np.array_equal(a[key], b[key], equal_nan=True), key


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = World.create(get_scale("tiny"), 5)
    world.run(60, StaticTierPolicy())
    return world.save(tmp_path_factory.mktemp("worlds") / "tiny.pkl")


def test_a_stored_world_continues_exactly_like_an_uninterrupted_one(stored: Path) -> None:
    a = World.load(stored)
    a.run(50, StaticTierPolicy())
    b = World.load(stored)
    b.run(50, StaticTierPolicy())
    _assert_same(_snapshot(a), _snapshot(b))
    straight = World.create(get_scale("tiny"), 5)
    straight.run(110, StaticTierPolicy())
    _assert_same(_snapshot(a), _snapshot(straight))


def test_two_policies_see_the_same_exogenous_draws(stored: Path) -> None:
    a = World.load(stored)
    a.run(90, StaticTierPolicy())
    b = World.load(stored)
    b.run(90, FcfsPolicy())
    # The policies did decide differently...
    assert not np.array_equal(a.shipments.column("line"), b.shipments.column("line"))

    # ...but every customer active in both worlds placed the same order lines,
    def demand(world: World) -> dict[tuple[int, int], list[tuple[int, int, int]]]:
        lines = world.lines
        out: dict[tuple[int, int], list[tuple[int, int, int]]] = defaultdict(list)
        for c, d, no, pair, q in zip(
            lines["customer"].tolist(),
            lines["day"].tolist(),
            lines["line_no"].tolist(),
            lines["pair"].tolist(),
            lines["qty"].tolist(),
            strict=True,
        ):
            out[(c, d)].append((no, pair, q))
        return out

    da, db = demand(a), demand(b)

    def active(world: World, c: int, d: int) -> bool:
        churn = int(world.cust_churn_day[c])
        return churn < 0 or churn > d

    both = {
        key for key in da.keys() | db.keys() if key[1] >= 60 and active(a, *key) and active(b, *key)
    }
    assert len(both) > 100
    assert all(da.get(k) == db.get(k) for k in both)

    # ...and every purchase of the same SKU-location on the same day met the same supplier.
    def supply(world: World) -> dict[tuple[int, int], tuple[object, ...]]:
        pol = world.pol
        keep = pol["p_late"] >= 0  # regular suppliers (spot buys are decisions, not draws)
        cols = ("late", "cancelled", "delta", "eps", "promised", "p_late", "reason")
        rows = zip(*(pol[c][keep].tolist() for c in ("pair", "day", *cols)), strict=True)
        return {(r[0], r[1]): r[2:] for r in rows}

    sa, sb = supply(a), supply(b)
    common = sa.keys() & sb.keys()
    assert len(common) > 100
    assert all(sa[k] == sb[k] for k in common)


def test_the_history_check_rejects_a_forbidden_step(tiny: World, tmp_path: Path) -> None:
    from allotment.errors import BackorderTransitionError

    tiny.check_histories()
    broken = World.load(tiny.save(tmp_path / "copy.pkl"))
    resolved = np.flatnonzero(broken.backorders["status"] == STATUSES.index("resolved"))[0]
    # Append "resolved -> eta_updated": a terminal status may not change.
    broken.status_log.add(backorder=np.array([resolved]), from_=4, to=1, day=0, hour=0, reason=1)
    broken.backorders["status"][resolved] = 1
    with pytest.raises(BackorderTransitionError):
        broken.check_histories()

"""The blend reads the champion models, oracle-blend the world's truth; no models, no blend."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from allotment.config import get_settings
from allotment.features.frame import Task
from allotment.modeling import registry
from allotment.policy.documents import shipped_policy
from allotment.scoring.blend import blend
from allotment.simulation.engine import simulate
from allotment.simulation.policies import WorldPricing, make_policy
from allotment.simulation.risks import (
    Champions,
    ModelRisks,
    SimulationModelsMissingError,
    find_champions,
)
from allotment.world.model import World
from allotment.world.policies import DemandLines
from tests.simulation.champions import train_tiny_champions

CHURN = registry.model_name(Task.CHURN)
DELAY = registry.model_name(Task.SUPPLIER_DELAY)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with tiny champions of every task (and the inverted churn v2)."""
    return train_tiny_champions(tmp_path_factory.mktemp("sim_champions"))


@pytest.fixture
def champions(store: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Champions]:
    """The store's champions, with the store configured for the test."""
    monkeypatch.setenv("ALLOTMENT_MLFLOW_TRACKING_URI", store)
    get_settings.cache_clear()
    registry.clear_cache()
    yield find_champions()
    registry.clear_cache()


def _contest(world: World) -> tuple[DemandLines, np.ndarray]:
    """The world's waiting lines all competing for half their units at one SKU-location."""
    lines = world._demand_lines(np.sort(world.waiting), world.day)
    lines = dataclasses.replace(lines, group=np.zeros(len(lines), dtype=np.int64))
    supply = np.zeros(world.n_pairs, dtype=np.int64)
    supply[0] = int(lines.quantity.sum()) // 2
    return lines, supply


def _decide(world: World, name: str, champions: Champions) -> np.ndarray:
    pricing = WorldPricing(world, world.cust_shipped_cents / 100.0)
    policy = make_policy(name, pricing, champions=champions)
    return policy.allocate(*_contest(world))


def test_blend_decisions_follow_the_champions_and_oracle_blend_ignores_them(
    tiny_world: World, champions: Champions
) -> None:
    assert all(v is not None for v in champions.versions.values())
    blend_v1 = _decide(tiny_world, "blend", champions)
    oracle_v1 = _decide(tiny_world, "oracle-blend", champions)
    registry.promote(DELAY, 2, actor="test", force=True, reason="inverted model")
    try:
        inverted = find_champions()
        assert inverted.versions[Task.SUPPLIER_DELAY] == 2
        blend_v2 = _decide(tiny_world, "blend", inverted)
        oracle_v2 = _decide(tiny_world, "oracle-blend", inverted)
    finally:
        registry.rollback(DELAY, actor="test", reason="back to v1")
    assert not np.array_equal(blend_v1, blend_v2)
    assert np.array_equal(oracle_v1, oracle_v2)


def test_blend_with_models_is_deterministic_per_seed(champions: Champions) -> None:
    first = simulate("blend", [5], 8, scale="tiny", rescore_days=4).to_dict()
    again = simulate("blend", [5], 8, scale="tiny", rescore_days=4).to_dict()
    first.pop("seconds"), again.pop("seconds")
    assert first == again
    outcome = first["policies"]["blend"]["per_seed"][0]
    assert outcome["rescores"] == 2  # days 0 and 4 of 8
    assert first["models"]["churn"] == f"{CHURN} v1"
    # The models priced most decisions; the rest waited on PO lines placed since (rule terms).
    assert 0 <= outcome["degraded"] < outcome["decided"] / 2


def test_blend_without_any_champion_is_refused_naming_the_way_out() -> None:
    with pytest.raises(SimulationModelsMissingError) as err:
        simulate("fcfs,blend", [5], 3, scale="tiny")
    assert "no champion" in err.value.message and "allotment train" in err.value.message


def test_oracle_blend_needs_no_models() -> None:
    result = simulate("oracle-blend", [5], 3, scale="tiny")
    assert result.models == {} and result.outcomes["oracle-blend"][0].degraded == 0


def _model_risks(world: World) -> tuple[ModelRisks, np.ndarray, int]:
    """Risks as a re-score left them: every customer and PO line predicted, SLA breach for
    the waiting lines before ``cut`` only (those after were no backorders then)."""
    risks = ModelRisks(world, Champions({t: 1 for t in Task}), rescores=1)
    waiting = np.sort(world.waiting)
    cut = int(waiting[len(waiting) // 2])
    risks.churn = np.full(world.scale.n_customers, 0.3)
    risks.delay = np.full(world.pol.n, 0.2)
    risks.sla = np.full(cut, 0.4)
    return risks, waiting, cut


def test_a_line_that_was_no_backorder_at_the_re_score_has_no_sla_term(tiny_world: World) -> None:
    world = copy.deepcopy(tiny_world)
    risks, waiting, cut = _model_risks(world)
    lines = world._demand_lines(waiting, world.day)
    r = risks.risks(lines)
    new = waiting >= cut
    assert new.any() and (~new).any()
    assert (r.sla_breach[new] == 0.0).all() and (r.sla_breach[~new] == 0.4).all()
    assert (r.churn == 0.3).all()
    x = WorldPricing(world, world.cust_shipped_cents / 100.0).exposures(lines)
    result = blend(x, r, shipped_policy("default"))
    assert not result.degraded.any()  # the models' other terms still price it


def test_a_line_pegged_to_a_po_line_placed_since_the_re_score_is_degraded(
    tiny_world: World,
) -> None:
    world = copy.deepcopy(tiny_world)
    risks, waiting, _ = _model_risks(world)
    line = int(waiting[0])
    world.lines["peg"][line] = world.pol.n - 1
    risks.delay = risks.delay[:-1]  # the last PO line came after the re-score
    lines = world._demand_lines(np.array([line]), world.day)
    r = risks.risks(lines)
    assert np.isnan(r.supplier_delay[0])
    x = WorldPricing(world, world.cust_shipped_cents / 100.0).exposures(lines)
    assert blend(x, r, shipped_policy("default")).degraded[0]

"""A tiny world at the generator's "today", shared by the simulation tests (read-only)."""

from __future__ import annotations

import pytest

from allotment.simulation.engine import warm_world
from allotment.world.model import World


@pytest.fixture(scope="module")
def tiny_world() -> World:
    """The tiny world of seed 5 after its history; tests copy it before changing it."""
    return warm_world("tiny", 5)

"""The seeded synthetic distributor: a world model stepped one day at a time.

``allotment generate`` runs :func:`allotment.world.generate.generate`: it builds the world of a
scale (:mod:`.scales`), runs about two years under the handbook's static rule
(:class:`.policies.StaticTierPolicy`), writes the history, today's open backlog and the true
probabilities behind every supplier-delay, SLA-breach and churn outcome (``sim_truths``) to
the database, and stores the stepped state so a simulator can continue it::

    world = World.load(Path(sim_world.state_path))
    world.run(90, FcfsPolicy())  # same demand and supplier draws, another policy

Every random draw is keyed by what it is about (:mod:`.rng`), so runs under different
policies share their exogenous randomness (common random numbers).
"""

from __future__ import annotations

from allotment.world.model import World
from allotment.world.policies import AllocationPolicy, DemandLines, FcfsPolicy, StaticTierPolicy
from allotment.world.scales import SCALES, Scale, get_scale

__all__ = [
    "SCALES",
    "AllocationPolicy",
    "DemandLines",
    "FcfsPolicy",
    "Scale",
    "StaticTierPolicy",
    "World",
    "get_scale",
]

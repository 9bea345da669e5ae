"""Keyed draws: a pure function of (seed, stream, keys)."""

from __future__ import annotations

import numpy as np

from allotment.world.rng import Draws


def test_same_keys_same_draws_whatever_else_was_drawn() -> None:
    a, b = Draws(7), Draws(7)
    b.uniform("other", np.arange(100))  # unrelated draws in between change nothing
    keys = np.arange(50)
    assert np.array_equal(a.uniform("demand", keys, 3), b.uniform("demand", keys, 3))


def test_a_single_draw_equals_its_element_of_a_batch() -> None:
    d = Draws(11)
    batch = d.uniform("s", np.arange(10), 5)
    assert d.uniform("s", np.array([4]), 5)[0] == batch[4]


def test_seed_stream_and_key_order_change_the_draws() -> None:
    keys = np.arange(1000)
    base = Draws(1).uniform("s", keys, 2)
    assert not np.array_equal(base, Draws(2).uniform("s", keys, 2))
    assert not np.array_equal(base, Draws(1).uniform("t", keys, 2))
    assert not np.array_equal(Draws(1).uniform("s", 2, keys), base)


def test_uniforms_are_uniform_and_normals_normal() -> None:
    d = Draws(3)
    u = d.uniform("u", np.arange(200_000))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005
    assert abs(np.histogram(u, bins=10)[0] / len(u) - 0.1).max() < 0.005
    z = d.normal("z", np.arange(200_000))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01


def test_choice_follows_the_cdf() -> None:
    idx = Draws(5).choice("c", np.array([0.2, 0.5, 1.0]), np.arange(100_000))
    share = np.bincount(idx, minlength=3) / len(idx)
    assert np.allclose(share, [0.2, 0.3, 0.5], atol=0.01)

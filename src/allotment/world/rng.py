"""Common random numbers: counter-based uniforms keyed by what they are about.

Every random quantity of the world is a pure function of ``(seed, stream, keys...)``, where the
keys name the entity and the day (customer 17 on day 203, the PO line of SKU-location 4411
ordered on day 96). No generator state is carried from one draw to the next, so a draw never
depends on what an allocation policy did before it: two runs of the same world under different
policies see the same demand and the same supplier behaviour (common random numbers), and a run
resumed from a stored state continues exactly as an uninterrupted one would.

The mixer is splitmix64 (Steele, Lea & Flood 2014) applied to 64-bit unsigned integer arrays;
numpy's uint64 arithmetic wraps modulo 2**64, which is what the mixer needs.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_POW_MINUS_53 = 1.0 / float(1 << 53)


def splitmix64(x: U64) -> U64:
    """One splitmix64 round on every element (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> _S30)) * _M1
        z = (z ^ (z >> _S27)) * _M2
        return z ^ (z >> _S31)


def stream_id(name: str) -> int:
    """A stable 64-bit id for a stream name (independent of ``PYTHONHASHSEED``)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


class Draws:
    """Uniform, normal and categorical draws keyed by ``(seed, stream, *keys)``.

    Parameters
    ----------
    seed
        The world's seed (any non-negative integer below 2**64).

    Notes
    -----
    Keys must be non-negative integers (scalars or arrays that broadcast together). Each key
    is folded into the hash with its own splitmix64 round, so ``(1, 2)`` and ``(2, 1)`` give
    unrelated draws.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._cache: dict[str, np.uint64] = {}

    def _base(self, stream: str) -> np.uint64:
        base = self._cache.get(stream)
        if base is None:
            mixed = splitmix64(np.array([self.seed ^ stream_id(stream)], dtype=np.uint64))
            base = np.uint64(mixed[0])
            self._cache[stream] = base
        return base

    def bits(self, stream: str, *keys: Any) -> U64:
        """Raw 64-bit hashes for the broadcast keys."""
        arrays = [np.asarray(k).astype(np.uint64) for k in keys]
        shape = np.broadcast_shapes(*(a.shape for a in arrays)) if arrays else ()
        h = np.full(shape, self._base(stream), dtype=np.uint64)
        for a in arrays:
            h = splitmix64(h ^ a)
        return h

    def uniform(self, stream: str, *keys: Any) -> F64:
        """Uniform draws in ``[0, 1)`` with 53 bits of precision."""
        return (self.bits(stream, *keys) >> _S11).astype(np.float64) * _TWO_POW_MINUS_53

    def normal(self, stream: str, *keys: Any) -> F64:
        """Standard normal draws (Box-Muller on two keyed uniforms)."""
        u1 = self.uniform(stream + ":n1", *keys)
        u2 = self.uniform(stream + ":n2", *keys)
        radius = np.sqrt(-2.0 * np.log1p(-u1))  # log1p(-u) keeps u == 0 finite
        return radius * np.cos(2.0 * np.pi * u2)

    def choice(self, stream: str, cdf: F64, *keys: Any) -> npt.NDArray[np.int64]:
        """Index drawn from a cumulative distribution ``cdf`` (last element 1)."""
        u = self.uniform(stream, *keys)
        idx = np.searchsorted(cdf, u, side="right")
        return np.minimum(idx, len(cdf) - 1).astype(np.int64)

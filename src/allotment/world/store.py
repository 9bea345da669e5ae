"""Growable struct-of-arrays tables and append-only event logs for the world's state."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]


class Store:
    """A table held as one numpy array per column, grown by doubling.

    Parameters
    ----------
    spec
        Column name -> (dtype, fill value for rows that do not set it).
    capacity
        Initial number of rows allocated.
    """

    def __init__(self, spec: dict[str, tuple[Any, Any]], capacity: int = 1024) -> None:
        self.n = 0
        self._spec = spec
        self._data: dict[str, Arr] = {
            name: np.full(capacity, fill, dtype=dtype) for name, (dtype, fill) in spec.items()
        }

    def __getitem__(self, name: str) -> Arr:
        """A view of the live rows of column ``name`` (writes go through)."""
        return self._data[name][: self.n]

    def __len__(self) -> int:
        return self.n

    def append(self, count: int, **columns: Any) -> npt.NDArray[np.int64]:
        """Add ``count`` rows; unnamed columns get their fill value. Returns the new indices."""
        need = self.n + count
        capacity = len(next(iter(self._data.values())))
        if need > capacity:
            new_capacity = max(need, capacity * 2)
            for name, (dtype, fill) in self._spec.items():
                grown = np.full(new_capacity, fill, dtype=dtype)
                grown[: self.n] = self._data[name][: self.n]
                self._data[name] = grown
        for name, values in columns.items():
            self._data[name][self.n : need] = values
        idx = np.arange(self.n, need, dtype=np.int64)
        self.n = need
        return idx

    def columns(self) -> dict[str, Arr]:
        return {name: self[name] for name in self._spec}

    def __getstate__(self) -> dict[str, Any]:
        # Pickle the live rows only, not the spare capacity.
        state = self.__dict__.copy()
        state["_data"] = {name: self[name].copy() for name in self._spec}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.n == 0:  # keep room to grow by doubling
            self._data = {
                name: np.full(16, fill, dtype=dtype) for name, (dtype, fill) in self._spec.items()
            }


class Log:
    """Append-only event log: batches of equal-length column arrays, concatenated on read."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self._chunks: dict[str, list[Arr]] = {name: [] for name in names}
        self.n = 0

    def add(self, **columns: Any) -> None:
        lengths = {np.size(v) for v in columns.values() if np.ndim(v) > 0}
        if not lengths:
            return
        (length,) = lengths
        if length == 0:
            return
        for name in self.names:
            value = columns[name]
            if np.ndim(value) == 0:
                value = np.full(length, value)
            self._chunks[name].append(np.asarray(value))
        self.n += length

    def __len__(self) -> int:
        return self.n

    def column(self, name: str, dtype: Any = None) -> Arr:
        chunks = self._chunks[name]
        if not chunks:
            return np.zeros(0, dtype=dtype or np.int64)
        out = np.concatenate(chunks)
        # Keep memory flat for later reads and for pickling.
        self._chunks[name] = [out]
        return out if dtype is None else out.astype(dtype)

"""Train / validation / test splits: by time when rows have an as-of time, else stratified.

Time split: every validation row's ``as_of`` is strictly after every train row's, and every
test row's strictly after every validation row's (a date never straddles two parts). Subjects
may appear in several parts (a customer is scored at many dates); what cannot leak is the
future. Label horizons that reach into the next window are handled by ``embargo_days``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd

from allotment.errors import AppError

PARTS = ("train", "valid", "test")


class SplitError(AppError):
    """A split part is empty or has a single class, or the split parameters are invalid."""

    status_code = 422
    code = "split_invalid"


@dataclass(frozen=True)
class Split:
    """Positional row indices of each part, and the ``as_of`` window of each (time split).

    ``windows`` maps a part to its (first, last) ``as_of``; empty for a stratified split.
    """

    method: str  # "time" or "stratified"
    train: npt.NDArray[np.intp]
    valid: npt.NDArray[np.intp]
    test: npt.NDArray[np.intp]
    windows: dict[str, tuple[pd.Timestamp, pd.Timestamp]]

    def part(self, name: str) -> npt.NDArray[np.intp]:
        """Indices of ``name`` (one of ``train``, ``valid``, ``test``)."""
        if name not in PARTS:
            raise KeyError(name)
        idx: npt.NDArray[np.intp] = getattr(self, name)
        return idx

    def sizes(self) -> dict[str, int]:
        return {name: len(self.part(name)) for name in PARTS}


def _cut_at_fraction(sorted_times: npt.NDArray[np.int64], fraction: float) -> int:
    """The time (ns) at the ``fraction`` position of the sorted times."""
    pos = min(int(np.floor(len(sorted_times) * fraction)), len(sorted_times) - 1)
    return int(sorted_times[pos])


def time_split(
    as_of: pd.Series,
    *,
    train_fraction: float = 0.6,
    valid_fraction: float = 0.2,
    valid_start: date | None = None,
    test_start: date | None = None,
    embargo_days: int = 0,
    maturity_days: int = 0,
) -> Split:
    """Split rows by their ``as_of`` time.

    Parameters
    ----------
    as_of
        Time per row (datetime64).
    train_fraction, valid_fraction
        Used when no dates are given: the cut dates are the ``as_of`` at those fractions of
        rows in time order; all rows of the cut date go to the later part.
    valid_start, test_start
        Explicit cut dates (validation from ``valid_start``, test from ``test_start``).
    embargo_days
        Rows less than this many days (as_of) before the next part's start are dropped.
    maturity_days
        Rows within this many days of the latest ``as_of`` are dropped before cutting: their
        labels are immature (only the outcomes that resolved early are known, a selection
        that biases the test window's base rate).

    Returns
    -------
    Split
        Positional indices; no part is checked for classes here (see :func:`check_split`).
    """
    stamps = pd.to_datetime(pd.Series(as_of)).reset_index(drop=True)
    if len(stamps) == 0:
        raise SplitError("cannot split an empty frame")
    if stamps.isna().any():
        raise SplitError("as_of has missing times; a time split needs every row's time")
    # integer nanoseconds since the epoch: plain comparisons, no datetime typing games
    times = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    day_ns = 86_400 * 10**9
    mature = times <= times.max() - maturity_days * day_ns
    if not mature.any():
        raise SplitError(f"no rows are older than maturity_days={maturity_days}")
    if valid_start is not None and test_start is not None:
        t_valid = pd.Timestamp(valid_start).value
        t_test = pd.Timestamp(test_start).value
        if t_valid >= t_test:
            raise SplitError("valid_start must be before test_start")
    elif valid_start is None and test_start is None:
        if not (0 < train_fraction < 1 and 0 < valid_fraction < 1):
            raise SplitError("fractions must be between 0 and 1")
        if train_fraction + valid_fraction >= 1:
            raise SplitError("train_fraction + valid_fraction must be below 1")
        ordered = np.sort(times[mature])
        t_valid = _cut_at_fraction(ordered, train_fraction)
        t_test = _cut_at_fraction(ordered, train_fraction + valid_fraction)
    else:
        raise SplitError("give both valid_start and test_start, or neither")

    embargo = embargo_days * day_ns
    positions = np.arange(len(times), dtype=np.intp)
    train = positions[(times < t_valid - embargo) & mature]
    valid = positions[(times >= t_valid) & (times < t_test - embargo) & mature]
    test = positions[(times >= t_test) & mature]
    for name, idx in (("train", train), ("valid", valid), ("test", test)):
        if len(idx) == 0:
            raise SplitError(
                f"the {name} part of the time split is empty (cuts: validation from "
                f"{pd.Timestamp(t_valid).date()}, test from {pd.Timestamp(t_test).date()}; "
                f"data from {pd.Timestamp(times.min()).date()} to "
                f"{pd.Timestamp(times.max()).date()})",
                part=name,
            )
    windows = {
        name: (pd.Timestamp(int(times[idx].min())), pd.Timestamp(int(times[idx].max())))
        for name, idx in (("train", train), ("valid", valid), ("test", test))
    }
    return Split("time", train, valid, test, windows)


def stratified_split(
    y: pd.Series | npt.ArrayLike,
    *,
    train_fraction: float = 0.6,
    valid_fraction: float = 0.2,
    seed: int = 42,
) -> Split:
    """A seeded split that keeps each class's share in every part (data without times).

    Each class's rows are shuffled with ``seed`` and cut at the fractions, so the parts' base
    rates match up to one row per class.
    """
    labels = np.asarray(y)
    if len(labels) == 0:
        raise SplitError("cannot split an empty frame")
    if train_fraction + valid_fraction >= 1:
        raise SplitError("train_fraction + valid_fraction must be below 1")
    rng = np.random.default_rng(seed)
    parts: dict[str, list[npt.NDArray[np.intp]]] = {name: [] for name in PARTS}
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls).astype(np.intp)
        rng.shuffle(idx)
        n_train = round(len(idx) * train_fraction)
        n_valid = round(len(idx) * valid_fraction)
        parts["train"].append(idx[:n_train])
        parts["valid"].append(idx[n_train : n_train + n_valid])
        parts["test"].append(idx[n_train + n_valid :])
    train, valid, test = (np.sort(np.concatenate(parts[name])) for name in PARTS)
    for name, idx in (("train", train), ("valid", valid), ("test", test)):
        if len(idx) == 0:
            raise SplitError(f"the {name} part of the stratified split is empty", part=name)
    return Split("stratified", train, valid, test, {})


def check_split(y: pd.Series | npt.ArrayLike, split: Split) -> None:
    """Raise :class:`SplitError` when a part is empty or holds a single class.

    AUC, calibration and early stopping all need both classes in every part.
    """
    labels = np.asarray(y)
    for name in PARTS:
        idx = split.part(name)
        if len(idx) == 0:
            raise SplitError(f"the {name} part is empty", part=name)
        classes = np.unique(labels[idx])
        if len(classes) < 2:
            window = split.windows.get(name)
            where = f" (as_of {window[0].date()} to {window[1].date()})" if window else ""
            raise SplitError(
                f"the {name} part{where} has a single class ({classes[0]!r}) in "
                f"{len(idx)} rows; move the split dates or use more data",
                part=name,
            )

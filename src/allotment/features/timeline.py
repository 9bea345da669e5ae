"""Point-in-time aggregates over dated events, vectorized.

Every history feature is a sum over events (a receipt, a shipment, an ETA change, ...) whose
day is at most the as-of day, possibly within a trailing window. :func:`cum_at` answers many
such queries at once with one binary search per query over the events sorted by (key, day)
(:func:`_asof_rows`); a window ``(T - w, T]`` is ``cum_at(T) - cum_at(T - w)``. Nothing dated
after the query day can enter a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Cumulated:
    """Events summed per key and day, then cumulated per key (sorted by day): what
    :func:`cum_at` builds from events, kept to answer several queries - a window's two ends,
    several windows, several frames - from one pass over the events.

    Build with :func:`cumulate`; pass instead of the events to :func:`cum_at` and
    :func:`window_sum`.
    """

    frame: pd.DataFrame  # columns _k, _d and the value columns, sorted by (_k, _d)
    values: tuple[str, ...]


def cumulate(
    events: pd.DataFrame, *, values: Sequence[str], key: str = "key", day: str = "day"
) -> Cumulated:
    """The running sums of ``values`` per ``key`` by ``day`` (see :class:`Cumulated`)."""
    cols = list(values)
    if len(events) == 0:
        return Cumulated(pd.DataFrame(columns=["_k", "_d", *cols]), tuple(cols))
    ev = (
        events[[key, day, *cols]]
        .astype({key: np.int64, day: np.int64})
        .groupby([key, day], sort=True)[cols]
        .sum()
        .astype(np.float64)
    )
    # Grouped with sort=True: the rows come sorted by (key, day), unique pairs.
    ev = ev.groupby(level=0).cumsum().reset_index()
    ev = ev.rename(columns={key: "_k", day: "_d"})
    return Cumulated(ev, tuple(cols))


def cum_at(
    events: pd.DataFrame | Cumulated,
    query_key: pd.Series | np.ndarray,
    query_day: pd.Series | np.ndarray,
    *,
    values: Sequence[str],
    key: str = "key",
    day: str = "day",
) -> pd.DataFrame:
    """Sum of each value column over the events of a key dated on or before each query day.

    Parameters
    ----------
    events
        One row per event: ``key`` (int), ``day`` (int day number) and the ``values``; or
        those events already :func:`cumulate`-d (with at least these ``values``).
    query_key, query_day
        One query per position (same length): the key and the as-of day (int day number).
    values
        The event columns to sum.
    key, day
        Column names of the key and the day in ``events``.

    Returns
    -------
    pandas.DataFrame
        One row per query, in query order (a fresh ``RangeIndex``), one float column per
        value; 0 where no event qualifies.
    """
    qk = np.asarray(query_key, dtype=np.int64)
    qd = np.asarray(query_day, dtype=np.int64)
    n = len(qk)
    cols = list(values)
    if not isinstance(events, Cumulated):
        if n == 0 or len(events) == 0:
            return pd.DataFrame(np.zeros((n, len(cols))), columns=cols)
        # Only the queried keys' events (the same rows, in the same order: sums per key and
        # day are unchanged).
        events = cumulate(_of_keys(events, key, qk), values=cols, key=key, day=day)
    if n == 0 or len(events.frame) == 0:
        return pd.DataFrame(np.zeros((n, len(cols))), columns=cols)
    ev = events.frame
    rows = _asof_rows(ev["_k"].to_numpy(np.int64), ev["_d"].to_numpy(np.int64), qk, qd)
    if rows is None:  # day numbers too far apart for one search key: pandas does it
        return _cum_at_merge(ev, qk, qd, cols)
    found = rows >= 0
    out = np.zeros((n, len(cols)), dtype=np.float64)
    for j, col in enumerate(cols):
        picked = ev[col].to_numpy(np.float64)[rows[found]]
        out[found, j] = np.where(np.isnan(picked), 0.0, picked)  # as fillna(0.0)
    return pd.DataFrame(out, columns=cols)


def _cum_at_merge(
    ev: pd.DataFrame, qk: np.ndarray, qd: np.ndarray, cols: list[str]
) -> pd.DataFrame:
    """:func:`cum_at` on cumulated rows with :func:`pandas.merge_asof` (any day numbers)."""
    ev = _of_keys(ev, "_k", qk)[["_k", "_d", *cols]].sort_values("_d", kind="stable")
    queries = pd.DataFrame({"_k": qk, "_d": qd, "_pos": np.arange(len(qk))}).sort_values(
        "_d", kind="stable"
    )
    merged = pd.merge_asof(queries, ev, on="_d", by="_k", direction="backward")
    merged = merged.sort_values("_pos")
    out = merged[cols].fillna(0.0).reset_index(drop=True)
    return out.astype(np.float64)


#: The largest search key :func:`_asof_rows` builds (key rank x day span + day): int64-safe.
_MAX_SEARCH_KEY = 2**62


def _asof_rows(
    event_key: np.ndarray, event_day: np.ndarray, query_key: np.ndarray, query_day: np.ndarray
) -> np.ndarray | None:
    """For each query, the position of the event of the same key with the latest day on or
    before the query day (-1 if none): ``merge_asof(direction="backward", by=key)``.

    The events must be sorted by (key, day) with unique pairs. One search key per event,
    ``rank(key) x span + day`` (days clipped to the events' range minus one, which keeps
    every comparison), so one :func:`numpy.searchsorted` answers every query. ``None`` when
    that key would not fit in int64 (the caller falls back to :func:`pandas.merge_asof`).
    """
    if len(event_key) == 0:
        return np.full(len(query_key), -1, dtype=np.int64)
    keys, starts = np.unique(event_key, return_index=True)
    low, high = int(event_day.min()) - 1, int(event_day.max())
    span = high - low + 1
    if span * (len(keys) + 1) >= _MAX_SEARCH_KEY:
        return None
    rank = np.repeat(
        np.arange(len(keys), dtype=np.int64), np.diff(np.append(starts, len(event_key)))
    )
    search = rank * span + (event_day - low)
    at = np.searchsorted(keys, query_key)
    known = at < len(keys)
    known[known] = keys[at[known]] == query_key[known]
    wanted = at * span + (np.clip(query_day, low, high) - low)
    rows = np.searchsorted(search, wanted, side="right") - 1
    hit = known & (rows >= 0)
    hit[hit] = rank[rows[hit]] == at[hit]
    return np.where(hit, rows, -1).astype(np.int64)


def window_sum(
    events: pd.DataFrame | Cumulated,
    query_key: pd.Series | np.ndarray,
    query_day: pd.Series | np.ndarray,
    *,
    values: Sequence[str],
    window_days: int,
    key: str = "key",
    day: str = "day",
) -> pd.DataFrame:
    """Like :func:`cum_at`, over events dated in ``(T - window_days, T]`` (T the query day)."""
    qd = np.asarray(query_day, dtype=np.int64)
    if not isinstance(events, Cumulated) and len(events):
        qk = np.asarray(query_key, dtype=np.int64)
        # once for both ends, of the queried keys only
        events = cumulate(_of_keys(events, key, qk), values=values, key=key, day=day)
    now = cum_at(events, query_key, qd, values=values, key=key, day=day)
    before = cum_at(events, query_key, qd - window_days, values=values, key=key, day=day)
    return now - before


def last_at(
    events: pd.DataFrame,
    query_key: pd.Series | np.ndarray,
    query_day: pd.Series | np.ndarray,
    *,
    value: str,
    key: str = "key",
    day: str = "day",
    order: str | None = None,
) -> pd.Series:
    """The value of the latest event of a key dated on or before each query day (NaN if none).

    Ties on the same day are broken by ``order`` (ascending; the last wins), else by row order.
    """
    qk = np.asarray(query_key, dtype=np.int64)
    qd = np.asarray(query_day, dtype=np.int64)
    n = len(qk)
    if n == 0 or len(events) == 0:
        return pd.Series(np.full(n, np.nan))
    sort_cols = [day] if order is None else [day, order]
    ev = _of_keys(events, key, qk)
    if len(ev) == 0:
        return pd.Series(np.full(n, np.nan))
    ev = ev.sort_values(sort_cols, kind="stable")
    ev = ev.drop_duplicates([key, day], keep="last")
    ev = pd.DataFrame(
        {
            "_k": ev[key].to_numpy(np.int64),
            "_d": ev[day].to_numpy(np.int64),
            "_v": ev[value].to_numpy(np.float64),
        }
    )
    by_key = ev.sort_values(["_k", "_d"], kind="stable")  # unique (key, day) pairs
    rows = _asof_rows(by_key["_k"].to_numpy(), by_key["_d"].to_numpy(), qk, qd)
    if rows is not None:
        found = rows >= 0
        out = np.full(n, np.nan)
        out[found] = by_key["_v"].to_numpy()[rows[found]]
        return pd.Series(out)
    queries = pd.DataFrame({"_k": qk, "_d": qd, "_pos": np.arange(n)}).sort_values(
        "_d", kind="stable"
    )
    merged = pd.merge_asof(queries, ev, on="_d", by="_k", direction="backward")
    merged = merged.sort_values("_pos")
    return pd.Series(merged["_v"].to_numpy(np.float64))


def _of_keys(frame: pd.DataFrame, key: str, query_key: np.ndarray) -> pd.DataFrame:
    """The rows of ``frame`` whose ``key`` is one of ``query_key``, in their order (the
    whole frame when every row's key is asked for).

    Every result is computed per key, so leaving out the events of keys nobody asks about
    changes nothing - and a backlog asks about a fraction of the keys of years of events.
    """
    mask = frame[key].isin(np.unique(query_key)).to_numpy()  # a hash table, not a sort
    return frame if mask.all() else frame[mask]

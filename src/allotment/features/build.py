"""Task frames: the rows, their features as of each row's day, and (separately) their labels.

One function per task builds a :class:`~allotment.features.frame.TaskFrame`:

* :func:`supplier_delay_frame` - a PO line at its order date (training) or the open PO lines
  at ``T`` (scoring);
* :func:`sla_breach_frame` - a backorder at its creation (training) or the active backorders
  at ``T`` (scoring);
* :func:`churn_frame` - each active customer at each month start (training) or at ``T``.

Features are computed from dated facts only (receipts, shipments, ETA history, status
history, order and PO dates, contract versions); current-state columns (statuses, received
and shipped totals, ``current_eta``, ``churned_on``, inventory) never feed a feature. Labels
use the future by definition and live in the ``*_labels`` functions.

A few facts carry no date in the schema and are taken as known from the start of their
subject: a PO line's cancellation (``status = 'cancelled'``; such lines never deliver, so they
are left out of supplier histories and of the rows), a backorder's ``po_line_id`` (ignored
while the PO line it names was not yet ordered), a customer's tier, a supplier's region and
the substitute list. A source system that rewrites these in place leaks a little into past
as-of days; the schema would need their history to prevent it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Connection, Engine

from allotment.domain.enums import BackorderStatus
from allotment.domain.models import ACTIVE_BACKORDER_STATUSES
from allotment.features.frame import Task, TaskFrame
from allotment.features.oracle import oracle_for
from allotment.features.registry import (
    CHURN_HORIZON_DAYS,
    SERVICE_WINDOW_DAYS,
    SPECS,
    SUPPLIER_REGIONS,
    TASK_FEATURES,
    feature_kinds,
)
from allotment.features.tables import NEVER, Tables, day_to_timestamp, load_tables, to_day
from allotment.features.timeline import Cumulated, cum_at, cumulate, last_at, window_sum

Source = Engine | Connection | Tables
DayLike = date | datetime | pd.Timestamp | np.datetime64 | str
#: ``None`` (training rows), one day (scoring rows), or several days (scoring rows at each).
AsOf = DayLike | Sequence[DayLike] | None

#: Pass as ``as_of`` to score at the latest day with data.
LATEST = "latest"
_STATUS_CODE = {status.value: code for code, status in enumerate(BackorderStatus)}
_ACTIVE_CODES = [_STATUS_CODE[status.value] for status in ACTIVE_BACKORDER_STATUSES]
_YEAR_DAYS = 365  # contracts renew yearly
#: Weights of the bad-service index (points per event) and its prior in order lines: a breach
#: hurts more than a backorder that still arrives in time, each late day adds a little, and a
#: customer who orders a lot notices one problem less.
BAD_PER_BACKORDER, BAD_PER_BREACH, BAD_PER_LATE_DAY = 1.0, 1.5, 0.15
BAD_LINES_PRIOR = 3.0
#: Days from order to a first-seen outcome for it to count as fresh news about the supplier.
FRESH_OUTCOME_DAYS = 30


def _tables(source: Source) -> Tables:
    return source if isinstance(source, Tables) else load_tables(source)


# --- derived facts (each one a fixed, dated fact about a subject) -----------------------------


def po_line_facts(t: Tables) -> pd.DataFrame:
    """One row per PO line: its header, value, and the days its outcome was revealed.

    Computed once per loaded :class:`Tables` (shared, not to be modified in place).

    ``final_day``: cumulative receipts reached the quantity (:data:`NEVER` if not yet).
    ``late``: the final receipt came after the promised date (or has not come).
    ``late_seen_day``: the first day lateness was visible - an ETA recorded past the promised
    date, or the day after the promised date without a full receipt (:data:`NEVER` if the line
    was never seen late). ``late_seen_day`` and ``final_day`` are what the supplier features
    read; ``late`` is a label and is only used through them.
    """
    return t.derived("po_line_facts", _po_line_facts)


def _po_line_facts(t: Tables) -> pd.DataFrame:
    pol = t.po_lines.merge(
        t.purchase_orders.rename(columns={"id": "purchase_order_id"}),
        on="purchase_order_id",
        how="left",
    )
    pol["value_usd"] = pol["quantity"] * pol["unit_cost_usd"]  # USD
    pol["cancelled"] = pol["status"] == "cancelled"
    pol["final_day"] = _completion_day(
        t.receipts, "po_line_id", "received_day", pol["id"], pol["quantity"]
    )
    pol["late"] = (pol["final_day"] > pol["promised_day"]).astype(np.float64)
    eta = t.eta_changes.merge(
        pol[["id", "promised_day"]], left_on="po_line_id", right_on="id", how="inner"
    )
    past_promise = eta[eta["new_day"] > eta["promised_day"]]
    first_slip = past_promise.groupby("po_line_id")["recorded_day"].min()
    slip_day = pol["id"].map(first_slip).fillna(NEVER).astype(np.int64).to_numpy()
    seen = np.minimum(slip_day, pol["promised_day"].to_numpy() + 1)
    # Seen late only if that happened before the full receipt (or the line is late anyway).
    visible = (seen < pol["final_day"].to_numpy()) | (pol["late"].to_numpy() > 0)
    pol["late_seen_day"] = np.where(visible, seen, NEVER)
    return pol.set_index("id", drop=False)


def _outcome_events(pol: pd.DataFrame) -> pd.DataFrame:
    """Outcome events of PO lines (not cancelled): ``known`` and ``late`` increments by day.

    A line seen late counts late from ``late_seen_day``; if it then arrives by its promised
    date after all, it turns on time on that day. A line never seen late counts on time from
    its full receipt. Every event is dated when it was learned. ``fresh``: the line's outcome
    was first seen within :data:`FRESH_OUTCOME_DAYS` of its order date (all its events carry
    the flag of its first one).
    """
    live = pol[~pol["cancelled"]]
    seen = live["late_seen_day"].to_numpy()
    final = live["final_day"].to_numpy()
    sup = live["supplier_id"].to_numpy()
    was_seen = seen < NEVER
    recovered = was_seen & (final <= live["promised_day"].to_numpy())
    on_time = ~was_seen & (final < NEVER)
    first = np.where(was_seen, seen, final)
    fresh = first - live["ordered_day"].to_numpy() <= FRESH_OUTCOME_DAYS
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "key": sup[was_seen],
                    "day": seen[was_seen],
                    "known": 1.0,
                    "late": 1.0,
                    "fresh": fresh[was_seen],
                }
            ),
            pd.DataFrame(
                {
                    "key": sup[recovered],
                    "day": final[recovered],
                    "known": 0.0,
                    "late": -1.0,
                    "fresh": fresh[recovered],
                }
            ),
            pd.DataFrame(
                {
                    "key": sup[on_time],
                    "day": final[on_time],
                    "known": 1.0,
                    "late": 0.0,
                    "fresh": fresh[on_time],
                }
            ),
        ],
        ignore_index=True,
    )


def order_line_facts(t: Tables) -> pd.DataFrame:
    """One row per customer order line, with its order, completion and cancellation days.

    ``complete_day``: cumulative shipments reached the quantity; ``cancel_day``: its backorder
    entered ``cancelled`` (lines are only cancelled while backordered); ``end_day``: the
    earlier of the two (the line stopped waiting). :data:`NEVER` when it did not happen.
    Computed once per loaded :class:`Tables` (shared, not to be modified in place).
    """
    return t.derived("order_line_facts", _order_line_facts)


def _order_line_facts(t: Tables) -> pd.DataFrame:
    lines = t.order_lines.merge(
        t.orders.rename(columns={"id": "order_id"}), on="order_id", how="left"
    )
    lines["value_usd"] = lines["quantity"] * lines["unit_price_usd"]  # USD
    lines["complete_day"] = _completion_day(
        t.shipments, "order_line_id", "shipped_day", lines["id"], lines["quantity"]
    )
    cancels = t.status_changes[t.status_changes["to_status"] == "cancelled"].merge(
        t.backorders[["id", "order_line_id"]].rename(columns={"id": "backorder_id"}),
        on="backorder_id",
    )
    first_cancel = cancels.groupby("order_line_id")["changed_day"].min()
    lines["cancel_day"] = lines["id"].map(first_cancel).fillna(NEVER).astype(np.int64).to_numpy()
    lines["end_day"] = np.minimum(lines["complete_day"], lines["cancel_day"])
    return lines.set_index("id", drop=False)


def _completion_day(
    events: pd.DataFrame, key: str, day: str, ids: pd.Series, quantity: pd.Series
) -> np.ndarray:
    """Day on which cumulative event quantity first reached ``quantity`` per id (else NEVER)."""
    if events.empty:
        return np.full(len(ids), NEVER, dtype=np.int64)
    ev = events.groupby([key, day], sort=True)["quantity"].sum().reset_index()
    ev["cum"] = ev.groupby(key)["quantity"].cumsum()
    need = pd.Series(quantity.to_numpy(), index=ids.to_numpy())
    ev["need"] = ev[key].map(need)
    done = ev[ev["cum"] >= ev["need"]].groupby(key)[day].min()
    return ids.map(done).fillna(NEVER).astype(np.int64).to_numpy()


# --- supplier history --------------------------------------------------------------------------


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def supplier_history(t: Tables, sup: np.ndarray, day: np.ndarray) -> pd.DataFrame:
    """Supplier features for each (supplier id, as-of day) query, in query order."""
    ev = t.derived("supplier_events", _supplier_events)
    out = pd.DataFrame(index=range(len(sup)))
    recent = window_sum(ev["fresh"], sup, day, values=["known", "late"], window_days=30)
    out["sup_fresh_ontime_rate_30d"] = 1.0 - _ratio(
        recent["late"].to_numpy(), recent["known"].to_numpy()
    )
    for w in (30, 90, 365):
        o = window_sum(ev["outcomes"], sup, day, values=["known", "late"], window_days=w)
        out[f"sup_ontime_rate_{w}d"] = 1.0 - _ratio(o["late"].to_numpy(), o["known"].to_numpy())
        if w == 30:
            continue
        d = window_sum(
            ev["deliveries"], sup, day, values=["n", "late_days", "dev", "dev2"], window_days=w
        )
        out[f"sup_mean_days_late_{w}d"] = _ratio(d["late_days"].to_numpy(), d["n"].to_numpy())
        if w == 365:
            n = d["n"].to_numpy()
            mean = _ratio(d["dev"].to_numpy(), n)
            var = _ratio(d["dev2"].to_numpy(), n) - mean**2
            out["sup_arrival_dev_std_365d"] = np.where(
                n >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan
            )
            out["sup_deliveries_365d"] = n
    out["sup_overdue_open_lines"] = cum_at(ev["overdue"], sup, day, values=["overdue"])["overdue"]
    out["sup_eta_slips_30d"] = window_sum(ev["slips"], sup, day, values=["slips"], window_days=30)[
        "slips"
    ]
    everyone = np.zeros(len(day), np.int64)
    g = window_sum(ev["everyone"], everyone, day, values=["known", "late"], window_days=30)
    out["global_ontime_rate_30d"] = 1.0 - _ratio(g["late"].to_numpy(), g["known"].to_numpy())
    gs = window_sum(ev["slip_size"], everyone, day, values=["n", "days"], window_days=30)
    out["global_mean_slip_days_30d"] = _ratio(gs["days"].to_numpy(), gs["n"].to_numpy())
    return out


def _supplier_events(t: Tables) -> dict[str, Cumulated]:
    """The dated events supplier features sum, cumulated once per loaded tables."""
    pol = po_line_facts(t)
    live = pol[~pol["cancelled"]]
    outcomes = _outcome_events(pol)
    done = live[live["final_day"] < NEVER]
    dev = (done["final_day"] - done["promised_day"]).to_numpy(np.float64)  # days
    deliveries = pd.DataFrame(
        {
            "key": done["supplier_id"].to_numpy(),
            "day": done["final_day"].to_numpy(),
            "n": 1.0,
            "late_days": np.maximum(dev, 0.0),
            "dev": dev,
            "dev2": dev**2,
        }
    )
    # Overdue and open: +1 the day after the promise for a line not received by then (known
    # that day), -1 when it is finally received.
    late = live[live["final_day"] > live["promised_day"]]
    late_done = late[late["final_day"] < NEVER]
    overdue = pd.concat(
        [
            pd.DataFrame(
                {"key": late["supplier_id"], "day": late["promised_day"] + 1, "overdue": 1.0}
            ),
            pd.DataFrame(
                {"key": late_done["supplier_id"], "day": late_done["final_day"], "overdue": -1.0}
            ),
        ],
        ignore_index=True,
    )
    eta = t.eta_changes
    slipped = eta[(eta["previous_day"] < NEVER) & (eta["new_day"] > eta["previous_day"])]
    slips = pd.DataFrame(
        {
            "key": slipped["po_line_id"].map(pol["supplier_id"]).to_numpy(),
            "day": slipped["recorded_day"].to_numpy(),
            "slips": 1.0,
        }
    ).dropna()
    slip_size = pd.DataFrame(
        {
            "key": 0,
            "day": slipped["recorded_day"].to_numpy(),
            "n": 1.0,
            "days": (slipped["new_day"] - slipped["previous_day"]).to_numpy(np.float64),
        }
    )
    return {
        "fresh": cumulate(outcomes[outcomes["fresh"]], values=["known", "late"]),
        "outcomes": cumulate(outcomes, values=["known", "late"]),
        "deliveries": cumulate(deliveries, values=["n", "late_days", "dev", "dev2"]),
        "overdue": cumulate(overdue, values=["overdue"]),
        "slips": cumulate(slips, values=["slips"]),
        "everyone": cumulate(outcomes.assign(key=0), values=["known", "late"]),
        "slip_size": cumulate(slip_size, values=["n", "days"]),
    }


def _po_line_state(pol: pd.DataFrame, t: Tables, line: np.ndarray, day: np.ndarray) -> pd.DataFrame:
    """What was known about PO lines ``line`` at days ``day``: ETA, slips, received share."""
    eta = t.eta_changes
    latest = last_at(
        eta, line, day, value="new_day", key="po_line_id", day="recorded_day", order="id"
    )
    promised = pol["promised_day"].reindex(line).to_numpy(np.float64)
    eta_day = np.where(np.isnan(latest.to_numpy()), promised, latest.to_numpy())
    slipped = eta[(eta["previous_day"] < NEVER) & (eta["new_day"] > eta["previous_day"])].assign(
        slips=1.0
    )
    slips = cum_at(slipped, line, day, values=["slips"], key="po_line_id", day="recorded_day")
    received = cum_at(
        t.receipts, line, day, values=["quantity"], key="po_line_id", day="received_day"
    )
    qty = pol["quantity"].reindex(line).to_numpy(np.float64)
    return pd.DataFrame(
        {
            "eta_day": eta_day,
            "slips": slips["slips"].to_numpy(),
            "received_share": np.clip(received["quantity"].to_numpy() / qty, 0.0, 1.0),
        }
    )


# --- output -------------------------------------------------------------------------------------


def _finish(
    task: Task,
    values: dict[str, np.ndarray | pd.Series],
    ids: np.ndarray,
    as_of: np.ndarray,
    y: np.ndarray | None,
    extra: dict[str, np.ndarray],
    t: Tables,
) -> TaskFrame:
    """Assemble a frame: registry order, float64 / fixed categories, labels and oracle."""
    cols: dict[str, pd.Series] = {}
    for name in TASK_FEATURES[task]:
        spec = SPECS[name]
        raw = values[name]
        if spec.categories:
            cols[name] = pd.Series(
                pd.Categorical(np.asarray(raw, dtype=object), categories=list(spec.categories))
            )
        else:
            cols[name] = pd.Series(np.asarray(raw, dtype=np.float64))
    X = pd.DataFrame(cols)
    if y is not None and t.truths is None:
        raise ValueError("tables loaded with truths=False build scoring frames only")
    return TaskFrame(
        task=task,
        X=X,
        features=feature_kinds(task),
        ids=pd.Series(np.asarray(ids, dtype=np.int64), name="id"),
        as_of=day_to_timestamp(as_of).rename("as_of"),
        y=None if y is None else pd.Series(y.astype(np.int8), name="y"),
        extra_targets={k: pd.Series(v, name=k) for k, v in extra.items()},
        oracle=None if y is None or t.truths is None else oracle_for(t.truths, task, ids, as_of),
    )


def _only(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> npt.NDArray[Any]:
    """Object array of ``values`` where ``mask``, None (a missing category) elsewhere."""
    out = np.asarray(values, dtype=object).copy()
    out[~mask] = None
    return out


def _keep(mask: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    return [a[mask] for a in arrays]


def _of_subjects(
    ids: npt.NDArray[np.int64], subjects: npt.ArrayLike | None
) -> npt.NDArray[np.bool_] | None:
    """Which rows are about one of ``subjects`` (``None``: all rows, no mask)."""
    if subjects is None:
        return None
    wanted = pd.to_numeric(pd.Series(np.asarray(subjects, dtype=object)), errors="coerce")
    return np.isin(ids, wanted.dropna().to_numpy(np.int64))


def _scoring_days(t: Tables, as_of: AsOf) -> npt.NDArray[np.int64]:
    """The distinct as-of days asked for: one day, or several (sorted)."""
    if as_of is None or (isinstance(as_of, str) and as_of == LATEST):
        return np.array([t.data_end], dtype=np.int64)
    if isinstance(as_of, (str, date, datetime, pd.Timestamp, np.datetime64)):
        return np.array([to_day(as_of)], dtype=np.int64)
    return np.unique(np.array([to_day(d) for d in as_of], dtype=np.int64))


def _stack(
    frame: pd.DataFrame, days: npt.NDArray[np.int64], select: Callable[[int], npt.NDArray[np.bool_]]
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """The rows of ``frame`` selected at each day, stacked, with their day (a loop over days)."""
    parts = [frame[select(int(d))] for d in days]
    stacked = pd.concat(parts) if parts else frame.iloc[:0]
    day = np.concatenate(
        [np.full(len(p), d, dtype=np.int64) for p, d in zip(parts, days, strict=True)]
    )
    return stacked, day


# --- supplier delay -----------------------------------------------------------------------------


def supplier_delay_labels(pol: pd.DataFrame, data_end: int) -> tuple[np.ndarray, np.ndarray]:
    """Late (1/0, NaN unknown) and days late (NaN unknown or censored) per PO line.

    Late: not fully received by the promised date (received after it, or still out). Known
    once the promised date is on or before ``data_end`` - also for lines already received
    early: counting those while the not-yet-due open lines are unknown would make the latest
    rows look better than they are. Days late: ``max(0, final receipt - promised)`` for
    received lines; NaN (censored) for lines still out at ``data_end``. Cancelled lines are
    unknown.
    """
    final = pol["final_day"].to_numpy()
    promised = pol["promised_day"].to_numpy()
    received = final <= data_end
    late = (final > promised).astype(np.float64)
    known = (promised <= data_end) & ~pol["cancelled"].to_numpy()
    late[~known] = np.nan
    days = np.where(received & known, np.maximum(final - promised, 0), np.nan).astype(np.float64)
    return late, days


def supplier_delay_frame(
    source: Source,
    *,
    as_of: AsOf = None,
    labels: bool | None = None,
    data_end: DayLike | None = None,
    subjects: npt.ArrayLike | None = None,
) -> TaskFrame:
    """Supplier-delay frame: one row per PO line.

    Parameters
    ----------
    source
        Engine, connection, or :class:`~allotment.features.tables.Tables` already loaded.
    as_of
        ``None`` (training): every PO line that is not cancelled, as of its PO's order date.
        A day (scoring): the PO lines open at that day (ordered by it, not cancelled, not fully
        received by it), as of that day. Several days: those rows at each day, stacked (with
        ``labels=True``, training rows that look like scoring rows: a line seen at different
        ages, with its ETA slips and partial receipts known by then).
    labels
        Attach ``y`` (late) and ``extra_targets["days_late"]`` and drop rows whose outcome is
        unknown at ``data_end``; default: True for training, False for scoring.
    data_end
        The last day of data for labels (default: the latest dated fact).
    subjects
        Scoring only: keep the rows of these subject ids (``ids``) before computing their
        features - the rows and values are those of the full frame, in its order. ``None``:
        every row.

    Returns
    -------
    TaskFrame
        ``ids`` are ``purchase_order_lines.id``; ``oracle`` is attached with labels.
    """
    t = _tables(source)
    end = t.data_end if data_end is None else to_day(data_end)
    pol = po_line_facts(t)
    live = pol[~pol["cancelled"]]
    if as_of is None:
        rows = live
        day = rows["ordered_day"].to_numpy(np.int64)
    else:
        ordered, final = live["ordered_day"].to_numpy(), live["final_day"].to_numpy()
        rows, day = _stack(live, _scoring_days(t, as_of), lambda at: (ordered <= at) & (final > at))
        mine = _of_subjects(rows["id"].to_numpy(np.int64), subjects)
        if mine is not None:
            rows, day = rows[mine], day[mine]
    want_labels = (as_of is None) if labels is None else labels
    ids = rows["id"].to_numpy(np.int64)
    y = days_late = None
    if want_labels:
        late, dl = supplier_delay_labels(rows, end)
        known = ~np.isnan(late)
        rows = rows[known]
        ids, day, late, dl = _keep(known, ids, day, late, dl)
        y, days_late = late, dl
    sup = rows["supplier_id"].to_numpy(np.int64)
    values: dict[str, np.ndarray | pd.Series] = dict(supplier_history(t, sup, day))
    state = _po_line_state(pol, t, ids, day)
    promised = rows["promised_day"].to_numpy(np.int64)
    ordered = rows["ordered_day"].to_numpy(np.int64)
    region = rows["supplier_id"].map(t.suppliers.set_index("id")["region"]).to_numpy(object)
    month = day_to_timestamp(ordered).dt.month.to_numpy()
    values.update(
        ship_mode=rows["ship_mode"].to_numpy(object),
        supplier_region=_only(region, np.isin(region, SUPPLIER_REGIONS)),
        promised_lead_days=promised - ordered,
        days_to_promise=promised - day,
        po_age_days=day - ordered,
        quantity=rows["quantity"].to_numpy(),
        line_value_usd=rows["value_usd"].to_numpy(),
        order_month=month,
        order_day_of_year=day_to_timestamp(ordered).dt.day_of_year.to_numpy(),
        is_q4=(month >= 10).astype(np.float64),
        eta_slips_known=state["slips"].to_numpy(),
        eta_slip_days_known=state["eta_day"].to_numpy() - promised,
        received_share_known=state["received_share"].to_numpy(),
    )
    extra = {} if days_late is None else {"days_late": days_late}
    return _finish(Task.SUPPLIER_DELAY, values, ids, day, y, extra, t)


# --- SLA breach ---------------------------------------------------------------------------------


def sla_breach_labels(lines: pd.DataFrame, data_end: int) -> np.ndarray:
    """Breach (1/0, NaN unknown) per order line.

    Breach: not fully shipped by the order's promised date (from shipments; a cancelled line
    was not shipped, so it breached). Known once the promised date is on or before
    ``data_end`` (a line shipped early but not yet due is left out too, so the latest rows are
    not biased towards on-time ones).
    """
    complete = lines["complete_day"].to_numpy()
    promised = lines["promised_day"].to_numpy()
    y = (complete > promised).astype(np.float64)
    unknown = promised > data_end
    y[unknown] = np.nan
    return y


def _contract_at(t: Tables, customer: np.ndarray, day: np.ndarray) -> pd.DataFrame:
    """The contract version in force at each day: the latest ``effective_from`` on or before it.

    ``effective_to`` is not used (it is written when a later version or a churn happens). Before
    the first version, the first version is used.
    """
    con = t.contracts
    first = con.sort_values("version").drop_duplicates("customer_id").set_index("customer_id")
    out = {}
    for col in (
        "version",
        "sla_days",
        "penalty_rate_per_day",
        "allows_partial_ship",
        "renewal_day",
    ):
        got = last_at(
            con.astype({col: np.float64}),
            customer,
            day,
            value=col,
            key="customer_id",
            day="from_day",
            order="version",
        ).to_numpy()
        fallback = first[col].astype(np.float64).reindex(customer).to_numpy()
        out[col] = np.where(np.isnan(got), fallback, got)
    return pd.DataFrame(out)


def _customer_backorders(t: Tables, customer: np.ndarray, day: np.ndarray) -> np.ndarray:
    events = t.derived("customer_backorder_events", _customer_backorder_events)
    return window_sum(events, customer, day, values=["n"], window_days=SERVICE_WINDOW_DAYS)[
        "n"
    ].to_numpy()


def _customer_backorder_events(t: Tables) -> Cumulated:
    """Backorders per customer by creation day, cumulated once per loaded tables."""
    lines = order_line_facts(t)
    bos = t.backorders.assign(
        key=t.backorders["order_line_id"].map(lines["customer_id"]), n=1.0
    ).dropna(subset=["key"])
    return cumulate(bos, values=["n"], day="created_day")


def sla_breach_frame(
    source: Source,
    *,
    as_of: AsOf = None,
    labels: bool | None = None,
    data_end: DayLike | None = None,
    subjects: npt.ArrayLike | None = None,
) -> TaskFrame:
    """SLA-breach frame: one row per backorder (``ids`` are its order line's id).

    Parameters
    ----------
    source
        Engine, connection, or loaded :class:`~allotment.features.tables.Tables`.
    as_of
        ``None`` (training): every backorder created before its order's promised date, as of
        its creation day (one created on or after the promised date is already decided).
        A day (scoring): the backorders active at that day (by their status history). Several
        days: those rows at each day, stacked.
    labels
        Attach ``y`` (breach) and drop rows whose outcome is unknown; default: True for
        training, False for scoring.
    data_end
        The last day of data for labels (default: the latest dated fact).
    subjects
        Scoring only: keep the rows of these subject ids (``ids``) before computing their
        features - the rows and values are those of the full frame, in its order. ``None``:
        every row.

    Returns
    -------
    TaskFrame
        ``ids`` are ``customer_order_lines.id``; ``oracle`` is attached with labels.
    """
    t = _tables(source)
    end = t.data_end if data_end is None else to_day(data_end)
    lines = order_line_facts(t)
    pol = po_line_facts(t)
    bos = t.backorders.merge(
        lines.drop(columns=["id"]), left_on="order_line_id", right_index=True, how="left"
    )
    if as_of is None:
        rows = bos[bos["created_day"] < bos["promised_day"]]
        day = rows["created_day"].to_numpy(np.int64)
    else:
        days = _scoring_days(t, as_of)
        made, day = _stack(bos, days, lambda at: bos["created_day"].to_numpy() <= at)
        mine = _of_subjects(made["order_line_id"].to_numpy(np.int64), subjects)
        if mine is not None:
            made, day = made[mine], day[mine]
        hist = t.status_changes.assign(code=t.status_changes["to_status"].map(_STATUS_CODE))
        status = last_at(
            hist,
            made["id"].to_numpy(),
            day,
            value="code",
            key="backorder_id",
            day="changed_day",
            order="id",
        ).to_numpy()
        # No history row yet counts as open (a backorder starts open).
        active = np.isin(status, _ACTIVE_CODES) | np.isnan(status)
        rows, day = made[active], day[active]
    want_labels = (as_of is None) if labels is None else labels
    ids = rows["order_line_id"].to_numpy(np.int64)
    y = None
    if want_labels:
        breach = sla_breach_labels(rows, end)
        known = ~np.isnan(breach)
        rows = rows[known]
        ids, day, y = _keep(known, ids, day, breach)

    customer = rows["customer_id"].to_numpy(np.int64)
    shipped = cum_at(
        t.shipments, ids, day, values=["quantity"], key="order_line_id", day="shipped_day"
    )["quantity"].to_numpy()
    open_qty = np.maximum(rows["quantity"].to_numpy() - shipped, 0.0)  # units
    po_line = rows["po_line_id"].to_numpy(np.float64)
    linked = np.where(np.isnan(po_line), -1, po_line).astype(np.int64)
    # po_line_id has no date: a PO line ordered after T cannot be what the line waited on at T.
    po_ordered = pol["ordered_day"].reindex(linked).to_numpy(np.float64)
    has = ~np.isnan(po_line) & (po_ordered <= day)
    po_ids = np.where(has, linked, -1)
    state = _po_line_state(pol, t, po_ids, day)
    supply_sup = pol["supplier_id"].reindex(po_ids).to_numpy(np.float64)
    sup_hist = supplier_history(t, np.where(has, supply_sup, -1).astype(np.int64), day)
    promised = rows["promised_day"].to_numpy(np.int64)
    eta_day = np.where(has, state["eta_day"].to_numpy(), np.nan)
    contract = _contract_at(t, customer, day)
    sku_key = _sku_key(rows["product_id"].to_numpy(), rows["location_id"].to_numpy())
    supply = _sku_supply_demand(t, pol, lines, sku_key, day)
    n_subs = t.substitutes.groupby("product_id").size()
    supply_region = (
        pd.Series(supply_sup).map(t.suppliers.set_index("id")["region"]).to_numpy(object)
    )
    supply_promised = pol["promised_day"].reindex(po_ids).to_numpy(np.float64)
    supply_ordered = pol["ordered_day"].reindex(po_ids).fillna(0).to_numpy(np.int64)
    tier = rows["customer_id"].map(t.customers.set_index("id")["tier"]).to_numpy(object)
    values: dict[str, np.ndarray | pd.Series] = {
        "sup_ontime_rate_30d": np.where(has, sup_hist["sup_ontime_rate_30d"].to_numpy(), np.nan),
        "sup_ontime_rate_90d": np.where(has, sup_hist["sup_ontime_rate_90d"].to_numpy(), np.nan),
        "global_ontime_rate_30d": sup_hist["global_ontime_rate_30d"].to_numpy(),
        "global_mean_slip_days_30d": sup_hist["global_mean_slip_days_30d"].to_numpy(),
        "days_to_promise": promised - day,
        "quantity": rows["quantity"].to_numpy(),
        "line_value_usd": rows["value_usd"].to_numpy(),
        "tier": tier,
        "is_emergency": rows["is_emergency"].astype(np.float64).to_numpy(),
        "days_waiting": day - rows["ordered_day"].to_numpy(np.int64),
        "open_quantity": open_qty,
        "open_value_usd": open_qty * rows["unit_price_usd"].to_numpy(),
        "has_supply": has.astype(np.float64),
        "supply_eta_slack_days": promised - eta_day,
        "supply_eta_slips_known": np.where(has, state["slips"].to_numpy(), np.nan),
        "supply_days_to_eta": eta_day - day,
        "supply_received_share": np.where(has, state["received_share"].to_numpy(), np.nan),
        "supply_queue_share": np.where(
            has, _queue_units(t, rows["id"].to_numpy()) / pol["quantity"].reindex(po_ids), np.nan
        ),
        "supply_ship_mode": _only(pol["ship_mode"].reindex(po_ids).to_numpy(object), has),
        "supply_region": _only(supply_region, has & np.isin(supply_region, SUPPLIER_REGIONS)),
        "supply_lead_days": np.where(has, supply_promised - supply_ordered, np.nan),
        "supply_order_day_of_year": np.where(
            has, day_to_timestamp(np.where(has, supply_ordered, 0)).dt.day_of_year, np.nan
        ),
        "sup_ontime_rate_365d": np.where(has, sup_hist["sup_ontime_rate_365d"].to_numpy(), np.nan),
        "sup_mean_days_late_90d": np.where(
            has, sup_hist["sup_mean_days_late_90d"].to_numpy(), np.nan
        ),
        "sku_inbound_units": supply["inbound"].to_numpy(),
        "sku_open_demand_units": supply["demand"].to_numpy(),
        "substitutes": rows["product_id"].map(n_subs).fillna(0).to_numpy(),
        "sla_days": contract["sla_days"].to_numpy(),
        "penalty_rate_per_day": contract["penalty_rate_per_day"].to_numpy(),
        "allows_partial_ship": contract["allows_partial_ship"].to_numpy(),
        "cust_backorders_90d": _customer_backorders(t, customer, day),
    }
    return _finish(Task.SLA_BREACH, values, ids, day, y, {}, t)


def _queue_units(t: Tables, backorder: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Units backordered on each backorder's PO line up to and including it (creation order).

    Only backorders created no later than the given one count, so the value is known at its
    creation and stays fixed after (a later backorder queues behind it).
    """
    bos = t.backorders.dropna(subset=["po_line_id"])
    bos = bos.sort_values(["po_line_id", "created_day", "id"], kind="stable")
    # backorders.quantity is the open quantity when it was created (units), fixed after.
    cum = bos.groupby("po_line_id")["backorder_quantity"].cumsum()
    units = pd.Series(cum.to_numpy(np.float64), index=bos["id"].to_numpy())
    return units.reindex(backorder).to_numpy(np.float64)


def _sku_key(product: npt.ArrayLike, location: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """One integer key per (product id, location id)."""
    return np.asarray(product, np.int64) * 1_000_003 + np.asarray(location, np.int64)


def _at_skus(frame: pd.DataFrame, wanted: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which rows (with ``product_id`` and ``location_id``) are at one of ``wanted`` keys."""
    keys = pd.Series(_sku_key(frame["product_id"], frame["location_id"]))
    mask: npt.NDArray[np.bool_] = keys.isin(wanted).to_numpy()
    return mask


def _sku_supply_demand(
    t: Tables, pol: pd.DataFrame, lines: pd.DataFrame, key: np.ndarray, day: np.ndarray
) -> pd.DataFrame:
    """Inbound PO units and open customer demand per SKU-location at each day (units)."""
    # Only the lines at the SKU-locations asked about (the sums are per SKU-location; the
    # same rows in the same order, so the same sums).
    wanted = np.unique(key)
    live = pol[~pol["cancelled"]]
    live = live[_at_skus(live, wanted)]
    lines = lines[_at_skus(lines, wanted)]
    rec = t.receipts.merge(
        live[["id", "product_id", "location_id"]].reset_index(drop=True),
        left_on="po_line_id",
        right_on="id",
    )
    inbound = pd.concat(
        [
            pd.DataFrame(
                {
                    "key": _sku_key(live["product_id"], live["location_id"]),
                    "day": live["ordered_day"],
                    "units": live["quantity"].astype(np.float64),
                }
            ),
            pd.DataFrame(
                {
                    "key": _sku_key(rec["product_id"], rec["location_id"]),
                    "day": rec["received_day"],
                    "units": -rec["quantity"].astype(np.float64),
                }
            ),
        ],
        ignore_index=True,
    )
    ship = t.shipments.merge(
        lines[["product_id", "location_id"]], left_on="order_line_id", right_index=True
    )
    shipped_total = ship.groupby("order_line_id")["quantity"].sum()
    cancelled = lines[lines["cancel_day"] < NEVER]
    cancelled_open = cancelled["quantity"] - cancelled["id"].map(shipped_total).fillna(0)
    demand = pd.concat(
        [
            pd.DataFrame(
                {
                    "key": _sku_key(lines["product_id"], lines["location_id"]),
                    "day": lines["ordered_day"],
                    "units": lines["quantity"].astype(np.float64),
                }
            ),
            pd.DataFrame(
                {
                    "key": _sku_key(ship["product_id"], ship["location_id"]),
                    "day": ship["shipped_day"],
                    "units": -ship["quantity"].astype(np.float64),
                }
            ),
            pd.DataFrame(
                {
                    "key": _sku_key(cancelled["product_id"], cancelled["location_id"]),
                    "day": cancelled["cancel_day"],
                    "units": -cancelled_open.astype(np.float64),
                }
            ),
        ],
        ignore_index=True,
    )
    return pd.DataFrame(
        {
            "inbound": cum_at(inbound, key, day, values=["units"])["units"].to_numpy(),
            "demand": np.maximum(cum_at(demand, key, day, values=["units"])["units"], 0.0),
        }
    )


# --- churn --------------------------------------------------------------------------------------


def churn_labels(customers: pd.DataFrame, day: np.ndarray, data_end: int) -> np.ndarray:
    """Churn (1/0, NaN unknown) of each customer row at its as-of day.

    Churn: ``churned_on`` in ``[T, T + horizon)`` - the generator draws the churn day within
    the 30 days starting at the month start. Known once the whole window is on or before
    ``data_end`` (an early churn inside an open window is left out too: keeping only the
    churners of the latest month would bias it).
    """
    churned = customers["churned_day"].to_numpy()
    y = ((churned >= day) & (churned < day + CHURN_HORIZON_DAYS)).astype(np.float64)
    unknown = day + CHURN_HORIZON_DAYS - 1 > data_end
    y[unknown] = np.nan
    return y


def _month_starts(first: int, last: int) -> np.ndarray:
    start = day_to_timestamp(np.array([first]))[0]
    stop = day_to_timestamp(np.array([last]))[0]
    months = pd.date_range(start.to_period("M").to_timestamp(), stop, freq="MS")
    days = np.array([to_day(m) for m in months], dtype=np.int64)
    return days[(days >= first) & (days <= last)]


def churn_frame(
    source: Source,
    *,
    as_of: AsOf = None,
    labels: bool | None = None,
    data_end: DayLike | None = None,
    subjects: npt.ArrayLike | None = None,
) -> TaskFrame:
    """Churn frame: one row per customer and as-of day (horizon 30 days).

    Parameters
    ----------
    source
        Engine, connection, or loaded :class:`~allotment.features.tables.Tables`.
    as_of
        ``None`` (training): every month start from the first order day to the end of data,
        each customer created by then and not churned before it. A day (scoring): customers
        created by it and not churned on or before it. Several days: those rows at each day,
        stacked.
    labels
        Attach ``y`` (churns within 30 days) and drop unknown rows; default: True for
        training, False for scoring.
    data_end
        The last day of data for labels (default: the latest dated fact).
    subjects
        Scoring only: keep the rows of these subject ids (``ids``) before computing their
        features - the rows and values are those of the full frame, in its order. ``None``:
        every row.

    Returns
    -------
    TaskFrame
        ``ids`` are ``customers.id``; ``oracle`` is attached with labels.
    """
    t = _tables(source)
    end = t.data_end if data_end is None else to_day(data_end)
    cust = t.customers.set_index("id", drop=False)
    if as_of is None:
        first = int(t.orders["ordered_day"].min()) if len(t.orders) else end
        months = _month_starts(first, end)
        grid = cust.loc[np.repeat(cust.index.to_numpy(), len(months))]
        day = np.tile(months, len(cust))
        keep = (grid["created_day"].to_numpy() <= day) & (grid["churned_day"].to_numpy() >= day)
        rows, day = grid[keep], day[keep]
    else:
        created, churned = cust["created_day"].to_numpy(), cust["churned_day"].to_numpy()
        rows, day = _stack(
            cust, _scoring_days(t, as_of), lambda at: (created <= at) & (churned > at)
        )
        mine = _of_subjects(rows["id"].to_numpy(np.int64), subjects)
        if mine is not None:
            rows, day = rows[mine], day[mine]
    ids = rows["id"].to_numpy(np.int64)
    want_labels = (as_of is None) if labels is None else labels
    y = None
    if want_labels:
        churn = churn_labels(rows, day, end)
        known = ~np.isnan(churn)
        rows = rows[known]
        ids, day, y = _keep(known, ids, day, churn)
    values = customer_history(t, ids, day)
    contract = _contract_at(t, ids, day)
    values.update(
        tier=rows["tier"].to_numpy(object),
        tenure_days=day - rows["created_day"].to_numpy(np.int64),
        sla_days=contract["sla_days"].to_numpy(),
        penalty_rate_per_day=contract["penalty_rate_per_day"].to_numpy(),
        allows_partial_ship=contract["allows_partial_ship"].to_numpy(),
        days_to_renewal=np.mod(contract["renewal_day"].to_numpy() - day, _YEAR_DAYS),
        contract_version=contract["version"].to_numpy(),
    )
    return _finish(Task.CHURN, values, ids, day, y, {}, t)


def customer_history(
    t: Tables, customer: np.ndarray, day: np.ndarray
) -> dict[str, np.ndarray | pd.Series]:
    """Ordering and service history of each (customer, as-of day) query, in query order."""
    w = SERVICE_WINDOW_DAYS
    lines = order_line_facts(t)
    orders = t.orders.assign(key=t.orders["customer_id"], n=1.0)
    line_ev = pd.DataFrame(
        {
            "key": lines["customer_id"].to_numpy(),
            "day": lines["ordered_day"].to_numpy(),
            "lines": 1.0,
            "value": lines["value_usd"].to_numpy(),
        }
    )
    o = window_sum(orders, customer, day, values=["n"], window_days=w, day="ordered_day")
    line_sums = cumulate(line_ev, values=["lines", "value"])  # once for both windows
    now = window_sum(line_sums, customer, day, values=["lines", "value"], window_days=w)
    prev = window_sum(line_sums, customer, day - w, values=["value"], window_days=w)
    v_now, v_prev = now["value"].to_numpy(), prev["value"].to_numpy()
    total = v_now + v_prev
    trend = np.where(total > 0, (v_now - v_prev) / np.where(total > 0, total, 1.0), 0.0)
    last_order = last_at(
        t.orders, customer, day, value="ordered_day", key="customer_id", day="ordered_day"
    ).to_numpy()
    # Breach: the line was still waiting at the end of its promised day; that is known (and
    # counted) the day after, whatever happens later.
    waited = lines[lines["end_day"] > lines["promised_day"]]
    breaches = pd.DataFrame(
        {"key": waited["customer_id"], "day": waited["promised_day"] + 1, "n": 1.0}
    )
    br = window_sum(breaches, customer, day, values=["n"], window_days=w)["n"].to_numpy()
    br_grace = window_sum(overdue_events(lines), customer, day, values=["n"], window_days=w)[
        "n"
    ].to_numpy()
    late_days = _late_line_days(lines, customer, day, w)
    late_days_year = _late_line_days(lines, customer, day, 365)
    cancelled = lines[lines["cancel_day"] < NEVER]
    cancels = window_sum(
        pd.DataFrame({"key": cancelled["customer_id"], "day": cancelled["cancel_day"], "n": 1.0}),
        customer,
        day,
        values=["n"],
        window_days=365,
    )["n"].to_numpy()
    backorders = _customer_backorders(t, customer, day)
    lines_90 = now["lines"].to_numpy()
    points = BAD_PER_BACKORDER * backorders + BAD_PER_BREACH * br_grace
    bad = (points + BAD_PER_LATE_DAY * late_days) / (BAD_LINES_PRIOR + lines_90)
    return {
        "orders_90d": o["n"].to_numpy(),
        "order_lines_90d": lines_90,
        "order_value_90d": v_now,
        "order_value_prev_90d": v_prev,
        "revenue_trend": trend,
        "days_since_last_order": day - last_order,
        "cust_backorders_90d": backorders,
        "breaches_90d": br,
        "late_line_days_90d": late_days,
        "late_line_days_365d": late_days_year,
        "cancelled_lines_365d": cancels,
        "cancels_per_late_day_365d": _ratio(cancels, late_days_year),
        "bad_service_index_90d": bad,
    }


def overdue_events(lines: pd.DataFrame) -> pd.DataFrame:
    """One event per order line overdue past a day of grace, dated the day after its promise.

    Overdue past grace: still waiting on the day after the promised date (not fully shipped by
    the end of that day, not cancelled before it). A line that arrives the next morning is a
    breach on paper that the customer hardly notices; the bad-service index counts these
    instead. Columns ``key`` (customer id), ``day``, ``n`` (1.0).
    """
    promised = lines["promised_day"]
    late = lines[(lines["complete_day"] > promised + 1) & (lines["cancel_day"] > promised)]
    return pd.DataFrame(
        {
            "key": late["customer_id"].to_numpy(np.int64),
            "day": late["promised_day"].to_numpy(np.int64) + 1,
            "n": 1.0,
        }
    )


def _late_line_days(
    lines: pd.DataFrame, customer: np.ndarray, day: np.ndarray, window: int
) -> np.ndarray:
    """Days in ``(T - window, T]`` each line of the customer spent overdue, summed.

    A line is overdue on days ``[promised + 1, b)`` with ``b`` its full-shipment day, or the
    day after its cancellation (the customer waited that day, then gave up). With ``F(T)`` the
    overdue days up to and including ``T``,
    ``F(T) = sum_{a <= T} (T + 1 - a) - sum_{b <= T} (T + 1 - b)`` over starts ``a`` and ends
    ``b``: two cumulative sums, no per-row loop.
    """
    stop = np.minimum(
        lines["complete_day"].to_numpy(np.int64), lines["cancel_day"].to_numpy(np.int64) + 1
    )
    late_mask = stop > lines["promised_day"].to_numpy(np.int64) + 1
    late = lines[late_mask]
    a = late["promised_day"].to_numpy() + 1
    b = stop[late_mask]
    ends = b < NEVER
    events = pd.concat(
        [
            pd.DataFrame({"key": late["customer_id"].to_numpy(), "day": a, "n": 1.0, "s": a}),
            pd.DataFrame(
                {
                    "key": late["customer_id"].to_numpy()[ends],
                    "day": b[ends],
                    "n": -1.0,
                    "s": -b[ends].astype(np.float64),
                }
            ),
        ],
        ignore_index=True,
    )

    sums = cumulate(events, values=["n", "s"])  # once for both ends of the window

    def upto(d: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        c = cum_at(sums, customer, d, values=["n", "s"])
        n: npt.NDArray[np.float64] = c["n"].to_numpy(np.float64)
        out: npt.NDArray[np.float64] = (d + 1) * n - c["s"].to_numpy(np.float64)
        return out

    result: npt.NDArray[np.float64] = upto(day) - upto(day - window)
    return result


# --- by task ------------------------------------------------------------------------------------

Builder = Callable[..., TaskFrame]
BUILDERS: dict[Task, Builder] = {
    Task.SUPPLIER_DELAY: supplier_delay_frame,
    Task.SLA_BREACH: sla_breach_frame,
    Task.CHURN: churn_frame,
}


def training_frame(task: Task | str, source: Source, **options: Any) -> TaskFrame:
    """The training frame of ``task`` (natural rows, labels, oracle); see the task builder."""
    return BUILDERS[Task(task)](source, **options)


def scoring_frame(
    task: Task | str,
    source: Source,
    *,
    as_of: AsOf = LATEST,
    subjects: npt.ArrayLike | None = None,
) -> TaskFrame:
    """The open subjects of ``task`` as of ``as_of`` (default: the latest day with data);
    with ``subjects``, only the rows of those ids (features computed for them only)."""
    return BUILDERS[Task(task)](source, as_of=as_of, labels=False, subjects=subjects)

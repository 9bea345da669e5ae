"""The feature registry: every feature's name, kind, unit, definition and tasks, in one place.

Column order of each task's frame is the order of :data:`TASK_FEATURES`. Explanations render
plain-language reasons from :attr:`FeatureSpec.label` and :attr:`FeatureSpec.unit` (e.g.
"supplier on-time rate, last 90 days: 55%").

Conventions
-----------
* As of day ``T`` means "everything recorded on or before calendar day ``T`` (UTC)"; a
  trailing window of ``w`` days is ``(T - w, T]``.
* The outcome of a PO line is *seen* when it is first visible: late from the first ETA
  recorded past its promised date, or from the day after the promised date without a full
  receipt, whichever comes first; on time on the day of a full receipt by the promised date
  (a line seen late that still arrives by its promise turns on time that day). Supplier
  rates are over outcomes seen in the window, so they react to a supplier's ETA notices
  before the promised dates pass.
* NaN appears only where a feature says so in ``nan_when``; everywhere else it is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass

from allotment.domain.enums import ShipMode, Tier
from allotment.features.frame import FeatureKind, Task

#: Supplier regions known to the features (``suppliers.region`` is free text; others -> NaN).
SUPPLIER_REGIONS: tuple[str, ...] = ("domestic", "nearshore", "europe", "asia")
SHIP_MODES: tuple[str, ...] = tuple(m.value for m in ShipMode)
TIERS: tuple[str, ...] = tuple(t.value for t in Tier)

#: Churn horizon (days): the synthetic world draws churn within 30 days of a month start.
CHURN_HORIZON_DAYS = 30
#: Service-memory window for customer features (days).
SERVICE_WINDOW_DAYS = 90

SD, SLA, CH = Task.SUPPLIER_DELAY, Task.SLA_BREACH, Task.CHURN


@dataclass(frozen=True)
class FeatureSpec:
    """One feature.

    Parameters
    ----------
    name
        Column name in ``TaskFrame.X``.
    kind
        Numeric (float64) or categorical (pandas ``category`` with ``categories``).
    unit
        Unit of the value: ``days``, ``USD``, ``units``, ``count``, ``ratio`` (0..1 unless
        the description says otherwise), ``share`` (non-negative, may exceed 1),
        ``flag`` (0/1), ``month``, ``share per day``, ``index``, or ``category``.
    label
        Short plain-language name for explanations.
    description
        Exact definition, as of day ``T``.
    tasks
        The tasks whose frames contain it.
    nan_when
        When the value is NaN (``None``: never).
    categories
        The fixed category list of a categorical feature.
    """

    name: str
    kind: FeatureKind
    unit: str
    label: str
    description: str
    tasks: tuple[Task, ...]
    nan_when: str | None = None
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.kind is FeatureKind.CATEGORICAL) != bool(self.categories):
            raise ValueError(f"{self.name}: categories are required exactly for categoricals")


def _num(
    name: str,
    unit: str,
    label: str,
    description: str,
    *tasks: Task,
    nan_when: str | None = None,
) -> FeatureSpec:
    return FeatureSpec(name, FeatureKind.NUMERIC, unit, label, description, tasks, nan_when)


def _cat(
    name: str,
    categories: tuple[str, ...],
    label: str,
    description: str,
    *tasks: Task,
    nan_when: str | None = None,
) -> FeatureSpec:
    return FeatureSpec(
        name, FeatureKind.CATEGORICAL, "category", label, description, tasks, nan_when, categories
    )


_NO_OUTCOMES = "no PO line of the supplier had a known outcome in the window"
_NO_DELIVERIES = "the supplier completed no delivery in the window"

FEATURES: tuple[FeatureSpec, ...] = (
    # --- supplier history (supplier of the PO line; for SLA, of the awaited PO line) ---------
    _num(
        "sup_ontime_rate_30d",
        "ratio",
        "supplier on-time rate, last 30 days",
        "Share on time among the supplier's PO lines whose outcome was seen in (T-30, T] (see "
        "the module notes: late is seen at the first ETA past the promise).",
        SD,
        SLA,
        nan_when=_NO_OUTCOMES + " (for SLA also: the backorder waits on no PO line)",
    ),
    _num(
        "sup_ontime_rate_90d",
        "ratio",
        "supplier on-time rate, last 90 days",
        "As sup_ontime_rate_30d over (T-90, T].",
        SD,
        SLA,
        nan_when=_NO_OUTCOMES + " (for SLA also: the backorder waits on no PO line)",
    ),
    _num(
        "sup_fresh_ontime_rate_30d",
        "ratio",
        "supplier on-time rate of recent orders, last 30 days",
        "As sup_ontime_rate_30d, over the PO lines whose outcome was first seen within 30 days "
        "of their order date: news about orders placed in the last two months only, so it "
        "follows a supplier that is getting worse sooner than the rates over all lines.",
        SD,
        nan_when="no PO line of the supplier had such an outcome in the window",
    ),
    _num(
        "sup_ontime_rate_365d",
        "ratio",
        "supplier on-time rate, last 365 days",
        "As sup_ontime_rate_90d over (T-365, T].",
        SD,
        SLA,
        nan_when=_NO_OUTCOMES + " (for SLA also: the backorder waits on no PO line)",
    ),
    _num(
        "sup_mean_days_late_90d",
        "days",
        "supplier mean days late, last 90 days",
        "Mean of max(0, final receipt - promised date) over the supplier's PO lines fully "
        "received in (T-90, T].",
        SD,
        SLA,
        nan_when=_NO_DELIVERIES + " (for SLA also: the backorder waits on no PO line)",
    ),
    _num(
        "sup_mean_days_late_365d",
        "days",
        "supplier mean days late, last 365 days",
        "As sup_mean_days_late_90d over (T-365, T].",
        SD,
        nan_when=_NO_DELIVERIES,
    ),
    _num(
        "sup_arrival_dev_std_365d",
        "days",
        "supplier lead-time variability, last 365 days",
        "Standard deviation (population) of final receipt - promised date over the supplier's "
        "PO lines fully received in (T-365, T].",
        SD,
        nan_when="fewer than 2 deliveries completed in the window",
    ),
    _num(
        "sup_deliveries_365d",
        "count",
        "supplier deliveries seen, last 365 days",
        "Number of the supplier's PO lines fully received in (T-365, T].",
        SD,
    ),
    _num(
        "sup_overdue_open_lines",
        "count",
        "supplier lines overdue now",
        "Number of the supplier's PO lines past their promised date and not fully received at T.",
        SD,
    ),
    _num(
        "sup_eta_slips_30d",
        "count",
        "supplier ETA slips, last 30 days",
        "ETA changes that moved a date later, recorded in (T-30, T] for the supplier's PO lines.",
        SD,
    ),
    _num(
        "global_ontime_rate_30d",
        "ratio",
        "all suppliers' on-time rate, last 30 days",
        "Share on time among all suppliers' PO lines whose outcome was seen in (T-30, T] (a "
        "market condition: a supply crunch shows here first).",
        SD,
        SLA,
        nan_when="no PO line outcome became known in the window",
    ),
    _num(
        "global_mean_slip_days_30d",
        "days",
        "all suppliers' mean ETA slip, last 30 days",
        "Mean of (new ETA - previous ETA) over ETA changes to a later date recorded in "
        "(T-30, T] for any supplier (large in a supply crunch).",
        SLA,
        nan_when="no ETA slipped in the window",
    ),
    # --- the PO line -------------------------------------------------------------------------
    _cat(
        "ship_mode",
        SHIP_MODES,
        "ship mode",
        "The purchase order's ship mode.",
        SD,
    ),
    _cat(
        "supplier_region",
        SUPPLIER_REGIONS,
        "supplier region",
        "The supplier's region.",
        SD,
        nan_when="the region is not one of the known regions",
    ),
    _num(
        "promised_lead_days",
        "days",
        "promised lead time",
        "PO line promised date - PO order date.",
        SD,
    ),
    _num(
        "days_to_promise",
        "days",
        "days until the promised date",
        "Promised date - T (PO line's for supplier delay, the customer order's for SLA); "
        "negative when already past.",
        SD,
        SLA,
    ),
    _num("po_age_days", "days", "PO age", "T - PO order date.", SD),
    _num("quantity", "units", "quantity", "Ordered quantity of the line.", SD, SLA),
    _num(
        "line_value_usd",
        "USD",
        "line value",
        "Quantity x unit cost (PO line) or quantity x unit price (order line).",
        SD,
        SLA,
    ),
    _num("order_month", "month", "order month", "Calendar month (1-12) of the order date.", SD),
    _num(
        "order_day_of_year",
        "day of year",
        "order day of the year",
        "Day of the year (1-366) of the order date (finer seasonality than the month).",
        SD,
    ),
    _num("is_q4", "flag", "Q4 order", "1 if the order date falls in October-December.", SD),
    _num(
        "eta_slips_known",
        "count",
        "ETA slips known",
        "ETA changes to a later date recorded for the PO line by T.",
        SD,
    ),
    _num(
        "eta_slip_days_known",
        "days",
        "days slipped (known)",
        "Latest ETA recorded by T - promised date (0 while the ETA is the promise).",
        SD,
    ),
    _num(
        "received_share_known",
        "ratio",
        "share received",
        "Quantity received by T / ordered quantity.",
        SD,
    ),
    # --- the backordered order line ----------------------------------------------------------
    _cat("tier", TIERS, "customer tier", "The customer's tier.", SLA, CH),
    _num("is_emergency", "flag", "emergency order", "1 if the order is an emergency.", SLA),
    _num(
        "days_waiting",
        "days",
        "days waiting",
        "T - customer order date.",
        SLA,
    ),
    _num(
        "open_quantity",
        "units",
        "open quantity",
        "Line quantity - quantity shipped by T.",
        SLA,
    ),
    _num(
        "open_value_usd",
        "USD",
        "value waiting",
        "Open quantity x unit price.",
        SLA,
    ),
    _num(
        "has_supply",
        "flag",
        "waits on a PO line",
        "1 if the backorder waits on a PO line (backorders.po_line_id is set).",
        SLA,
    ),
    _num(
        "supply_eta_slack_days",
        "days",
        "days between supply ETA and promise",
        "Customer promised date - latest ETA recorded by T of the awaited PO line (negative: "
        "the supply is expected after the promise).",
        SLA,
        nan_when="the backorder waits on no PO line",
    ),
    _num(
        "supply_eta_slips_known",
        "count",
        "supply ETA slips",
        "ETA changes to a later date recorded by T for the awaited PO line.",
        SLA,
        nan_when="the backorder waits on no PO line",
    ),
    _num(
        "supply_days_to_eta",
        "days",
        "days until the supply ETA",
        "Latest ETA recorded by T of the awaited PO line - T.",
        SLA,
        nan_when="the backorder waits on no PO line",
    ),
    _num(
        "supply_received_share",
        "ratio",
        "share of the awaited PO line received",
        "Quantity of the awaited PO line received by T / its quantity.",
        SLA,
        nan_when="the backorder waits on no PO line",
    ),
    _num(
        "supply_queue_share",
        "share",
        "place in the awaited PO line's queue",
        "Backordered units waiting on the same PO line from backorders created up to and "
        "including this one (by creation time), / that PO line's quantity; a partial first "
        "delivery serves the front of the queue. Can exceed 1 when the line is oversubscribed.",
        SLA,
        nan_when="the backorder waits on no PO line",
    ),
    _cat(
        "supply_ship_mode",
        SHIP_MODES,
        "supply ship mode",
        "Ship mode of the awaited PO line's purchase order.",
        SLA,
        nan_when="the backorder waits on no PO line",
    ),
    _cat(
        "supply_region",
        SUPPLIER_REGIONS,
        "supply region",
        "Region of the awaited PO line's supplier.",
        SLA,
        nan_when="the backorder waits on no PO line, or the region is not a known one",
    ),
    _num(
        "supply_lead_days",
        "days",
        "supply promised lead time",
        "Promised date - order date of the awaited PO line (long ocean legs slip more).",
        SLA,
        nan_when="the backorder waits on no PO line",
    ),
    _num(
        "supply_order_day_of_year",
        "day of year",
        "supply order day of the year",
        "Day of the year (1-366) the awaited PO line was ordered (a line ordered in the Q4 "
        "peak is late more often).",
        SLA,
        nan_when="the backorder waits on no PO line",
    ),
    _num(
        "sku_inbound_units",
        "units",
        "inbound units for the SKU-location",
        "Quantity on PO lines (not cancelled) for the product and warehouse, ordered by T, "
        "minus what was received by T.",
        SLA,
    ),
    _num(
        "sku_open_demand_units",
        "units",
        "open demand for the SKU-location",
        "Quantity on customer order lines for the product and warehouse ordered by T, minus "
        "shipped by T, minus the open quantity of lines cancelled by T.",
        SLA,
    ),
    _num(
        "substitutes",
        "count",
        "substitutes available",
        "Number of products recorded as substitutes for the product.",
        SLA,
    ),
    # --- contract (the version in force at T: the latest effective_from <= T) -----------------
    _num("sla_days", "days", "contract SLA", "Promised days after order in the contract.", SLA, CH),
    _num(
        "penalty_rate_per_day",
        "share per day",
        "contract penalty rate",
        "Penalty as a share of the late line's value per day late.",
        SLA,
        CH,
    ),
    _num(
        "allows_partial_ship",
        "flag",
        "partial shipments allowed",
        "1 if the contract allows partial shipments.",
        SLA,
        CH,
    ),
    _num(
        "days_to_renewal",
        "days",
        "days to contract renewal",
        "Days from T to the next renewal on or after T: (renewal_date - T) mod 365. Renewals "
        "are yearly, so this holds whether renewal_date was rolled forward in place or not.",
        CH,
    ),
    _num(
        "contract_version",
        "count",
        "contract version",
        "Version number of the contract in force at T.",
        CH,
    ),
    # --- customer history --------------------------------------------------------------------
    _num(
        "cust_backorders_90d",
        "count",
        "backorders, last 90 days",
        "Backorders created in (T-90, T] for the customer's order lines.",
        SLA,
        CH,
    ),
    _num("tenure_days", "days", "customer tenure", "T - customer created_on.", CH),
    _num("orders_90d", "count", "orders, last 90 days", "Orders placed in (T-90, T].", CH),
    _num(
        "order_lines_90d",
        "count",
        "order lines, last 90 days",
        "Order lines placed in (T-90, T].",
        CH,
    ),
    _num(
        "order_value_90d",
        "USD",
        "order value, last 90 days",
        "Sum of quantity x unit price of order lines placed in (T-90, T].",
        CH,
    ),
    _num(
        "order_value_prev_90d",
        "USD",
        "order value, previous 90 days",
        "As order_value_90d over (T-180, T-90].",
        CH,
    ),
    _num(
        "revenue_trend",
        "ratio",
        "revenue trend",
        "(order_value_90d - order_value_prev_90d) / (their sum), in [-1, 1]; 0 when both are 0.",
        CH,
    ),
    _num(
        "days_since_last_order",
        "days",
        "days since last order",
        "T - the customer's latest order date on or before T.",
        CH,
        nan_when="the customer has not ordered by T",
    ),
    _num(
        "breaches_90d",
        "count",
        "SLA breaches, last 90 days",
        "Order lines not fully shipped by their promised date, counted on the day after it, "
        "in (T-90, T].",
        CH,
    ),
    _num(
        "late_line_days_90d",
        "days",
        "late line-days, last 90 days",
        "Sum over the customer's order lines of the days in (T-90, T] on which the line was "
        "past its promised date and not yet fully shipped; the day a line is cancelled counts "
        "(the customer waited that day, then gave up).",
        CH,
    ),
    _num(
        "late_line_days_365d",
        "days",
        "late line-days, last 365 days",
        "As late_line_days_90d over (T-365, T].",
        CH,
    ),
    _num(
        "cancelled_lines_365d",
        "count",
        "lines the customer cancelled, last 365 days",
        "Order lines cancelled in (T-365, T] (cancellation: the line's backorder entered "
        "'cancelled').",
        CH,
    ),
    _num(
        "cancels_per_late_day_365d",
        "ratio",
        "cancellations per late line-day, last 365 days",
        "cancelled_lines_365d / late_line_days_365d: how quickly this customer gives up on a "
        "late line (a sign of how much bad service matters to them).",
        CH,
        nan_when="the customer had no late line-day in the window",
    ),
    _num(
        "bad_service_index_90d",
        "index",
        "bad service per order line, last 90 days",
        "(backorders + 1.5 x overdue lines + 0.15 x late line-days) / (3 + order lines), all "
        "over (T-90, T]; an overdue line is a breach past one day of grace (still waiting on the "
        "day after its promised date, counted that day): a line that arrives the next morning "
        "is hardly noticed, a long wait weighs more than a backorder that arrived in time, and "
        "a customer with many lines feels one problem less.",
        CH,
    ),
)

SPECS: dict[str, FeatureSpec] = {spec.name: spec for spec in FEATURES}
if len(SPECS) != len(FEATURES):  # pragma: no cover - a definition error caught at import
    raise RuntimeError("duplicate feature names in FEATURES")

#: Column order per task (the registry's order).
TASK_FEATURES: dict[Task, tuple[str, ...]] = {
    task: tuple(spec.name for spec in FEATURES if task in spec.tasks) for task in Task
}


def feature_kinds(task: Task) -> dict[str, FeatureKind]:
    """Feature name -> kind for ``task``, in column order (the ``TaskFrame.features`` value)."""
    return {name: SPECS[name].kind for name in TASK_FEATURES[task]}


def feature_table(task: Task | None = None) -> str:
    """The registry as a Markdown table (all features, or those of ``task``)."""
    head = "| feature | unit | tasks | definition | NaN when |\n|---|---|---|---|---|"
    rows = [
        f"| `{f.name}` | {f.unit} | {', '.join(t.value for t in f.tasks)} | "
        f"{f.description} | {f.nan_when or '-'} |"
        for f in FEATURES
        if task is None or task in f.tasks
    ]
    return "\n".join([head, *rows])

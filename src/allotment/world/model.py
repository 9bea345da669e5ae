"""The synthetic distributor as a world model stepped one day at a time.

One day, in order (the hour each step is stamped with in the history):

1. 06:00 supplier notices: late PO lines get a new ETA (and a second slip at the first ETA);
   every order line pegged to a newly delayed PO line becomes a backorder.
2. 08:00 receipts: PO quantity arrives (a late line may arrive in two pieces); backordered
   lines pegged to it ship first, the rest goes on hand. Spot buys arrive for their line.
3. customers place orders (exogenous: common random numbers keyed by customer and day).
4. 10:00 the allocation policy hands on-hand stock to the waiting lines that are not locked to
   a PO line.
5. lines still waiting are pegged (by the policy's order) to open PO lines with room, earliest
   ETA first; a reorder-point rule buys what is missing and tops up stock.
6. 12:00 a waiting line whose supply cannot make its promised date becomes a backorder; for
   some backorders a planner places a spot buy (alternate source) a few days later (a keyed
   draw; a simulation may choose them instead: ``step(policy, rescues=...)``).
7. 14:00 overdue backorders escalate (7, 14, 21 days) and some customers cancel them.
8. on the first of a month, each active customer may churn; contracts renew.

A backordered line is *locked* to its PO line: it ships exactly when the piece of that PO line
covering its position arrives, or when its spot buy arrives, whichever is first. That is what
makes the SLA-breach probability recorded at creation exact: it is computed from the PO line's
arrival distribution given everything the world had revealed that day, combined with the
independent spot-buy chance (see :meth:`World._lock` and :meth:`World._p_on_time`). Customers
cancel only lines already overdue, so cancelling never changes a breach outcome.

Drift: each supplier's latent lateness follows a slow random walk, one or two suppliers
deteriorate over the last months, Q4 raises demand and lateness, and a scale may end in a
supply crunch (much later suppliers, a demand surge, a dry spot market).
"""

from __future__ import annotations

import pickle
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from math import erf, sqrt
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from allotment.world.policies import AllocationPolicy, DemandLines, RescuePlanner
from allotment.world.rng import Draws
from allotment.world.scales import Scale
from allotment.world.store import Log, Store

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]
Arr = npt.NDArray[Any]

GENERATOR_VERSION = "1"

# --- codes used in the arrays (persisted as the enum strings) --------------------------------

TIERS = ("vip", "premium", "standard")
MODES = ("ocean", "ground", "air")
OCEAN, GROUND, AIR = 0, 1, 2
SUPPLIER_REGIONS = ("domestic", "nearshore", "europe", "asia")
LOCATION_NAMES = (
    ("north", "Chicago"),
    ("south", "Dallas"),
    ("east", "Newark"),
    ("west", "Reno"),
    ("central", "Kansas City"),
    ("southeast", "Atlanta"),
    ("northwest", "Portland"),
    ("southwest", "Phoenix"),
)
CATEGORIES = (
    # name, gross margin (share of price), median unit price (USD)
    ("controls", 0.38, 180.0),
    ("valves", 0.30, 95.0),
    ("motors", 0.24, 420.0),
    ("bearings", 0.32, 28.0),
    ("sensors", 0.42, 140.0),
    ("fasteners", 0.45, 6.0),
    ("electrical", 0.28, 55.0),
    ("safety", 0.35, 75.0),
)

# Backorder status codes (index into this tuple = code in the arrays).
STATUSES = ("open", "eta_updated", "partially_resolved", "escalated", "resolved", "cancelled")
ST_OPEN, ST_ETA, ST_PARTIAL, ST_ESC, ST_RESOLVED, ST_CANCELLED = range(6)
ROOT_CAUSES = ("supplier_delay", "quality", "logistics", "demand_spike", "stockout", "other")
RC_SUPPLIER, RC_QUALITY, RC_LOGISTICS, RC_DEMAND, RC_STOCKOUT = range(5)
# Hour of the day each step's events are stamped with (keeps histories in step order).
HOUR_NOTICE, HOUR_RECEIPT, HOUR_ALLOCATE, HOUR_BACKORDER, HOUR_ESCALATE = 6, 8, 10, 12, 14

# --- supply mechanics -------------------------------------------------------------------------

#: Nominal lead time in days by ship mode (rows) and supplier region (columns).
LEAD_DAYS = np.array(
    [
        [21, 24, 35, 42],  # ocean
        [6, 10, 14, 18],  # ground (for overseas regions: ocean already landed, trucked on)
        [3, 4, 5, 6],  # air
    ],
    dtype=np.int64,
)
#: Log-odds of a late delivery: intercept, per ship mode, per supplier region.
LATE_INTERCEPT = -1.9
LATE_MODE = np.array([0.45, 0.0, -0.7])
LATE_REGION = np.array([-0.25, 0.15, 0.0, 0.35])
LATE_SEASON = 0.9  # added at the height of the Q4 peak
#: Days before the promised date a late supplier says so, by mode.
NOTICE_LEAD = np.array([12, 4, 2], dtype=np.int64)
#: Share of late PO lines delivered in two pieces (first piece on the promised date).
P_PARTIAL = 0.3
FIRST_SHARES = (0.25, 0.5, 0.75)
P_PO_CANCEL = 0.02
#: Delay reasons of a late PO line: (root cause code, cumulative probability).
DELAY_REASONS = ((RC_QUALITY, 0.15), (RC_LOGISTICS, 0.35), (RC_SUPPLIER, 1.0))
DELTA_MAX = 90  # days of announced delay, at most
EPS_MAX = 40  # days of further slip after the announced ETA, at most
EARLY_PMF = np.array([0.6, 0.25, 0.15])  # an on-time line arrives 0, 1 or 2 days early
#: Alternate sourcing ("rescue"): log-odds that a planner buys a backordered line's quantity
#: from the spot market, by tier, for an emergency order, and per log(value / USD 500).
RESCUE_INTERCEPT = -1.1
RESCUE_TIER = np.array([0.9, 0.45, 0.0])
RESCUE_EMERGENCY = 0.8
RESCUE_VALUE = 0.3
RESCUE_CRUNCH = 2.5
RESCUE_DECIDE_DAYS = (1, 2, 3)  # days after the backorder until the spot buy is placed
RESCUE_LEAD_MEAN = 3.0  # extra days (geometric) after 1 day of spot-buy lead time
RESCUE_LEAD_MAX = 14
SPOT_COST_PREMIUM = 1.15  # spot price relative to the regular unit cost


def _delay_pmfs() -> tuple[F64, F64]:
    """Distributions of the announced delay (delta >= 1) and the further slip (eps >= 0).

    Six rows: ocean, ground, air in normal times, then the same in a supply crunch. Delays are
    discretized log-normals (heavy right tail); slips are geometric.
    """
    days = np.arange(1, DELTA_MAX + 1, dtype=np.float64)
    medians = np.array([9.0, 4.0, 2.0, 60.0, 45.0, 35.0])
    delta = np.zeros((6, DELTA_MAX + 1))
    for row, median in enumerate(medians):
        upper = np.log(days + 0.5) - np.log(median)
        lower = np.log(days - 0.5) - np.log(median)
        sigma = 0.75
        w = _norm_cdf(upper / sigma) - _norm_cdf(lower / sigma)
        delta[row, 1:] = w / w.sum()
    slip_means = np.array([5.0, 2.5, 1.5, 8.0, 4.0, 2.5])
    k = np.arange(EPS_MAX + 1, dtype=np.float64)
    eps = np.zeros((6, EPS_MAX + 1))
    for row, mean in enumerate(slip_means):
        p = 1.0 / (1.0 + mean)
        w = p * (1.0 - p) ** k
        eps[row] = w / w.sum()
    return delta, eps


def _norm_cdf(x: F64) -> F64:
    return np.array([0.5 * (1.0 + erf(v / sqrt(2.0))) for v in np.ravel(x)]).reshape(np.shape(x))


DELTA_PMF, EPS_PMF = _delay_pmfs()
DELTA_CDF = np.cumsum(DELTA_PMF, axis=1)
# EPS_CDF_PAD[row, x + 1] = P(eps <= x); column 0 is P(eps <= -1) = 0.
EPS_CDF_PAD = np.concatenate([np.zeros((6, 1)), np.cumsum(EPS_PMF, axis=1)], axis=1)
EPS_CDF = np.cumsum(EPS_PMF, axis=1)
EARLY_CDF = np.cumsum(EARLY_PMF)


def _rescue_pmfs() -> tuple[F64, F64]:
    """Law of the spot-buy lead (1 + geometric) and of decide + lead days (its CDF)."""
    k = np.arange(RESCUE_LEAD_MAX)
    p = 1.0 / (1.0 + RESCUE_LEAD_MEAN)
    lead = np.zeros(RESCUE_LEAD_MAX + 1)
    lead[1:] = p * (1.0 - p) ** k
    lead /= lead.sum()
    total = np.zeros(RESCUE_LEAD_MAX + max(RESCUE_DECIDE_DAYS) + 1)
    for s in RESCUE_DECIDE_DAYS:
        total[s : s + len(lead)] += lead / len(RESCUE_DECIDE_DAYS)
    return np.cumsum(lead), np.cumsum(total)


RESCUE_LEAD_CDF, RESCUE_TOTAL_CDF = _rescue_pmfs()

# --- demand and customers ---------------------------------------------------------------------

TIER_SHARE_CDF = np.array([0.10, 0.35, 1.0])
TIER_ORDER_RATE = np.array([2.5, 1.6, 1.0])  # order frequency relative to standard
TIER_QTY_MEAN = np.array([8.0, 5.0, 3.0])  # mean extra units above 1 per line
TIER_EMERGENCY = np.array([0.06, 0.04, 0.02])
SLA_CHOICES = ((2, 3, 5), (3, 5, 7), (5, 7, 10, 14))  # promised days after order, by tier
PENALTY_RATE = np.array([0.010, 0.005, 0.002])  # share of line value per day late
FILL_RATE = np.array([0.97, 0.93, 0.88])
WEEKEND_DEMAND = 0.25
MAX_ORDERS_PER_DAY = 6

# --- churn ------------------------------------------------------------------------------------

CHURN_INTERCEPT = -5.4
CHURN_TIER = np.array([-0.7, -0.35, 0.0])
# Per unit of latent sensitivity x log1p(10 x bad-service points per order line in the window):
# a large customer forgives a late line more easily than one whose every order went wrong.
CHURN_BAD_SERVICE = 1.1
CHURN_RENEWAL = 1.2  # within 45 days of a contract renewal
BAD_WINDOW = 90  # days of service memory
BAD_BACKORDER, BAD_BREACH, BAD_LATE_DAY = 1.0, 1.5, 0.15  # bad-service points per event
PRIOR_BAD_PER_LINE = 0.25  # typical bad-service points per order line before day 0
RENEWAL_CHANGE = 0.4  # share of renewals that change terms (a new contract version)

# --- replenishment ----------------------------------------------------------------------------

REVIEW_DAYS = 3
SAFETY_Z = 0.8
COVER_DAYS = 14
FORECAST_ALPHA = 1.0 / 28.0
PEG_SLOTS = 8  # open PO lines per SKU-location considered when pegging


def sigmoid(x: F64) -> F64:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def season_bump(day_dates: I64, start: date) -> F64:
    """Q4 peak intensity in [0, 1], highest around 1 December (``day_dates``: day indexes)."""
    doy = (np.asarray(day_dates) + (start - date(start.year, 1, 1)).days) % 365
    dist = np.minimum(np.abs(doy - 335), 365 - np.abs(doy - 335))
    return np.asarray(np.exp(-0.5 * (dist / 28.0) ** 2), dtype=np.float64)


@dataclass(frozen=True)
class DayStats:
    """What happened on one simulated day (for progress display)."""

    day: int
    new_lines: int
    waiting: int
    active_backorders: int


class World:
    """State of the synthetic distributor; :meth:`step` advances it by one day.

    Build with :meth:`create`, advance with :meth:`run`, store with :meth:`save` and resume
    with :meth:`load`. All state is numpy arrays, so a stored world continues bit-for-bit.
    """

    def __init__(self, scale: Scale, seed: int) -> None:
        self.scale = scale
        self.seed = int(seed)
        self.draws = Draws(self.seed)
        self.start = scale.start
        self.day = 0
        self.policy_names: list[str] = []

    # ----------------------------------------------------------------------------- creation

    @classmethod
    def create(cls, scale: Scale, seed: int) -> World:
        """A world at day 0: parties, products, contracts and opening stock; no history."""
        world = cls(scale, seed)
        world._build_locations()
        world._build_suppliers()
        world._build_products()
        world._build_customers()
        world._build_stock()
        world._build_stores()
        return world

    def _build_locations(self) -> None:
        n = self.scale.n_locations
        self.loc_region = [LOCATION_NAMES[i % len(LOCATION_NAMES)][0] for i in range(n)]
        self.loc_city = [LOCATION_NAMES[i % len(LOCATION_NAMES)][1] for i in range(n)]

    def _build_suppliers(self) -> None:
        d, n = self.draws, self.scale.n_suppliers
        ids = np.arange(n)
        self.sup_region = d.choice("sup.region", np.array([0.35, 0.6, 0.75, 1.0]), ids)
        u_mode = d.uniform("sup.mode", ids)
        overseas = self.sup_region >= 2
        mode = np.where(overseas, np.where(u_mode < 0.85, OCEAN, AIR), GROUND)
        self.sup_mode = mode.astype(np.int64)
        self.sup_lead = LEAD_DAYS[self.sup_mode, self.sup_region]
        self.sup_latent0 = 0.8 * d.normal("sup.latent", ids)
        # One or two suppliers deteriorate over the last months before "today".
        n_bad = 1 if n < 10 else 2
        order = np.argsort(d.uniform("sup.deteriorates", ids), kind="stable")
        self.sup_deteriorates = np.zeros(n, dtype=bool)
        self.sup_deteriorates[order[:n_bad]] = True
        self._extend_supplier_latent(self.scale.days + 400)

    def _extend_supplier_latent(self, horizon: int) -> None:
        """Latent log-odds of lateness per supplier and day, up to ``horizon`` days."""
        n = self.scale.n_suppliers
        days = np.arange(horizon)
        steps = 0.03 * self.draws.normal("sup.walk", np.arange(n)[:, None], days[None, :])
        walk = np.cumsum(steps, axis=1)
        onset = self.scale.days - 150
        ramp = np.clip((days - onset) / 90.0, 0.0, 1.0)
        self.sup_latent = (
            self.sup_latent0[:, None] + walk + 1.8 * self.sup_deteriorates[:, None] * ramp[None, :]
        )

    def _build_products(self) -> None:
        d, n = self.draws, self.scale.n_products
        ids = np.arange(n)
        n_cat = len(CATEGORIES)
        self.prod_category = np.floor(d.uniform("prod.cat", ids) * n_cat).astype(np.int64)
        median = np.array([c[2] for c in CATEGORIES])[self.prod_category]
        margin = np.array([c[1] for c in CATEGORIES])[self.prod_category]
        price = median * np.exp(0.6 * d.normal("prod.price", ids))
        self.prod_price_cents = np.maximum(np.round(price * 100), 50).astype(np.int64)
        margin = np.clip(margin * (0.7 + 0.6 * d.uniform("prod.margin", ids)), 0.05, 0.7)
        self.prod_cost_cents = np.round(self.prod_price_cents * (1.0 - margin)).astype(np.int64)
        # Suppliers differ in size (Zipf weights); a product has one supplier.
        w = 1.0 / (np.arange(1, self.scale.n_suppliers + 1) ** 0.7)
        self.prod_supplier = d.choice("prod.supplier", np.cumsum(w) / w.sum(), ids)
        # Popularity: Zipf over a seeded permutation of the catalogue.
        rank = np.argsort(np.argsort(d.uniform("prod.rank", ids), kind="stable"), kind="stable")
        pop = 1.0 / (rank + 5.0) ** 0.9
        self.prod_pop = pop / pop.sum()
        self.prod_pop_cdf = np.cumsum(self.prod_pop)
        self.prod_pop_cdf[-1] = 1.0
        # Substitutes: about a third of products may be replaced by another of their category.
        by_cat = np.lexsort((ids, self.prod_category))
        same_next = np.r_[self.prod_category[by_cat][1:] == self.prod_category[by_cat][:-1], False]
        has_sub = same_next & (d.uniform("prod.sub", by_cat) < 0.35)
        self.sub_product = by_cat[has_sub]
        self.sub_substitute = by_cat[np.flatnonzero(has_sub) + 1]
        self.sub_premium = np.round(-0.05 + 0.2 * d.uniform("prod.subprem", self.sub_product), 3)

    def _build_customers(self) -> None:
        d, n = self.draws, self.scale.n_customers
        ids = np.arange(n)
        self.cust_tier = d.choice("cust.tier", TIER_SHARE_CDF, ids)
        self.cust_loc = np.floor(d.uniform("cust.loc", ids) * self.scale.n_locations).astype(
            np.int64
        )
        self.cust_rate = np.exp(0.6 * d.normal("cust.rate", ids) - 0.18)
        # Latent: how strongly bad service drives this customer away, and baseline loyalty.
        self.cust_sensitivity = np.exp(0.8 * d.normal("cust.sens", ids) - 0.32)
        self.cust_loyalty = 0.5 * d.normal("cust.loyal", ids)
        self.cust_created_day = -(30 + np.floor(d.uniform("cust.since", ids) * 2000)).astype(
            np.int64
        )
        self.cust_churn_day = np.full(n, -1, dtype=np.int64)
        self.cust_shipped_cents = np.zeros(n, dtype=np.int64)
        # Service memory (bad-service points and order lines per day, last BAD_WINDOW days).
        # Customers arrive with a past: a prior spread over the window fades out as it rolls.
        lines_per_day = (
            self.scale.order_rate
            * TIER_ORDER_RATE[self.cust_tier]
            * self.cust_rate
            * self.scale.lines_per_order
        )
        prior_bad = PRIOR_BAD_PER_LINE * np.exp(0.5 * d.normal("cust.prior", ids))
        self.lines_ring = np.tile(lines_per_day, (BAD_WINDOW, 1))
        self.bad_ring = np.tile(lines_per_day * prior_bad, (BAD_WINDOW, 1))
        self.contracts = Store(
            {
                "customer": (np.int64, -1),
                "version": (np.int64, 1),
                "sla_days": (np.int64, 0),
                "fill_rate": (np.float64, 0.0),
                "penalty_rate": (np.float64, 0.0),
                "penalty_cap": (np.float64, 0.0),
                "partial_ok": (np.bool_, True),
                "subst_ok": (np.bool_, False),
                "from_day": (np.int64, 0),
                "to_day": (np.int64, -1),
                "renewal_day": (np.int64, 0),
            },
            capacity=2 * n + 16,
        )
        sla = self._draw_sla("contract.sla", ids, self.cust_tier, version=0)
        # The current contract started up to a year before day 0 and renews yearly.
        age = np.floor(d.uniform("contract.age", ids) * 365).astype(np.int64)
        from_day = np.maximum(-age, self.cust_created_day)
        self.cust_contract = self.contracts.append(
            n,
            customer=ids,
            version=1,
            sla_days=sla,
            fill_rate=FILL_RATE[self.cust_tier],
            penalty_rate=PENALTY_RATE[self.cust_tier],
            penalty_cap=np.round(0.1 + 0.1 * d.uniform("contract.cap", ids), 3),
            partial_ok=d.uniform("contract.partial", ids) < 0.8,
            subst_ok=d.uniform("contract.subst", ids) < 0.4,
            from_day=from_day,
            renewal_day=from_day + 365,
        )

    def _draw_sla(self, stream: str, ids: I64, tiers: I64, *, version: int) -> I64:
        u = self.draws.uniform(stream, ids, np.full_like(ids, version))
        out = np.empty(len(ids), dtype=np.int64)
        for tier, choices in enumerate(SLA_CHOICES):
            mask = tiers == tier
            pick = np.floor(u[mask] * len(choices)).astype(np.int64)
            out[mask] = np.asarray(choices)[pick]
        return out

    def _expected_pair_demand(self) -> F64:
        """Planner's prior forecast: mean units per day per SKU-location."""
        s = self.scale
        per_customer = (
            s.order_rate
            * TIER_ORDER_RATE[self.cust_tier]
            * self.cust_rate
            * s.lines_per_order
            * (1.0 + TIER_QTY_MEAN[self.cust_tier])
            * (5 + 2 * WEEKEND_DEMAND)
            / 7
        )
        per_loc = np.bincount(self.cust_loc, weights=per_customer, minlength=s.n_locations)
        return np.asarray(np.outer(self.prod_pop, per_loc).ravel(), dtype=np.float64)

    def _build_stock(self) -> None:
        s = self.scale
        self.n_pairs = s.n_products * s.n_locations
        self.pair_product = np.repeat(np.arange(s.n_products), s.n_locations)
        self.pair_loc = np.tile(np.arange(s.n_locations), s.n_products)
        self.pair_lead = self.sup_lead[self.prod_supplier[self.pair_product]]
        self.forecast = self._expected_pair_demand()
        rop, target = self._reorder_levels()
        self.on_hand = np.floor((rop + target) / 2.0).astype(np.int64)
        self.opening_on_hand = self.on_hand.copy()
        self.inbound = np.zeros(self.n_pairs, dtype=np.int64)
        self.backlog = np.zeros(self.n_pairs, dtype=np.int64)

    def _reorder_levels(self) -> tuple[F64, F64]:
        cover = self.forecast * (self.pair_lead + REVIEW_DAYS)
        rop = cover + SAFETY_Z * np.sqrt(cover)
        return rop, rop + self.forecast * COVER_DAYS

    def _build_stores(self) -> None:
        cap = max(1024, int(self.scale.n_customers * self.scale.order_rate * 2 * 400))
        self.orders = Store(
            {
                "customer": (np.int64, -1),
                "loc": (np.int64, -1),
                "day": (np.int64, 0),
                "promised": (np.int64, 0),
                "requested": (np.int64, 0),
                "emergency": (np.bool_, False),
            },
            capacity=cap,
        )
        self.lines = Store(
            {
                "order": (np.int64, -1),
                "line_no": (np.int64, 1),
                # Exogenous identity (customer, k-th order, day, line number) that keys the
                # line's own draws: stable across policies, unlike the array index.
                "key": (np.int64, 0),
                "customer": (np.int64, -1),
                "pair": (np.int64, -1),
                "qty": (np.int64, 0),
                "shipped": (np.int64, 0),
                "price": (np.int64, 0),  # cents per unit
                "day": (np.int64, 0),
                "promised": (np.int64, 0),
                "tier": (np.int64, 2),
                "emergency": (np.bool_, False),
                "partial_ok": (np.bool_, True),
                "peg": (np.int64, -1),  # PO line waited on (-1: none)
                "locked": (np.bool_, False),
                "pos_start": (np.int64, 0),
                "pos_end": (np.int64, 0),
                "backorder": (np.int64, -1),
                "done_day": (np.int64, -1),
                "last_ship_day": (np.int64, -1),
                "cancel_day": (np.int64, -1),
            },
            capacity=cap * 3,
        )
        self.pos = Store(
            {
                "supplier": (np.int64, -1),
                "loc": (np.int64, -1),
                "day": (np.int64, 0),
                "mode": (np.int64, 0),
            },
            capacity=4096,
        )
        self.pol = Store(
            {
                "po": (np.int64, -1),
                "line_no": (np.int64, 1),
                "pair": (np.int64, -1),
                "qty": (np.int64, 0),
                "cost": (np.int64, 0),
                "day": (np.int64, 0),
                "promised": (np.int64, 0),
                "mode": (np.int64, 0),
                "pmf": (np.int64, 0),
                "p_late": (np.float64, 0.0),
                "late": (np.bool_, False),
                "cancelled": (np.bool_, False),
                "delta": (np.int64, 0),
                "eps": (np.int64, 0),
                "arrival": (np.int64, 0),
                "eta": (np.int64, 0),  # current ETA (day index)
                "notice_day": (np.int64, 0),  # when a late line would be announced
                "noticed": (np.bool_, False),
                "noticed2": (np.bool_, False),
                "partial": (np.bool_, False),
                "first_qty": (np.int64, 0),
                "first_arrived": (np.bool_, False),
                "reason": (np.int64, RC_SUPPLIER),
                "received": (np.int64, 0),
                "received_day": (np.int64, -1),
                "locked_qty": (np.int64, 0),
                "pegged_unl": (np.int64, 0),
                "held": (np.int64, 0),
                "open": (np.bool_, True),
                "for_line": (np.int64, -1),  # spot buys: the order line it rescues
            },
            capacity=4096,
        )
        self.backorders = Store(
            {
                "line": (np.int64, -1),
                "po_line": (np.int64, -1),
                "qty": (np.int64, 0),
                "day": (np.int64, 0),
                "hour": (np.int64, 0),
                "root": (np.int64, 0),
                "status": (np.int64, ST_OPEN),
                "closed_day": (np.int64, -1),
                "p_breach": (np.float64, np.nan),
                "rescue_p": (np.float64, 0.0),
                "rescue_day": (np.int64, -1),
                "rescue_lead": (np.int64, 0),
                "has_truth": (np.bool_, False),
            },
            capacity=4096,
        )
        self.shipments = Log(("line", "loc", "day", "qty"))
        self.receipts = Log(("po_line", "day", "qty"))
        self.eta_log = Log(("po_line", "day", "hour", "prev", "new", "reason"))
        self.status_log = Log(("backorder", "from_", "to", "day", "hour", "reason"))
        self.churn_log = Log(("customer", "day", "p", "outcome"))
        self.calendar: dict[str, defaultdict[int, list[I64]]] = {
            kind: defaultdict(list)
            for kind in ("notice", "notice2", "first", "final", "rescue", "spot")
        }
        self.waiting = np.zeros(0, dtype=np.int64)
        self.open_pol = np.zeros(0, dtype=np.int64)

    # ----------------------------------------------------------------------------- helpers

    def date_of(self, day: int) -> date:
        return self.start + timedelta(days=int(day))

    def _in_crunch(self, day: int) -> bool:
        s = self.scale
        return s.crunch_days > 0 and s.days - s.crunch_days <= day < s.days + s.crunch_days // 2

    def _weekday_factor(self, day: int) -> float:
        return WEEKEND_DEMAND if self.date_of(day).weekday() >= 5 else 1.0

    # ----------------------------------------------------------------------------- running

    def run(
        self,
        days: int,
        policy: AllocationPolicy,
        *,
        on_day: Callable[[DayStats], None] | None = None,
        rescues: RescuePlanner | None = None,
    ) -> None:
        """Advance ``days`` days under ``policy`` (calling ``on_day`` after each).

        ``rescues`` replaces the world's own planner in choosing which backorders get a spot
        buy (see :meth:`step`); ``None`` keeps the world's planner.
        """
        if self.day + days + 1 > self.sup_latent.shape[1]:
            self._extend_supplier_latent(self.day + days + 400)
        if not self.policy_names or self.policy_names[-1] != policy.name:
            self.policy_names.append(policy.name)
        for _ in range(days):
            stats = self.step(policy, rescues=rescues)
            if on_day is not None:
                on_day(stats)

    def step(self, policy: AllocationPolicy, *, rescues: RescuePlanner | None = None) -> DayStats:
        """Simulate one day (see the module docstring for the order of events).

        With ``rescues``, step 6's spot buys are that planner's choice among
        :meth:`rescue_candidates` instead of the world's keyed draw (which still runs, so the
        world's other draws and records stay as they are; its planned buys are dropped).
        """
        d = self.day
        self.bad_ring[d % BAD_WINDOW] = 0.0
        self.lines_ring[d % BAD_WINDOW] = 0.0
        self._notices(d)
        self._arrivals(d)
        self._spot_arrivals(d)
        new_lines = self._place_orders(d)
        self._allocate_on_hand(d, policy)
        self._peg_and_replenish(d, policy)
        if rescues is None:
            self._place_spot_buys(d)
        else:
            self._pop_calendar("rescue", d)  # the world's own planner is replaced
            chosen = np.asarray(rescues.choose(self, self.rescue_candidates(d), d), np.int64)
            self.buy_spot(chosen, d)
        self._overdue(d)
        if self.date_of(d).day == 1:
            self._churn(d)
        self._renew_contracts(d)
        self.day = d + 1
        active = int(np.count_nonzero(self.backorders["status"] < ST_RESOLVED))
        return DayStats(d, new_lines, len(self.waiting), active)

    # ----------------------------------------------------------------------------- supply

    def _notices(self, d: int) -> None:
        pol = self.pol
        first = self._pop_calendar("notice", d)
        if len(first):
            self._announce_eta(d, first, pol["promised"][first] + pol["delta"][first], "noticed")
        second = self._pop_calendar("notice2", d)
        if len(second):
            self._announce_eta(d, second, pol["arrival"][second], "noticed2")

    def _announce_eta(self, d: int, po_lines: I64, new: I64, flag: str) -> None:
        """Suppliers tell a new ETA for ``po_lines``; it is logged and the delay propagates."""
        pol = self.pol
        old = pol["eta"][po_lines].copy()
        pol["eta"][po_lines] = new
        pol[flag][po_lines] = True
        self.eta_log.add(
            po_line=po_lines,
            day=d,
            hour=HOUR_NOTICE,
            prev=old,
            new=new,
            reason=pol["reason"][po_lines],
        )
        self._po_delayed(d, po_lines)

    def _po_delayed(self, d: int, po_lines: I64) -> None:
        """A PO line's ETA moved out: its locked backorders say so; pegged lines become ones."""
        w = self.waiting
        lines = self.lines
        hit = w[np.isin(lines["peg"][w], po_lines)]
        if not len(hit):
            return
        locked = hit[lines["locked"][hit]]
        bo = lines["backorder"][locked]
        bo = bo[bo >= 0]
        if len(bo):
            status = self.backorders["status"][bo]
            self._transition(bo[status <= ST_ETA], ST_ETA, d, HOUR_NOTICE, reason=1)
        fresh = hit[~lines["locked"][hit]]
        if len(fresh):
            root = self.pol["reason"][lines["peg"][fresh]]
            self._open_backorders(fresh, root, d, HOUR_NOTICE)

    def _pop_calendar(self, kind: str, d: int) -> I64:
        chunks = self.calendar[kind].pop(d, [])
        if not chunks:
            return np.zeros(0, dtype=np.int64)
        return np.sort(np.concatenate(chunks))

    def _arrivals(self, d: int) -> None:
        pol, lines = self.pol, self.lines
        first = self._pop_calendar("first", d)
        final = self._pop_calendar("final", d)
        for po_lines, is_first in ((first, True), (final, False)):
            if not len(po_lines):
                continue
            if is_first:
                piece = pol["first_qty"][po_lines]
            else:
                piece = pol["qty"][po_lines] - pol["received"][po_lines]
            self.receipts.add(po_line=po_lines, day=d, qty=piece)
            available = piece + (0 if is_first else pol["held"][po_lines])
            pol["received"][po_lines] += piece
            pol["received_day"][po_lines] = d
            # Locked (backordered) lines pegged to these PO lines ship first, by position.
            w = self.waiting
            mine = w[lines["locked"][w] & np.isin(lines["peg"][w], po_lines)]
            give = np.zeros(len(mine), dtype=np.int64)
            held = np.zeros(len(mine), dtype=np.int64)
            if len(mine):
                open_qty = lines["qty"][mine] - lines["shipped"][mine]
                if is_first:
                    fq = pol["first_qty"][lines["peg"][mine]]
                    start, end = lines["pos_start"][mine], lines["pos_end"][mine]
                    covered = end <= fq
                    straddle = (start < fq) & (end > fq)
                    part = np.where(straddle, fq - start, 0)
                    can_split = lines["partial_ok"][mine]
                    give = np.where(covered, open_qty, np.where(can_split, part, 0))
                    held = np.where(straddle & ~can_split, part, 0)
                else:
                    give = open_qty
                self._ship(mine, give, d, HOUR_RECEIPT)
            # Map the shipped and held quantities back to the PO lines.
            slot = np.searchsorted(po_lines, lines["peg"][mine]) if len(mine) else mine
            shipped_po = np.bincount(slot, weights=give, minlength=len(po_lines)).astype(np.int64)
            held_po = np.bincount(slot, weights=held, minlength=len(po_lines)).astype(np.int64)
            to_stock = available - shipped_po - held_po
            pairs = pol["pair"][po_lines]
            np.add.at(self.on_hand, pairs, to_stock)
            if is_first:
                pol["held"][po_lines] += held_po
                pol["first_arrived"][po_lines] = True
                pol["locked_qty"][po_lines] = np.maximum(pol["locked_qty"][po_lines], piece)
                np.subtract.at(self.inbound, pairs, piece - held_po)
            else:
                np.subtract.at(self.inbound, pairs, piece + pol["held"][po_lines])
                pol["held"][po_lines] = 0
                pol["open"][po_lines] = False
                self.open_pol = self.open_pol[pol["open"][self.open_pol]]
            # Unlocked lines pegged here lose their peg: the stock went on hand, where the
            # policy decides who gets it; the rest are pegged again further down the day.
            self._unpeg(po_lines)

    def _unpeg(self, po_lines: I64) -> None:
        w = self.waiting
        lines = self.lines
        mine = w[~lines["locked"][w] & np.isin(lines["peg"][w], po_lines)]
        lines["peg"][mine] = -1
        self.pol["pegged_unl"][po_lines] = 0

    def _ship(self, idx: I64, qty: I64, d: int, hour: int) -> None:
        """Ship ``qty`` units to lines ``idx`` (zeros ignored) and update everything it touches."""
        keep = qty > 0
        idx, qty = idx[keep], qty[keep]
        if not len(idx):
            return
        lines = self.lines
        self.shipments.add(line=idx, loc=self.pair_loc[lines["pair"][idx]], day=d, qty=qty)
        lines["shipped"][idx] += qty
        lines["last_ship_day"][idx] = d
        np.subtract.at(self.backlog, lines["pair"][idx], qty)
        np.add.at(self.cust_shipped_cents, lines["customer"][idx], qty * lines["price"][idx])
        # Unlocked lines that were pegged release their share of the PO line's room.
        peg = lines["peg"][idx]
        unl = (peg >= 0) & ~lines["locked"][idx]
        np.subtract.at(self.pol["pegged_unl"], peg[unl], qty[unl])
        done = lines["shipped"][idx] >= lines["qty"][idx]
        lines["done_day"][idx[done]] = d
        bo = lines["backorder"][idx]
        has = bo >= 0
        self._transition(bo[has & done], ST_RESOLVED, d, hour, reason=3)
        partial = bo[has & ~done]
        self._transition(partial, ST_PARTIAL, d, hour, reason=2)
        if done.any():
            w = self.waiting
            self.waiting = w[lines["done_day"][w] < 0]

    # ----------------------------------------------------------------------------- demand

    def _place_orders(self, d: int) -> int:
        s, dr = self.scale, self.draws
        ids = np.arange(s.n_customers)
        active = (self.cust_churn_day < 0) | (self.cust_churn_day > d)
        season = 1.0 + 0.45 * float(season_bump(np.array([d]), self.start)[0])
        surge = s.crunch_demand if self._in_crunch(d) else 1.0
        rate = (
            s.order_rate
            * TIER_ORDER_RATE[self.cust_tier]
            * self.cust_rate
            * season
            * surge
            * self._weekday_factor(d)
        )
        # Orders per customer today: Poisson(rate) by inverse CDF (at most MAX_ORDERS_PER_DAY).
        u = dr.uniform("dem.order", ids, d)
        count = np.zeros(s.n_customers, dtype=np.int64)
        term = np.exp(-rate)
        cdf = term.copy()
        for k in range(1, MAX_ORDERS_PER_DAY + 1):
            count += (u >= cdf) & active
            term = term * rate / k
            cdf = cdf + term
        cust = np.repeat(ids, count)
        # k-th order of the customer today (keys the order's own draws).
        nth = np.arange(len(cust)) - np.repeat(np.cumsum(count) - count, count)
        ckey = cust * (MAX_ORDERS_PER_DAY + 1) + nth
        n_orders = len(cust)
        if n_orders == 0:
            self._update_forecast(np.zeros(self.n_pairs))
            return 0
        # Lines per order: 1 + Poisson(lines_per_order - 1), capped at 12 (inverse CDF).
        lam = s.lines_per_order - 1.0
        ks = np.arange(12)
        log_fact = np.cumsum(np.log(np.maximum(ks, 1)))
        pmf = np.exp(-lam + ks * np.log(lam) - log_fact)
        cdf = np.cumsum(pmf) / pmf.sum()
        n_lines = 1 + dr.choice("dem.nlines", cdf, ckey, d)
        tier = self.cust_tier[cust]
        contract = self.cust_contract[cust]
        sla = self.contracts["sla_days"][contract]
        req = d + np.maximum(1, sla - np.floor(dr.uniform("dem.req", ckey, d) * 3)).astype(np.int64)
        emergency = dr.uniform("dem.emerg", ckey, d) < TIER_EMERGENCY[tier]
        order_idx = self.orders.append(
            n_orders,
            customer=cust,
            loc=self.cust_loc[cust],
            day=d,
            promised=d + sla,
            requested=req,
            emergency=emergency,
        )
        # Expand to lines.
        line_order = np.repeat(order_idx, n_lines)
        line_cust = np.repeat(cust, n_lines)
        line_key = np.repeat(ckey, n_lines)
        starts = np.cumsum(n_lines) - n_lines
        line_no = np.arange(len(line_order)) - np.repeat(starts, n_lines) + 1
        product = dr.choice("dem.product", self.prod_pop_cdf, line_key, d, line_no)
        pair = product * s.n_locations + self.cust_loc[line_cust]
        ltier = self.cust_tier[line_cust]
        qty = 1 + np.floor(
            -np.log1p(-dr.uniform("dem.qty", line_key, d, line_no)) * TIER_QTY_MEAN[ltier]
        ).astype(np.int64)
        qty = np.minimum(qty, 60)
        idx = self.lines.append(
            len(line_order),
            order=line_order,
            line_no=line_no,
            key=(line_key << 24) | (d << 4) | line_no,
            customer=line_cust,
            pair=pair,
            qty=qty,
            price=self.prod_price_cents[product],
            day=d,
            promised=self.orders["promised"][line_order],
            tier=ltier,
            emergency=self.orders["emergency"][line_order],
            partial_ok=self.contracts["partial_ok"][self.cust_contract[line_cust]],
        )
        np.add.at(self.backlog, pair, qty)
        np.add.at(self.lines_ring[d % BAD_WINDOW], line_cust, 1.0)
        self.waiting = np.concatenate([self.waiting, idx])
        demand = np.bincount(pair, weights=qty, minlength=self.n_pairs).astype(np.float64)
        self._update_forecast(demand)
        return len(idx)

    def _update_forecast(self, demand: F64) -> None:
        self.forecast = (1.0 - FORECAST_ALPHA) * self.forecast + FORECAST_ALPHA * demand

    def _demand_lines(self, idx: I64, d: int, *, whole: bool = False) -> DemandLines:
        lines = self.lines
        return DemandLines(
            line_id=idx,
            group=lines["pair"][idx],
            quantity=lines["qty"][idx] - lines["shipped"][idx],
            allow_partial=np.zeros(len(idx), dtype=bool) if whole else lines["partial_ok"][idx],
            unit_price=lines["price"][idx] / 100.0,
            tier=lines["tier"][idx],
            emergency=lines["emergency"][idx],
            ordered_day=lines["day"][idx],
            day=d,
        )

    def _allocate_on_hand(self, d: int, policy: AllocationPolicy) -> None:
        w = self.waiting
        lines = self.lines
        free = w[~lines["locked"][w]]
        free = free[self.on_hand[lines["pair"][free]] > 0]
        if not len(free):
            return
        batch = self._demand_lines(free, d)
        give = np.asarray(policy.allocate(batch, self.on_hand), dtype=np.int64)
        give = np.clip(give, 0, batch.quantity)
        np.subtract.at(self.on_hand, batch.group, give)
        if (self.on_hand < 0).any():
            raise RuntimeError(f"policy {policy.name!r} allocated more than the stock on hand")
        self._ship(free, give, d, HOUR_ALLOCATE)

    # ----------------------------------------------------------------------------- pegging

    def _peg_and_replenish(self, d: int, policy: AllocationPolicy) -> None:
        lines, pol = self.lines, self.pol
        w = self.waiting
        todo = w[~lines["locked"][w] & (lines["peg"][w] < 0)]
        newly = [self._peg(todo, self.open_pol, d, policy)]
        todo = todo[lines["peg"][todo] < 0]
        # Reorder point per SKU-location; always cover what could not be pegged.
        position = self.on_hand + self.inbound - self.backlog
        rop, target = self._reorder_levels()
        need = np.zeros(self.n_pairs, dtype=np.int64)
        if len(todo):
            unpegged = np.bincount(
                lines["pair"][todo],
                weights=lines["qty"][todo] - lines["shipped"][todo],
                minlength=self.n_pairs,
            )
            need = unpegged.astype(np.int64)
        top_up = np.where(position < rop, np.ceil(target - position), 0).astype(np.int64)
        qty = np.maximum(top_up, need)
        pairs = np.flatnonzero(qty > 0)
        if len(pairs):
            created = self._create_po_lines(pairs, qty[pairs], d)
            if len(todo):
                newly.append(self._peg(todo, created, d, policy))
        pegged = np.concatenate(newly)
        # A freshly pegged line whose supply cannot make its promised date is a backorder.
        if len(pegged):
            peg = lines["peg"][pegged]
            late = pol["noticed"][peg] | (pol["eta"][peg] > lines["promised"][pegged])
            has_bo = lines["backorder"][pegged] >= 0
            bo_new = pegged[late & ~has_bo]
            if len(bo_new):
                self._open_backorders(bo_new, self._root_cause(bo_new, d), d, HOUR_BACKORDER)
            # Stock-out backorders created earlier without supply now wait on a PO line.
            relock = pegged[has_bo]
            if len(relock):
                self._lock(relock, d, with_truth=False)
                self.backorders["po_line"][lines["backorder"][relock]] = lines["peg"][relock]

    def _root_cause(self, idx: I64, d: int) -> I64:
        peg = self.lines["peg"][idx]
        delayed = self.pol["noticed"][peg]
        spike = self._in_crunch(d) or float(season_bump(np.array([d]), self.start)[0]) > 0.5
        other = RC_DEMAND if spike else RC_STOCKOUT
        return np.where(delayed, self.pol["reason"][peg], other).astype(np.int64)

    def _peg(self, todo: I64, candidates: I64, d: int, policy: AllocationPolicy) -> I64:
        """Peg waiting lines to PO lines with room, earliest ETA first, in the policy's order."""
        lines, pol = self.lines, self.pol
        if not len(todo) or not len(candidates):
            return np.zeros(0, dtype=np.int64)
        room = (
            pol["qty"][candidates] - pol["locked_qty"][candidates] - pol["pegged_unl"][candidates]
        )
        cand = candidates[(room > 0) & np.isin(pol["pair"][candidates], lines["pair"][todo])]
        if not len(cand):
            return np.zeros(0, dtype=np.int64)
        order = np.lexsort((cand, pol["eta"][cand], pol["pair"][cand]))
        cand = cand[order]
        cpair = pol["pair"][cand]
        starts = np.flatnonzero(np.r_[True, cpair[1:] != cpair[:-1]])
        rank = np.arange(len(cand)) - np.repeat(starts, np.diff(np.r_[starts, len(cand)]))
        pegged: list[I64] = []
        remaining = todo
        for k in range(min(PEG_SLOTS, int(rank.max()) + 1)):
            slot = cand[rank == k]
            if not len(remaining) or not len(slot):
                break
            supply = np.zeros(self.n_pairs, dtype=np.int64)
            slot_of_pair = np.full(self.n_pairs, -1, dtype=np.int64)
            supply[pol["pair"][slot]] = (
                pol["qty"][slot] - pol["locked_qty"][slot] - pol["pegged_unl"][slot]
            )
            slot_of_pair[pol["pair"][slot]] = slot
            here = remaining[supply[lines["pair"][remaining]] > 0]
            if not len(here):
                continue
            batch = self._demand_lines(here, d, whole=True)
            give = np.asarray(policy.allocate(batch, supply), dtype=np.int64)
            got = here[(give >= batch.quantity) & (give > 0)]
            if len(got):
                peg = slot_of_pair[lines["pair"][got]]
                lines["peg"][got] = peg
                np.add.at(pol["pegged_unl"], peg, lines["qty"][got] - lines["shipped"][got])
                pegged.append(got)
                remaining = remaining[lines["peg"][remaining] < 0]
        return np.concatenate(pegged) if pegged else np.zeros(0, dtype=np.int64)

    def p_late(self, supplier: I64, mode: I64, d: int) -> F64:
        """True P(late) of a PO line ordered on day ``d`` from ``supplier`` by ship ``mode``."""
        logit = (
            LATE_INTERCEPT
            + self.sup_latent[supplier, d]
            + LATE_SEASON * season_bump(np.full(len(supplier), d), self.start)
            + LATE_MODE[mode]
            + LATE_REGION[self.sup_region[supplier]]
            + (self.scale.crunch_delay_logit if self._in_crunch(d) else 0.0)
        )
        return sigmoid(logit)

    def p_supply_on_time(self, po: I64, pos_end: I64, due: I64, d: int) -> F64:
        """True P(the piece of PO line ``po`` covering ``pos_end`` arrives by ``due``), as of ``d``.

        Public face of :meth:`_p_on_time` (the law behind every backorder's recorded
        P(breach)), for a simulator that prices waiting lines with the world's own truth.
        """
        return self._p_on_time(po, pos_end, due, d)

    def _create_po_lines(self, pairs: I64, qty: I64, d: int) -> I64:
        """Buy ``qty`` units for each SKU-location in ``pairs``; returns the open new PO lines."""
        dr, pol = self.draws, self.pol
        product = self.pair_product[pairs]
        loc = self.pair_loc[pairs]
        supplier = self.prod_supplier[product]
        # One PO per (supplier, warehouse) and day; its lines are that day's SKUs.
        order = np.lexsort((product, loc, supplier))
        pairs, qty, product, loc, supplier = (
            a[order] for a in (pairs, qty, product, loc, supplier)
        )
        key = supplier * self.scale.n_locations + loc
        head = np.r_[True, key[1:] != key[:-1]]
        po_sup, po_loc = supplier[head], loc[head]
        u_mode = dr.uniform("po.mode", po_sup, po_loc, d)
        default = self.sup_mode[po_sup]
        mode = np.where(u_mode < 0.85, default, np.where(default == AIR, GROUND, AIR))
        # Overseas suppliers cannot truck to us directly: "ground" means ocean then truck.
        po_idx = self.pos.append(len(po_sup), supplier=po_sup, loc=po_loc, day=d, mode=mode)
        group = np.cumsum(head) - 1
        line_no = np.arange(len(pairs)) - np.flatnonzero(head)[group] + 1
        lmode = mode[group]
        region = self.sup_region[supplier]
        promised = d + LEAD_DAYS[lmode, region]
        crunch = self._in_crunch(d)
        p_late = self.p_late(supplier, lmode, d)
        late = dr.uniform("po.late", pairs, d) < p_late
        cancelled = dr.uniform("po.cancel", pairs, d) < P_PO_CANCEL
        pmf = lmode + (3 if crunch else 0)
        delta = 1 + np.minimum(
            (dr.uniform("po.delta", pairs, d)[:, None] >= DELTA_CDF[pmf, 1:]).sum(axis=1),
            DELTA_MAX - 1,
        )
        eps = np.minimum(
            (dr.uniform("po.eps", pairs, d)[:, None] >= EPS_CDF[pmf]).sum(axis=1), EPS_MAX
        )
        early = dr.choice("po.early", EARLY_CDF, pairs, d)
        arrival = np.where(late, promised + delta + eps, promised - early)
        partial = late & (qty >= 2) & (dr.uniform("po.partial", pairs, d) < P_PARTIAL)
        share = np.asarray(FIRST_SHARES)[
            np.minimum(np.floor(dr.uniform("po.share", pairs, d) * 3), 2).astype(np.int64)
        ]
        first_qty = np.where(partial, _first_qty(share, qty), 0)
        u_reason = dr.uniform("po.reason", pairs, d)
        reason = np.full(len(pairs), RC_SUPPLIER, dtype=np.int64)
        for code, cum in reversed(DELAY_REASONS):
            reason[u_reason < cum] = code
        notice_day = np.maximum(d + 1, promised - NOTICE_LEAD[lmode])
        idx = pol.append(
            len(pairs),
            po=po_idx[group],
            line_no=line_no,
            pair=pairs,
            qty=qty,
            cost=self.prod_cost_cents[product],
            day=d,
            promised=promised,
            mode=lmode,
            pmf=pmf,
            p_late=p_late,
            late=late,
            cancelled=cancelled,
            delta=np.where(late, delta, 0),
            eps=np.where(late, eps, 0),
            arrival=arrival,
            eta=promised,
            notice_day=notice_day,
            partial=partial,
            first_qty=first_qty,
            reason=reason,
            open=~cancelled,
        )
        live = idx[~cancelled]
        self.eta_log.add(
            po_line=live,
            day=d,
            hour=HOUR_BACKORDER,
            prev=-1,
            new=promised[~cancelled],
            reason=-1,
        )
        np.add.at(self.inbound, pairs[~cancelled], qty[~cancelled])
        self.open_pol = np.concatenate([self.open_pol, live])
        cal = self.calendar
        lt = live[pol["late"][live]]
        for day_, group_ in _by_day(pol["notice_day"][lt], lt):
            cal["notice"][day_].append(group_)
        slip = lt[pol["eps"][lt] > 0]
        for day_, group_ in _by_day(pol["promised"][slip] + pol["delta"][slip], slip):
            cal["notice2"][day_].append(group_)
        parts = live[pol["partial"][live]]
        for day_, group_ in _by_day(pol["promised"][parts], parts):
            cal["first"][day_].append(group_)
        for day_, group_ in _by_day(pol["arrival"][live], live):
            cal["final"][day_].append(group_)
        return live

    # ----------------------------------------------------------------------------- backorders

    def _open_backorders(self, idx: I64, root: I64, d: int, hour: int) -> None:
        """Create one backorder per line in ``idx``; lock pegged ones and record P(breach)."""
        lines, bos = self.lines, self.backorders
        open_qty = lines["qty"][idx] - lines["shipped"][idx]
        bo = bos.append(
            len(idx),
            line=idx,
            po_line=lines["peg"][idx],
            qty=open_qty,
            day=d,
            hour=hour,
            root=root,
        )
        lines["backorder"][idx] = bo
        self.status_log.add(backorder=bo, from_=-1, to=ST_OPEN, day=d, hour=hour, reason=0)
        self._plan_rescue(bo, d)
        np.add.at(self.bad_ring[d % BAD_WINDOW], lines["customer"][idx], BAD_BACKORDER)
        pegged = idx[lines["peg"][idx] >= 0]
        if len(pegged):
            self._lock(pegged, d, with_truth=True)

    def _lock(self, idx: I64, d: int, *, with_truth: bool) -> None:
        """Reserve positions on the pegged PO lines (in the given order) for lines ``idx``."""
        lines, pol = self.lines, self.pol
        peg = lines["peg"][idx]
        open_qty = lines["qty"][idx] - lines["shipped"][idx]
        order = np.argsort(peg, kind="stable")
        sp, sq = peg[order], open_qty[order]
        cum = np.cumsum(sq)
        starts = np.flatnonzero(np.r_[True, sp[1:] != sp[:-1]])
        before = cum - sq - np.repeat(cum[starts] - sq[starts], np.diff(np.r_[starts, len(sp)]))
        pos_start = np.empty(len(idx), dtype=np.int64)
        pos_start[order] = pol["locked_qty"][sp] + before
        lines["pos_start"][idx] = pos_start
        lines["pos_end"][idx] = pos_start + open_qty
        lines["locked"][idx] = True
        np.add.at(pol["locked_qty"], peg, open_qty)
        np.subtract.at(pol["pegged_unl"], peg, open_qty)
        if with_truth:
            due = lines["promised"][idx]
            p_po = self._p_on_time(peg, lines["pos_end"][idx], due, d)
            bo = lines["backorder"][idx]
            # A spot buy (independent of the supplier) may come first: P(decide + lead <= due).
            col = np.clip(due - d, 0, len(RESCUE_TOTAL_CDF) - 1)
            p_rescue = self.backorders["rescue_p"][bo] * np.where(
                due - d >= 1, RESCUE_TOTAL_CDF[col], 0.0
            )
            p_ok = 1.0 - (1.0 - p_po) * (1.0 - p_rescue)
            self.backorders["p_breach"][bo] = np.clip(1.0 - p_ok, 0.0, 1.0)
            self.backorders["has_truth"][bo] = lines["promised"][idx] > d

    def _p_on_time(self, po: I64, pos_end: I64, due: I64, d: int) -> F64:
        """P(the piece of PO line ``po`` covering ``pos_end`` arrives by day ``due``).

        Exact under the world's arrival model given what was revealed by day ``d``: a line
        announced late arrives at ETA + slip (slip ~ the line's geometric law); one announced
        twice arrives at the second ETA; one not (yet) announced mixes the on-time law (0-2
        days early) and the late law (announced delay + slip, and the chance of a first piece
        on the promised date), conditioned on whether its notice day has passed.
        """
        pol = self.pol
        promised = pol["promised"][po]
        pmf = pol["pmf"][po]
        qty = pol["qty"][po]
        out = np.zeros(len(po), dtype=np.float64)

        second = pol["noticed2"][po]
        out[second] = (pol["arrival"][po][second] <= due[second]).astype(np.float64)

        first = pol["noticed"][po] & ~second
        if first.any():
            covered = (
                pol["partial"][po] & ~pol["first_arrived"][po] & (pos_end <= pol["first_qty"][po])
            )[first]
            slack = (due - pol["eta"][po])[first]
            p = _eps_cdf(pmf[first], slack)
            out[first] = np.where(covered, (promised[first] <= due[first]).astype(float), p)

        unknown = ~pol["noticed"][po]
        on_time_known = unknown & (d >= pol["notice_day"][po])
        if on_time_known.any():
            out[on_time_known] = _early_p(promised[on_time_known], due[on_time_known], d)

        mix = unknown & ~on_time_known
        if mix.any():
            pl = pol["p_late"][po][mix]
            p_on = _early_p(promised[mix], due[mix], d)
            s = _late_p(pmf[mix], due[mix] - promised[mix])
            q = np.where(qty[mix] >= 2, P_PARTIAL, 0.0)
            in_first = np.zeros(int(mix.sum()), dtype=np.float64)
            for share in FIRST_SHARES:
                fq = _first_qty(np.full(int(mix.sum()), share), qty[mix])
                in_first += (pos_end[mix] <= fq) / len(FIRST_SHARES)
            first_ok = (promised[mix] <= due[mix]).astype(np.float64)
            late_ok = (1.0 - q) * s + q * (in_first * first_ok + (1.0 - in_first) * s)
            out[mix] = (1.0 - pl) * p_on + pl * late_ok
        return out

    def _plan_rescue(self, bo: I64, d: int) -> None:
        """Decide (by a keyed draw) whether and when a planner will buy this line elsewhere."""
        lines, bos = self.lines, self.backorders
        line = bos["line"][bo]
        value = np.maximum(bos["qty"][bo] * lines["price"][line] / 100.0, 1.0)
        logit = (
            RESCUE_INTERCEPT
            + RESCUE_TIER[lines["tier"][line]]
            + RESCUE_EMERGENCY * lines["emergency"][line]
            + RESCUE_VALUE * np.log(value / 500.0)
        )
        # The spot market dries up in a supply crunch.
        rho = sigmoid(logit - (RESCUE_CRUNCH if self._in_crunch(d) else 0.0))
        bos["rescue_p"][bo] = rho
        dr = self.draws
        key = lines["key"][line]
        yes = dr.uniform("bo.rescue", key) < rho
        decide = np.asarray(RESCUE_DECIDE_DAYS)[
            np.minimum(
                np.floor(dr.uniform("bo.rescue_day", key) * len(RESCUE_DECIDE_DAYS)),
                len(RESCUE_DECIDE_DAYS) - 1,
            ).astype(np.int64)
        ]
        lead = np.minimum(
            (dr.uniform("bo.rescue_lead", key)[:, None] >= RESCUE_LEAD_CDF[None, :]).sum(axis=1),
            RESCUE_LEAD_MAX,
        )
        chosen = bo[yes]
        bos["rescue_day"][chosen] = d + decide[yes]
        bos["rescue_lead"][chosen] = lead[yes]
        for day_, group_ in _by_day(d + decide[yes], chosen):
            self.calendar["rescue"][day_].append(group_)

    def _place_spot_buys(self, d: int) -> None:
        """Spot purchases for planned rescues whose line still waits (arrive on time)."""
        bo = self._pop_calendar("rescue", d)
        if not len(bo):
            return
        lines, bos = self.lines, self.backorders
        line = bos["line"][bo]
        alive = (lines["done_day"][line] < 0) & (lines["cancel_day"][line] < 0)
        bo, line = bo[alive], line[alive]
        if not len(bo):
            return
        self._spot_po_lines(bo, line, d)

    def rescue_lead(self, bo: I64) -> I64:
        """Days from placing a spot buy for backorders ``bo`` to its arrival (the spot market's
        quote, which the world honours): the keyed draw the world's own planner uses, so a line
        gets the same lead whoever buys it."""
        key = self.lines["key"][self.backorders["line"][bo]]
        u = self.draws.uniform("bo.rescue_lead", key)
        lead: I64 = np.minimum(
            (u[:, None] >= RESCUE_LEAD_CDF[None, :]).sum(axis=1), RESCUE_LEAD_MAX
        ).astype(np.int64)
        return lead

    def rescue_candidates(self, d: int) -> I64:
        """Backorders a planner may buy elsewhere on day ``d``: active, created before today
        (a planner acts on yesterday's backorders at the earliest, as the world's own planner
        does), their line still waiting, and not bought from the spot market before."""
        bos, lines, pol = self.backorders, self.lines, self.pol
        bo = np.flatnonzero((bos["status"] < ST_RESOLVED) & (bos["day"] < d))
        line = bos["line"][bo]
        alive = (lines["done_day"][line] < 0) & (lines["cancel_day"][line] < 0)
        bo, line = bo[alive], line[alive]
        spot = pol["for_line"]
        return bo[~np.isin(line, spot[spot >= 0])]

    def buy_spot(self, bo: I64, d: int) -> None:
        """Buy the open quantity of backorders ``bo`` from the spot market on day ``d`` (a
        planner's decision; lead times from :meth:`rescue_lead`).

        Raises
        ------
        ValueError
            A backorder is not among :meth:`rescue_candidates` (closed, its line shipped or
            cancelled, bought before, or created today), or is named twice.
        """
        if not len(bo):
            return
        ok = np.isin(bo, self.rescue_candidates(d))
        if not ok.all() or len(np.unique(bo)) != len(bo):
            raise ValueError(
                f"cannot buy backorders {bo[~ok].tolist() or bo.tolist()} on day {d}: not"
                " rescue candidates, or named twice"
            )
        bos = self.backorders
        bos["rescue_day"][bo] = d
        bos["rescue_lead"][bo] = self.rescue_lead(bo)
        self._spot_po_lines(bo, bos["line"][bo], d)

    def _spot_po_lines(self, bo: I64, line: I64, d: int) -> None:
        """Spot PO lines for backorders ``bo`` (lines ``line``), arriving after their lead."""
        lines, bos, pol = self.lines, self.backorders, self.pol
        qty = lines["qty"][line] - lines["shipped"][line]
        pair = lines["pair"][line]
        lead = bos["rescue_lead"][bo]
        spot = self.scale.n_suppliers  # the extra "spot market" supplier
        po_idx = self.pos.append(len(bo), supplier=spot, loc=self.pair_loc[pair], day=d, mode=AIR)
        cost = np.round(self.prod_cost_cents[self.pair_product[pair]] * SPOT_COST_PREMIUM)
        idx = pol.append(
            len(bo),
            po=po_idx,
            line_no=1,
            pair=pair,
            qty=qty,
            cost=cost.astype(np.int64),
            day=d,
            promised=d + lead,
            mode=AIR,
            pmf=AIR,
            p_late=-1.0,  # not a drawn supplier outcome: no truth
            arrival=d + lead,
            eta=d + lead,
            notice_day=np.iinfo(np.int64).max // 2,
            open=False,  # reserved for its line: never pegged by others
            for_line=line,
        )
        self.eta_log.add(po_line=idx, day=d, hour=HOUR_BACKORDER, prev=-1, new=d + lead, reason=-1)
        np.add.at(self.inbound, pair, qty)
        for day_, group_ in _by_day(d + lead, idx):
            self.calendar["spot"][day_].append(group_)

    def _spot_arrivals(self, d: int) -> None:
        po_lines = self._pop_calendar("spot", d)
        if not len(po_lines):
            return
        pol, lines = self.pol, self.lines
        qty = pol["qty"][po_lines]
        self.receipts.add(po_line=po_lines, day=d, qty=qty)
        pol["received"][po_lines] = qty
        pol["received_day"][po_lines] = d
        line = pol["for_line"][po_lines]
        alive = (lines["done_day"][line] < 0) & (lines["cancel_day"][line] < 0)
        give = np.where(alive, np.minimum(qty, lines["qty"][line] - lines["shipped"][line]), 0)
        pairs = pol["pair"][po_lines]
        np.subtract.at(self.inbound, pairs, qty)
        np.add.at(self.on_hand, pairs, qty - give)
        self._ship(line, give, d, HOUR_RECEIPT)

    def _transition(self, bo: I64, to: int, d: int, hour: int, *, reason: int) -> None:
        """Move backorders ``bo`` to status ``to``, skipping the ones the lifecycle forbids."""
        if not len(bo):
            return
        status = self.backorders["status"]
        cur = status[bo]
        ok = _ALLOWED[cur, to]
        bo = bo[ok]
        if not len(bo):
            return
        self.status_log.add(backorder=bo, from_=cur[ok], to=to, day=d, hour=hour, reason=reason)
        status[bo] = to
        if to in (ST_RESOLVED, ST_CANCELLED):
            self.backorders["closed_day"][bo] = d

    def _overdue(self, d: int) -> None:
        """Escalate overdue backorders, let some customers cancel, count bad service."""
        lines = self.lines
        w = self.waiting
        overdue = d - lines["promised"][w]
        late = w[overdue > 0]
        ring = self.bad_ring[d % BAD_WINDOW]
        np.add.at(ring, lines["customer"][late], BAD_LATE_DAY)
        breached = w[overdue == 1]
        np.add.at(ring, lines["customer"][breached], BAD_BREACH)
        # Lines already past their date without a backorder become stock-out backorders.
        missing = late[lines["backorder"][late] < 0]
        if len(missing):
            root = np.full(len(missing), RC_STOCKOUT, dtype=np.int64)
            self._overdue_backorders(missing, root, d)
        bo = lines["backorder"][late]
        days_over = d - lines["promised"][late]
        escalate = bo[np.isin(days_over, (7, 14, 21))]
        self._transition(escalate, ST_ESC, d, HOUR_ESCALATE, reason=4)
        # Customers give up on some overdue lines; more sensitive customers sooner.
        cust = lines["customer"][late]
        hazard = 0.004 * self.cust_sensitivity[cust] * (1.0 + days_over / 14.0)
        cancel = late[self.draws.uniform("bo.cancel", lines["key"][late], d) < hazard]
        if len(cancel):
            self._cancel_lines(cancel, d)

    def _overdue_backorders(self, idx: I64, root: I64, d: int) -> None:
        """Backorders for lines already past their promised date (the breach is a fact)."""
        lines, bos = self.lines, self.backorders
        bo = bos.append(
            len(idx),
            line=idx,
            po_line=lines["peg"][idx],
            qty=lines["qty"][idx] - lines["shipped"][idx],
            day=d,
            hour=HOUR_ESCALATE,
            root=root,
        )
        lines["backorder"][idx] = bo
        self.status_log.add(backorder=bo, from_=-1, to=ST_OPEN, day=d, hour=HOUR_ESCALATE, reason=0)
        self._plan_rescue(bo, d)
        pegged = idx[(lines["peg"][idx] >= 0) & ~lines["locked"][idx]]
        if len(pegged):
            self._lock(pegged, d, with_truth=False)

    def _cancel_lines(self, idx: I64, d: int) -> None:
        lines = self.lines
        open_qty = lines["qty"][idx] - lines["shipped"][idx]
        lines["cancel_day"][idx] = d
        np.subtract.at(self.backlog, lines["pair"][idx], open_qty)
        peg = lines["peg"][idx]
        unl = (peg >= 0) & ~lines["locked"][idx]
        np.subtract.at(self.pol["pegged_unl"], peg[unl], open_qty[unl])
        self._transition(lines["backorder"][idx], ST_CANCELLED, d, HOUR_ESCALATE + 2, reason=5)
        w = self.waiting
        self.waiting = w[lines["cancel_day"][w] < 0]

    # ----------------------------------------------------------------------------- customers

    def _churn(self, d: int) -> None:
        """Month start: every active customer may churn within 30 days (truth recorded)."""
        n = self.scale.n_customers
        ids = np.arange(n)
        active = self.cust_churn_day < 0
        p = self.churn_probability(d)
        churn = active & (self.draws.uniform("cust.churn", ids, d) < p)
        self.churn_log.add(customer=ids[active], day=d, p=p[active], outcome=churn[active])
        when = np.floor(self.draws.uniform("cust.churn_day", ids, d) * 30).astype(np.int64)
        self.cust_churn_day[churn] = d + when[churn]

    def churn_probability(self, d: int) -> F64:
        """True P(churn within 30 days) of every customer if day ``d`` were a month start.

        The law :meth:`_churn` draws from: tier, loyalty, the customer's sensitivity times the
        bad service of the last ``BAD_WINDOW`` days, and a contract renewal within 45 days.
        """
        bad = self.bad_ring.sum(axis=0) / (3.0 + self.lines_ring.sum(axis=0))
        renewal = self.contracts["renewal_day"][self.cust_contract]
        near_renewal = (renewal >= d) & (renewal - d <= 45)
        logit = (
            CHURN_INTERCEPT
            + CHURN_TIER[self.cust_tier]
            + self.cust_loyalty
            + CHURN_BAD_SERVICE * self.cust_sensitivity * np.log1p(10.0 * bad)
            + CHURN_RENEWAL * near_renewal
        )
        return sigmoid(logit)

    def _renew_contracts(self, d: int) -> None:
        c = self.contracts
        current = self.cust_contract
        due = np.flatnonzero(
            (c["renewal_day"][current] == d)
            & ((self.cust_churn_day < 0) | (self.cust_churn_day > d))
        )
        if not len(due):
            return
        cur = current[due]
        change = self.draws.uniform("contract.change", due, d) < RENEWAL_CHANGE
        keep = cur[~change]
        c["renewal_day"][keep] += 365
        changed, old = due[change], cur[change]
        if not len(changed):
            return
        version = c["version"][old] + 1
        tiers = self.cust_tier[changed]
        sla = self._draw_sla("contract.sla", changed, tiers, version=int(d))
        penalty = c["penalty_rate"][old] * (
            0.8 + 0.5 * self.draws.uniform("contract.pen", changed, d)
        )
        c["to_day"][old] = d - 1
        new = c.append(
            len(changed),
            customer=changed,
            version=version,
            sla_days=sla,
            fill_rate=c["fill_rate"][old],
            penalty_rate=np.round(penalty, 4),
            penalty_cap=c["penalty_cap"][old],
            partial_ok=self.draws.uniform("contract.partial", changed, d) < 0.8,
            subst_ok=self.draws.uniform("contract.subst", changed, d) < 0.4,
            from_day=d,
            renewal_day=d + 365,
        )
        self.cust_contract[changed] = new

    def check_histories(self) -> None:
        """Verify every backorder's status history against the lifecycle (vectorized).

        Raises
        ------
        allotment.errors.BackorderTransitionError
            If a history does not start with ``open``, does not chain (``from`` is not the
            previous ``to``), makes a step ``ALLOWED_TRANSITIONS`` forbids, or does not end in
            the backorder's current status.
        """
        from allotment.errors import BackorderTransitionError

        log = self.status_log
        bo, frm, to = log.column("backorder"), log.column("from_"), log.column("to")
        order = np.argsort(bo, kind="stable")  # the log is chronological
        bo, frm, to = bo[order], frm[order], to[order]
        first = np.r_[True, bo[1:] != bo[:-1]]
        prev_to = np.r_[-1, to[:-1]]
        bad = np.zeros(len(bo), dtype=bool)
        bad |= first & ((frm != -1) | (to != ST_OPEN))
        bad |= ~first & (frm != prev_to)
        bad |= ~first & ~_ALLOWED[np.maximum(frm, 0), to]
        last = np.r_[bo[1:] != bo[:-1], True]
        ends = np.zeros(self.backorders.n, dtype=np.int64) - 1
        ends[bo[last]] = to[last]
        if bad.any() or not np.array_equal(ends, self.backorders["status"]):
            culprit = int(bo[np.argmax(bad)]) if bad.any() else -1
            raise BackorderTransitionError(
                "synthetic backorder history breaks the lifecycle", backorder=culprit
            )

    # ----------------------------------------------------------------------------- storage

    def save(self, path: Path) -> Path:
        """Pickle the whole state to ``path`` (parent folders created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        for log in (self.shipments, self.receipts, self.eta_log, self.status_log, self.churn_log):
            for name in log.names:
                log.column(name)  # compact the chunks before writing
        with path.open("wb") as fh:
            pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @classmethod
    def load(cls, path: Path) -> World:
        """A world saved by :meth:`save` (only load files this program wrote)."""
        with path.open("rb") as fh:
            world = pickle.load(fh)
        if not isinstance(world, World):
            raise TypeError(f"{path} does not hold a World")
        return world


# --- pure helpers -----------------------------------------------------------------------------

_ALLOWED = np.zeros((6, 6), dtype=bool)


def _build_allowed() -> None:
    from allotment.domain.enums import BackorderStatus
    from allotment.domain.lifecycle import ALLOWED_TRANSITIONS

    for src, targets in ALLOWED_TRANSITIONS.items():
        for dst in targets:
            _ALLOWED[STATUSES.index(src.value), STATUSES.index(BackorderStatus(dst).value)] = True


_build_allowed()


def _first_qty(share: F64, qty: I64) -> I64:
    """Units in the first piece of a two-piece delivery (at least 1, at most all but 1)."""
    return np.clip(np.floor(share * qty), 1, np.maximum(qty - 1, 1)).astype(np.int64)


def _eps_cdf(pmf: I64, x: I64) -> F64:
    """P(slip <= x) for slip laws ``pmf``."""
    col = np.clip(np.asarray(x) + 1, 0, EPS_MAX + 1)
    return np.asarray(EPS_CDF_PAD[pmf, col], dtype=np.float64)


def _late_p(pmf: I64, slack: I64) -> F64:
    """P(promised + delay + slip <= promised + slack) for a late line."""
    delta = np.arange(1, DELTA_MAX + 1)
    x = np.asarray(slack)[:, None] - delta[None, :]
    col = np.clip(x + 1, 0, EPS_MAX + 1)
    return np.asarray((DELTA_PMF[pmf, 1:] * EPS_CDF_PAD[pmf[:, None], col]).sum(axis=1))


def _early_p(promised: I64, due: I64, d: int) -> F64:
    """P(arrival <= due | on time, not arrived by day d); arrival = promised - {0, 1, 2}."""
    early = np.arange(len(EARLY_PMF))
    arrival = promised[:, None] - early[None, :]
    alive = arrival > d
    w = EARLY_PMF[None, :] * alive
    ok = (w * (arrival <= due[:, None])).sum(axis=1)
    total = w.sum(axis=1)
    return np.asarray(np.where(total > 0, ok / np.maximum(total, 1e-12), 1.0), dtype=np.float64)


def _by_day(days: I64, idx: I64) -> list[tuple[int, I64]]:
    if not len(idx):
        return []
    order = np.argsort(days, kind="stable")
    days, idx = days[order], idx[order]
    cuts = np.flatnonzero(days[1:] != days[:-1]) + 1
    return [(int(g[0]), i) for g, i in zip(np.split(days, cuts), np.split(idx, cuts), strict=True)]

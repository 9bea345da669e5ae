"""What-if: a draft policy applied to the current backlog, without activating it.

Both rankings are computed here from the same inputs — each open backorder's latest scored
risks (``score_snapshots``) and today's exposures — once with the active policy and once with
the draft, so the comparison shows the policy change alone (not model drift or new facts since
the last scoring run). Nothing is written.

What it reports:

- the re-ranked queue (new rank, old rank, priority under each policy);
- who moved most, and why: the components whose USD changed most, and the multiplier change;
- Spearman's rank correlation between the two rankings;
- the money the change shifts between tiers: each tier's share of total priority, and the value
  at risk each tier holds at the head of the queue (the first ``head`` backorders — the ones a
  planner works first) under each policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allotment.domain.enums import Tier
from allotment.domain.models import Backorder, PolicyVersion, ScoreRun, ScoreSnapshot
from allotment.errors import AppError
from allotment.policy.schema import Policy
from allotment.scoring import repository
from allotment.scoring.blend import COMPONENTS, BlendResult, Exposures, Risks, blend

#: Components whose USD change explains a move, at most this many per mover.
_REASONS_PER_MOVER = 2


class WhatIfEmptyError(AppError):
    """There is no open backorder to compare the policies on."""

    status_code = 409
    code = "whatif_empty_backlog"


@dataclass(frozen=True)
class Mover:
    """One backorder whose rank changed: where it was, where it goes, and why."""

    backorder_id: int
    number: str
    customer: str
    tier: str
    old_rank: int
    new_rank: int
    old_priority: float
    new_priority: float
    reasons: tuple[str, ...]

    @property
    def moved(self) -> int:
        """Places gained (positive: moves up the queue)."""
        return self.old_rank - self.new_rank


@dataclass(frozen=True)
class TierShift:
    """A tier's share of the queue under each policy (USD, and share of the total)."""

    tier: str
    backorders: int
    old_priority_share: float
    new_priority_share: float
    old_head_value: float
    new_head_value: float

    @property
    def head_value_shift(self) -> float:
        """Value at risk (USD) this tier gains at the head of the queue (negative: loses)."""
        return self.new_head_value - self.old_head_value


@dataclass(frozen=True)
class WhatIf:
    """The draft policy against the active one, on the same backlog and risks."""

    active: str
    draft: str
    as_of: date
    backlog: int
    unscored: int
    head: int
    spearman: float
    queue: list[Mover]
    movers: list[Mover]
    tiers: list[TierShift]

    def to_dict(self) -> dict[str, Any]:
        def mover(m: Mover) -> dict[str, Any]:
            return asdict(m) | {"moved": m.moved}

        return {
            "active": self.active,
            "draft": self.draft,
            "as_of": self.as_of.isoformat(),
            "backlog": self.backlog,
            "unscored": self.unscored,
            "head": self.head,
            "spearman": self.spearman,
            "queue": [mover(m) for m in self.queue],
            "movers": [mover(m) for m in self.movers],
            "tiers": [asdict(t) | {"head_value_shift": t.head_value_shift} for t in self.tiers],
        }


def scoring_day(session: Session) -> date:
    """The day of the latest scoring run; before any, the day of the newest backorder."""
    day = session.scalar(
        select(ScoreRun.as_of).where(ScoreRun.as_of.is_not(None)).order_by(ScoreRun.id.desc())
    )
    if day is not None:
        return day
    newest = session.scalar(select(func.max(Backorder.created_at)))
    return newest.date() if newest is not None else datetime.now(UTC).date()


def latest_risks(session: Session, backorder_ids: Sequence[int]) -> pd.DataFrame:
    """Each backorder's latest scored risks (NaN where a model gave none or it was never scored).

    Returns
    -------
    pandas.DataFrame
        Index ``backorder_id`` (every id asked for); columns ``p_sla_breach``, ``p_churn``,
        ``p_supplier_delay`` and ``scored`` (bool).
    """
    latest = repository.latest_snapshot_ids()
    stmt = select(
        ScoreSnapshot.backorder_id,
        ScoreSnapshot.p_sla_breach,
        ScoreSnapshot.p_churn,
        ScoreSnapshot.p_supplier_delay,
    ).join(latest, latest.c.id == ScoreSnapshot.id)
    columns = ["backorder_id", "p_sla_breach", "p_churn", "p_supplier_delay"]
    found = pd.DataFrame([tuple(r) for r in session.execute(stmt).all()], columns=columns)
    found = found.set_index("backorder_id").astype(np.float64)
    out = found.reindex(pd.Index(list(backorder_ids), name="backorder_id"))
    out["scored"] = out.index.isin(found.index)
    return out


def ranks(priority: npt.NDArray[np.float64], ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Rank 1 = highest priority; ties go to the older (smaller) backorder id."""
    order = np.lexsort((ids, -priority))
    out = np.empty(len(priority), dtype=np.int64)
    out[order] = np.arange(1, len(priority) + 1)
    return out


def spearman(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> float:
    """Spearman's rank correlation of two tie-free rankings (1.0 for fewer than 2 items)."""
    n = len(a)
    if n < 2:
        return 1.0
    d = (a - b).astype(np.float64)
    return float(1.0 - 6.0 * float(np.sum(d * d)) / (n * (n * n - 1.0)))


def _why(old: BlendResult, new: BlendResult, i: int) -> tuple[str, ...]:
    reasons: list[str] = []
    if not np.isclose(old.multiplier[i], new.multiplier[i]):
        reasons.append(f"multiplier ×{old.multiplier[i]:g} → ×{new.multiplier[i]:g}")
    delta = new.components[i] - old.components[i]
    for k in np.argsort(-np.abs(delta))[:_REASONS_PER_MOVER]:
        if abs(delta[k]) < 0.005:  # less than a cent
            break
        reasons.append(
            f"{COMPONENTS[k]} ${old.components[i, k]:,.0f} → ${new.components[i, k]:,.0f}"
        )
    if not reasons:
        reasons.append("others moved around it")
    return tuple(reasons)


def _tier_shifts(
    tiers: npt.NDArray[Any],
    value: npt.NDArray[np.float64],
    old: BlendResult,
    new: BlendResult,
    old_rank: npt.NDArray[np.int64],
    new_rank: npt.NDArray[np.int64],
    head: int,
) -> list[TierShift]:
    old_total = float(old.priority.sum()) or 1.0
    new_total = float(new.priority.sum()) or 1.0
    out = []
    for tier in Tier:
        mask = tiers == tier.value
        out.append(
            TierShift(
                tier=tier.value,
                backorders=int(mask.sum()),
                old_priority_share=float(old.priority[mask].sum()) / old_total,
                new_priority_share=float(new.priority[mask].sum()) / new_total,
                old_head_value=float(value[mask & (old_rank <= head)].sum()),
                new_head_value=float(value[mask & (new_rank <= head)].sum()),
            )
        )
    return out


def what_if(
    session: Session,
    *,
    draft: Policy,
    active: tuple[PolicyVersion, Policy],
    exposures_of: Any,
    as_of: date,
    head: int = 100,
    top_movers: int = 20,
) -> WhatIf:
    """Compare ``draft`` with the active policy on the current backlog (nothing is written).

    Parameters
    ----------
    session
        A read-only unit of work.
    draft
        The policy to preview.
    active
        The active policy version and its document.
    exposures_of
        ``(backorders, contracts, customer open value, as_of_day) -> Exposures`` — the scoring
        service's own exposure builder, so both sides measure exactly what scoring measures.
    as_of
        The day exposures (days waiting, contract in force) are taken at.
    head
        The length of the queue's head for the tier shift (backorders).
    top_movers
        How many of the largest rank changes to list.

    Raises
    ------
    WhatIfEmptyError
        No open backorder.
    """
    bos = repository.open_backorders(session=session)
    if bos.empty:
        raise WhatIfEmptyError("no open backorder to compare the policies on")
    customers = bos["customer_id"].astype(int).tolist()
    contracts = repository.contracts_at(session=session, customer_ids=customers, on=as_of)
    open_value = repository.customer_open_value(session=session, customer_ids=customers)
    day = int((np.datetime64(as_of, "D") - np.datetime64("1970-01-01", "D")).astype(np.int64))
    exposures: Exposures = exposures_of(bos, contracts, open_value, day)
    ids = bos["backorder_id"].to_numpy(np.int64)
    risk = latest_risks(session, ids.tolist())
    risks = Risks(
        sla_breach=risk["p_sla_breach"].to_numpy(np.float64),
        churn=risk["p_churn"].to_numpy(np.float64),
        supplier_delay=risk["p_supplier_delay"].to_numpy(np.float64),
    )
    old = blend(exposures, risks, active[1])
    new = blend(exposures, risks, draft)
    old_rank, new_rank = ranks(old.priority, ids), ranks(new.priority, ids)

    def mover(i: int) -> Mover:
        return Mover(
            backorder_id=int(ids[i]),
            number=str(bos["number"].iloc[i]),
            customer=str(bos["customer_name"].iloc[i]),
            tier=str(bos["tier"].iloc[i]),
            old_rank=int(old_rank[i]),
            new_rank=int(new_rank[i]),
            old_priority=float(old.priority[i]),
            new_priority=float(new.priority[i]),
            reasons=_why(old, new, i),
        )

    by_new = np.argsort(new_rank)[:head]
    shift = np.abs(old_rank - new_rank)
    biggest = [int(i) for i in np.lexsort((new_rank, -shift))[:top_movers] if shift[i] > 0]
    tiers = bos["tier"].to_numpy(object)
    value = np.asarray(exposures.value_at_risk, dtype=np.float64)
    return WhatIf(
        active=f"{active[0].name} v{active[0].version}",
        draft=draft.name,
        as_of=as_of,
        backlog=len(ids),
        unscored=int((~risk["scored"]).sum()),
        head=min(head, len(ids)),
        spearman=spearman(old_rank, new_rank),
        queue=[mover(int(i)) for i in by_new],
        movers=[mover(i) for i in biggest],
        tiers=_tier_shifts(tiers, value, old, new, old_rank, new_rank, head),
    )

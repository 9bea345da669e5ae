"""Committed allocation runs, newest first (keyset pages by id)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain.models import AllocationRun


def list_runs(*, session: Session, limit: int, before_id: int | None) -> Sequence[AllocationRun]:
    """Up to ``limit`` committed runs with an id below ``before_id`` (if given), newest first."""
    stmt = select(AllocationRun).order_by(AllocationRun.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(AllocationRun.id < before_id)
    return session.scalars(stmt).all()

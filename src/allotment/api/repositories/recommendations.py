"""SQL of the recommendation list (keyset pages, newest first). Never commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from allotment.domain.models import Recommendation


def list_recommendations(
    *,
    session: Session,
    backorder_id: int | None,
    statuses: Sequence[str] | None,
    limit: int,
    before_id: int | None,
) -> list[Recommendation]:
    """Recommendations newest first (id descending), after the cursor's ``before_id``."""
    stmt = select(Recommendation)
    if backorder_id is not None:
        stmt = stmt.where(Recommendation.backorder_id == backorder_id)
    if statuses:
        stmt = stmt.where(Recommendation.status.in_(list(statuses)))
    if before_id is not None:
        stmt = stmt.where(Recommendation.id < before_id)
    return list(session.scalars(stmt.order_by(Recommendation.id.desc()).limit(limit)))

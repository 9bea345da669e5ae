"""Cursor pages: the tail every list route shares, and the newest-first id cursors.

A list route asks its repository for ``limit + 1`` rows: the extra row only tells that another
page exists. :func:`page_of` cuts the rows to the page, builds its items and the cursor that
continues after its last row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from allotment.api.pagination import CursorInvalidError, decode_cursor, encode_cursor
from allotment.api.schemas.common import MAX_INT, Page

R = TypeVar("R")
T = TypeVar("T")


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


def page_of(
    page_type: type[Page[T]],
    rows: Sequence[R],
    *,
    limit: int,
    item: Callable[[R], T | Mapping[str, Any]],
    cursor: Callable[[R], str],
) -> Page[T]:
    """The page of ``rows`` (fetched with ``limit + 1``) as ``page_type``.

    ``item`` makes one row's body: the item model, or plain data that the page validates into
    it (in one call for the whole page, cheaper than one model per row); ``cursor`` the cursor
    that continues after a row (asked of the page's last row only when more rows follow).
    """
    page = rows[:limit]
    more = len(rows) > limit
    return page_type.model_validate(
        {
            "items": [item(r) for r in page],
            "next_cursor": cursor(page[-1]) if more and page else None,
            "limit": limit,
        }
    )


def id_cursor(cursor: str | None) -> int | None:
    """The id a page continues before, from a cursor made by :func:`before_cursor`."""
    if cursor is None:
        return None
    before = decode_cursor(cursor).get("before")
    if not isinstance(before, int) or isinstance(before, bool) or not 0 < before <= MAX_INT:
        raise CursorInvalidError("the cursor is not one this list issued", field="cursor")
    return before


def before_cursor(row: _HasId) -> str:
    """The cursor of the rows (newest first) before ``row``."""
    return encode_cursor({"before": row.id})

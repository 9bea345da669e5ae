"""Newest-first id cursors, shared by the lists that page on a row id alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from allotment.api.pagination import CursorInvalidError, decode_cursor, encode_cursor
from allotment.api.schemas.common import MAX_INT


class _HasId(Protocol):
    id: int


def id_cursor(cursor: str | None) -> int | None:
    """The id a page continues before, from a cursor made by :func:`next_id_cursor`."""
    if cursor is None:
        return None
    before = decode_cursor(cursor).get("before")
    if not isinstance(before, int) or isinstance(before, bool) or not 0 < before <= MAX_INT:
        raise CursorInvalidError("the cursor is not one this list issued", field="cursor")
    return before


def next_id_cursor(page: Sequence[_HasId], *, more: bool) -> str | None:
    """The cursor of the next page (``None`` on the last one)."""
    if not more or not page:
        return None
    return encode_cursor({"before": page[-1].id})

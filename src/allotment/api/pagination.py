"""Opaque cursors for keyset pagination, and the page-size limit."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from allotment.errors import AppError


class CursorInvalidError(AppError):
    """A cursor that this list did not issue (or issued for another sort)."""

    status_code = 422
    code = "cursor_invalid"


class PageSizeInvalidError(AppError):
    status_code = 422
    code = "page_size_invalid"


def check_limit(limit: int, *, max_page_size: int) -> int:
    """``limit`` if within 1..max, else a 422 naming ``limit``."""
    if not 1 <= limit <= max_page_size:
        raise PageSizeInvalidError(
            f"limit must be between 1 and {max_page_size}, got {limit}", field="limit"
        )
    return limit


def encode_cursor(payload: dict[str, Any]) -> str:
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The payload of a cursor made by :func:`encode_cursor`, else a 422 naming ``cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise CursorInvalidError("the cursor is not one this list issued", field="cursor") from None
    if not isinstance(payload, dict):
        raise CursorInvalidError("the cursor is not one this list issued", field="cursor")
    return payload


def decode_id_cursor(cursor: str | None) -> int | None:
    """The last id of the previous page from a cursor made of ``{"id": N}``, else a 422."""
    if cursor is None:
        return None
    last_id = decode_cursor(cursor).get("id")
    if not isinstance(last_id, int) or isinstance(last_id, bool) or not 0 < last_id < 2**31:
        raise CursorInvalidError("the cursor is not one this list issued", field="cursor")
    return last_id


def encode_id_cursor(last_id: int) -> str:
    """The cursor of the page after the one ending with the row ``last_id``."""
    return encode_cursor({"id": last_id})

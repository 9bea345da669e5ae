"""The append-only, hash-chained audit trail: who did what, when, before/after, and why."""

from allotment.audit.service import (
    GENESIS_HASH,
    AuditRecordInvalidError,
    Entry,
    VerifyResult,
    append,
    append_many,
    list_records,
    verify,
)

__all__ = [
    "GENESIS_HASH",
    "AuditRecordInvalidError",
    "Entry",
    "VerifyResult",
    "append",
    "append_many",
    "list_records",
    "verify",
]

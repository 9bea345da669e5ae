"""Test-only: lift the append-only triggers of ``audit_records`` inside one transaction.

The tests that empty the database between tests and the tamper tests must change audit rows the
database now refuses to change. They do it here, explicitly and only inside the caller's
transaction: on PostgreSQL ``SET LOCAL session_replication_role = replica`` (ordinary triggers do
not fire; needs a superuser, as the test server's trust login is); on SQLite, which has no such
switch, :func:`allotment.audit.append_only.lifted` drops the triggers and creates them again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

from allotment.audit import append_only


@contextmanager
def append_only_lifted(conn: Connection) -> Iterator[None]:
    """Inside the block, UPDATE, DELETE and TRUNCATE on ``audit_records`` are not refused.

    ``conn`` must be in a transaction (``engine.begin()`` or ``session.connection()``); the
    triggers are back in force when the block ends (if it fails: when the caller rolls back).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        # No ``finally``: after a database error PostgreSQL refuses every statement until the
        # rollback, and the rollback undoes SET LOCAL anyway.
        yield
        conn.execute(text("SET LOCAL session_replication_role = origin"))
        return
    with append_only.lifted(conn):
        yield

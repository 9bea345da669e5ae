"""The database itself refuses to change or remove audit records.

The hash chain (:mod:`allotment.audit.service`) detects tampering after the fact; these triggers
stop the plain cases before they happen: ``UPDATE`` and ``DELETE`` on ``audit_records`` are
refused on SQLite and PostgreSQL, and ``TRUNCATE`` on PostgreSQL (SQLite has no ``TRUNCATE``).
Both backends raise an integrity error whose message starts with :data:`MESSAGE` (SQLite
``RAISE(ABORT)`` is an ``SQLITE_CONSTRAINT`` error; the PostgreSQL function raises SQLSTATE
23000), so callers see :class:`sqlalchemy.exc.IntegrityError` either way.

This module is the one definition of that DDL: migration ``0006`` installs it, and what must
empty the table on purpose (wiping a synthetic world, the tests) lifts it from here with
:func:`lifted`. Whoever owns the table can always drop the triggers; that is what the hash chain
is for.

A future migration that rebuilds ``audit_records`` on SQLite (Alembic's batch "move and copy")
drops its triggers with the old table and must create them again from :func:`create_statements`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

#: The start of the error message of every refused statement.
MESSAGE = "audit_records is append-only"

# The PostgreSQL function is created unqualified, so in the first schema of the search path
# (one private schema per test session); its triggers bind to it when they are created.
_PG_FUNCTION = "audit_records_append_only"

_SQLITE_CREATE = tuple(
    f"CREATE TRIGGER audit_records_no_{verb.lower()} BEFORE {verb} ON audit_records"
    f" BEGIN SELECT RAISE(ABORT, '{MESSAGE}: {verb} refused'); END"
    for verb in ("UPDATE", "DELETE")
)
_SQLITE_DROP = (
    "DROP TRIGGER audit_records_no_delete",
    "DROP TRIGGER audit_records_no_update",
)

_PG_CREATE = (
    f"CREATE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    f"    RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP\n"
    "        USING ERRCODE = 'integrity_constraint_violation',\n"
    "              HINT = 'Audit records are never changed; append a correcting record.';\n"
    "END\n"
    "$$",
    "CREATE TRIGGER audit_records_no_update_delete BEFORE UPDATE OR DELETE ON audit_records"
    f" FOR EACH ROW EXECUTE FUNCTION {_PG_FUNCTION}()",
    "CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records"
    f" FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()",
)
_PG_DROP = (
    "DROP TRIGGER audit_records_no_truncate ON audit_records",
    "DROP TRIGGER audit_records_no_update_delete ON audit_records",
    f"DROP FUNCTION {_PG_FUNCTION}()",
)

_CREATE = {"sqlite": _SQLITE_CREATE, "postgresql": _PG_CREATE}
_DROP = {"sqlite": _SQLITE_DROP, "postgresql": _PG_DROP}


def _for(statements: dict[str, tuple[str, ...]], dialect: str) -> tuple[str, ...]:
    try:
        return statements[dialect]
    except KeyError:
        raise ValueError(
            f"no append-only triggers for the {dialect!r} backend (sqlite or postgresql)"
        ) from None


def create_statements(dialect: str) -> tuple[str, ...]:
    """The DDL that makes ``audit_records`` append-only, in order.

    Parameters
    ----------
    dialect
        The SQLAlchemy dialect name: ``"sqlite"`` or ``"postgresql"``.

    Returns
    -------
    tuple of str
        Statements to execute one by one, inside the caller's transaction (both backends have
        transactional DDL). None of them contains a ``:name`` bind marker, so they can go
        through :func:`sqlalchemy.text` or Alembic's ``op.execute`` unchanged.

    Raises
    ------
    ValueError
        Any other backend.
    """
    return _for(_CREATE, dialect)


def drop_statements(dialect: str) -> tuple[str, ...]:
    """The DDL that undoes :func:`create_statements`, in order (same parameters)."""
    return _for(_DROP, dialect)


@contextmanager
def lifted(conn: Connection) -> Iterator[None]:
    """Drop the triggers for the block and create them again when it ends.

    Only for emptying the whole database on purpose (a synthetic world replaced) and for tests,
    never to edit the trail. It works inside the caller's transaction: other connections never
    see the table unprotected (PostgreSQL holds an exclusive lock on it until the transaction
    ends; on SQLite the transaction holds the write lock), and if the block fails, the caller's
    rollback restores the triggers (on PostgreSQL nothing else can run in the failed
    transaction anyway).

    Parameters
    ----------
    conn
        A connection inside a transaction (``engine.begin()`` or ``session.connection()``).
    """
    dialect = conn.dialect.name
    for statement in drop_statements(dialect):
        conn.execute(text(statement))
    yield
    for statement in create_statements(dialect):
        conn.execute(text(statement))

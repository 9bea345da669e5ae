"""audit_records append-only: triggers refuse UPDATE, DELETE (and TRUNCATE on PostgreSQL)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22

The DDL lives in :mod:`allotment.audit.append_only` (one definition, also used by the tests that
must lift it).
"""

from __future__ import annotations

from alembic import op

from allotment.audit import append_only

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in append_only.create_statements(op.get_context().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    for statement in append_only.drop_statements(op.get_context().dialect.name):
        op.execute(statement)

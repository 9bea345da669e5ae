"""index on backorders.priority (the queue's default sort)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_backorders_priority", "backorders", ["priority"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_backorders_priority", table_name="backorders")

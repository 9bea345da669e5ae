"""escalation levels reached and the notification outbox

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import allotment.db.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    utc = allotment.db.types.UTCDateTime
    op.create_table(
        "backorder_escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backorder_id", sa.Integer(), nullable=False),
        sa.Column("days_overdue", sa.Integer(), nullable=False),
        sa.Column("reached_days", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("policy_version_id", sa.Integer(), nullable=True),
        sa.Column("applied_at", utc(), nullable=False),
        sa.Column("applied_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["backorder_id"],
            ["backorders.id"],
            name=op.f("fk_backorder_escalations_backorder_id_backorders"),
        ),
        sa.ForeignKeyConstraint(
            ["policy_version_id"],
            ["policy_versions.id"],
            name=op.f("fk_backorder_escalations_policy_version_id_policy_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backorder_escalations")),
        sa.UniqueConstraint("backorder_id", "days_overdue", name="uq_backorder_escalations_level"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", utc(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("sent_at", utc(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'retrying', 'sent', 'dead')",
            name=op.f("ck_notifications_status_known"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_notifications_attempts_nonneg")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", "channel", name="uq_notifications_dedupe_key_channel"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_notifications_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_created_at"))
        batch_op.drop_index("ix_notifications_due")
    op.drop_table("notifications")
    op.drop_table("backorder_escalations")

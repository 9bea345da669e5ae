"""events: the idempotency log of ingested events and the re-score queue

Revision ID: 0008
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import allotment.db.types

revision = "0008"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.Column("received_by", sa.String(length=120), nullable=False),
        sa.CheckConstraint(
            "status IN ('applied', 'stale', 'parked')", name=op.f("ck_events_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
    )
    op.create_index("ix_events_subject_occurred", "events", ["subject", "occurred_at"])
    op.create_index(op.f("ix_events_status"), "events", ["status"])
    op.create_table(
        "rescore_queue",
        sa.Column("backorder_id", sa.Integer(), nullable=False),
        sa.Column("queued_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["backorder_id"],
            ["backorders.id"],
            name=op.f("fk_rescore_queue_backorder_id_backorders"),
        ),
        sa.PrimaryKeyConstraint("backorder_id", name=op.f("pk_rescore_queue")),
    )


def downgrade() -> None:
    op.drop_table("rescore_queue")
    op.drop_index(op.f("ix_events_status"), table_name="events")
    op.drop_index("ix_events_subject_occurred", table_name="events")
    op.drop_table("events")

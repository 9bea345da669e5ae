"""approvals: the recommendation approval workflow (decisions per chain step, who submitted)

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import allotment.db.types

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

_LIVE = "NOT voided"


def upgrade() -> None:
    when = allotment.db.types.UTCDateTime()
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_by", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("submitted_at", when, nullable=True))
        batch_op.add_column(sa.Column("current_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("awaiting_role", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("decided_at", when, nullable=True))
        batch_op.add_column(sa.Column("executed_at", when, nullable=True))
        batch_op.add_column(sa.Column("executed_by", sa.String(length=120), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_recommendations_awaiting_role"), ["awaiting_role"], unique=False
        )

    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recommendation_id", sa.Integer(), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=True),
        sa.Column("decided_at", when, nullable=False),
        sa.Column("voided", sa.Boolean(), nullable=False),
        sa.Column("voided_at", when, nullable=True),
        sa.CheckConstraint(
            "decision IN ('approve', 'approve_with_conditions', 'reject',"
            " 'request_alternative', 'auto_approve')",
            name=op.f("ck_approvals_decision_known"),
        ),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_approvals_recommendation_id_recommendations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approvals_recommendation_id"), ["recommendation_id"], unique=False
        )
        batch_op.create_index(
            "uq_approvals_live_step",
            ["recommendation_id", "step_index"],
            unique=True,
            sqlite_where=sa.text(_LIVE),
            postgresql_where=sa.text(_LIVE),
        )
        batch_op.create_index(
            "uq_approvals_live_person",
            ["recommendation_id", "decided_by"],
            unique=True,
            sqlite_where=sa.text(_LIVE),
            postgresql_where=sa.text(_LIVE),
        )


def downgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index("uq_approvals_live_person")
        batch_op.drop_index("uq_approvals_live_step")
        batch_op.drop_index(batch_op.f("ix_approvals_recommendation_id"))
    op.drop_table("approvals")
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recommendations_awaiting_role"))
        batch_op.drop_column("executed_by")
        batch_op.drop_column("executed_at")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("awaiting_role")
        batch_op.drop_column("current_step")
        batch_op.drop_column("submitted_at")
        batch_op.drop_column("requested_by")

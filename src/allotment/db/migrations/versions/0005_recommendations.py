"""recommendations: valued, routed actions for backorders

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import allotment.db.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    money = allotment.db.types.Money()
    op.create_table(
        "recommendations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backorder_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("cost", money, nullable=False),
        sa.Column("benefit", money, nullable=False),
        sa.Column("net_value", money, nullable=False),
        sa.Column("committed", money, nullable=False),
        sa.Column("amount", money, nullable=False),
        sa.Column("routed_amount", money, nullable=False),
        sa.Column("route", sa.JSON(), nullable=False),
        sa.Column("needs_consent", sa.Boolean(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("policy_version_id", sa.Integer(), nullable=True),
        sa.Column("model_versions", sa.JSON(), nullable=False),
        sa.Column("allocation_run_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('proposed', 'pending_approval', 'approved', 'rejected', 'executed',"
            " 'superseded')",
            name=op.f("ck_recommendations_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["allocation_run_id"],
            ["allocation_runs.id"],
            name=op.f("fk_recommendations_allocation_run_id_allocation_runs"),
        ),
        sa.ForeignKeyConstraint(
            ["backorder_id"],
            ["backorders.id"],
            name=op.f("fk_recommendations_backorder_id_backorders"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_recommendations_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["policy_version_id"],
            ["policy_versions.id"],
            name=op.f("fk_recommendations_policy_version_id_policy_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_recommendations_product_id_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations")),
    )
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recommendations_backorder_id"), ["backorder_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_recommendations_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_recommendations_customer_product_created",
            ["customer_id", "product_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.drop_index("ix_recommendations_customer_product_created")
        batch_op.drop_index(batch_op.f("ix_recommendations_status"))
        batch_op.drop_index(batch_op.f("ix_recommendations_backorder_id"))
    op.drop_table("recommendations")

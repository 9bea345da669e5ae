"""allocations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import allotment.db.types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "allocation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("policy_version_id", sa.Integer(), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("solver_status", sa.String(length=32), nullable=False),
        sa.Column("objective", sa.Float(), nullable=False),
        sa.Column("greedy_objective", sa.Float(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("allocated_units", sa.Integer(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_version_id"],
            ["policy_versions.id"],
            name=op.f("fk_allocation_runs_policy_version_id_policy_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocation_runs")),
    )
    with op.batch_alter_table("allocation_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_allocation_runs_created_at"), ["created_at"], unique=False
        )
    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("backorder_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("po_line_id", sa.Integer(), nullable=True),
        sa.Column("substitute", sa.Boolean(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("arrival", sa.Date(), nullable=False),
        sa.Column("value", allotment.db.types.Money(), nullable=False),
        sa.Column("unit_gain", sa.Float(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_allocations_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["backorder_id"], ["backorders.id"], name=op.f("fk_allocations_backorder_id_backorders")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_allocations_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["po_line_id"],
            ["purchase_order_lines.id"],
            name=op.f("fk_allocations_po_line_id_purchase_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_allocations_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["allocation_runs.id"], name=op.f("fk_allocations_run_id_allocation_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allocations")),
    )
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_allocations_backorder_id"), ["backorder_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_allocations_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocations_run_id"))
        batch_op.drop_index(batch_op.f("ix_allocations_backorder_id"))
    op.drop_table("allocations")
    with op.batch_alter_table("allocation_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allocation_runs_created_at"))
    op.drop_table("allocation_runs")

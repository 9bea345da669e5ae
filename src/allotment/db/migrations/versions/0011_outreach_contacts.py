"""outreach_contacts: customers contacted about their backorders, with the outcome; an index
on purchase_order_lines.received_on (supplier on-time rates over a window of receipts)

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import allotment.db.types

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outreach_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("contacted_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.Column("contacted_by", sa.String(length=120), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "reached",
                "left_message",
                "no_answer",
                "callback_requested",
                "offer_accepted",
                "offer_declined",
                name="contact_outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_outreach_contacts_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outreach_contacts")),
    )
    op.create_index(
        "ix_outreach_contacts_customer_contacted",
        "outreach_contacts",
        ["customer_id", "contacted_at"],
        unique=False,
    )
    op.create_index(
        "ix_purchase_order_lines_received_on",
        "purchase_order_lines",
        ["received_on"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_purchase_order_lines_received_on", table_name="purchase_order_lines")
    op.drop_index("ix_outreach_contacts_customer_contacted", table_name="outreach_contacts")
    op.drop_table("outreach_contacts")

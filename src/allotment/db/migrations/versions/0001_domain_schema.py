"""domain schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import allotment.db.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "tier",
            sa.Enum(
                "vip",
                "premium",
                "standard",
                name="tier",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("account_manager", sa.String(length=120), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("lifetime_value", allotment.db.types.Money(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "churned",
                name="customer_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("churned_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("code", name=op.f("uq_customers_code")),
    )
    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
        sa.UniqueConstraint("code", name=op.f("uq_locations_code")),
    )
    op.create_table(
        "sim_truths",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "supplier_delay",
                "sla_breach",
                "churn",
                name="truth_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=True),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("outcome", sa.Boolean(), nullable=True),
        sa.Column("magnitude", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "probability >= 0 AND probability <= 1", name=op.f("ck_sim_truths_probability_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_truths")),
        sa.UniqueConstraint("kind", "subject_id", "as_of", name="uq_sim_truths_kind_subject_as_of"),
    )
    with op.batch_alter_table("sim_truths", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sim_truths_kind"), ["kind"], unique=False)

    op.create_table(
        "sim_worlds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("today", sa.Date(), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("generator_version", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("state_path", sa.String(length=500), nullable=True),
        sa.Column("created_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_worlds")),
    )
    op.create_table(
        "suppliers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column(
            "default_ship_mode",
            sa.Enum(
                "ocean",
                "ground",
                "air",
                name="ship_mode",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.CheckConstraint("lead_time_days >= 0", name=op.f("ck_suppliers_lead_time_nonneg")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppliers")),
        sa.UniqueConstraint("code", name=op.f("uq_suppliers_code")),
    )
    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sla_days", sa.Integer(), nullable=False),
        sa.Column("fill_rate_commitment", sa.Float(), nullable=False),
        sa.Column("penalty_rate_per_day", sa.Float(), nullable=False),
        sa.Column("penalty_cap_rate", sa.Float(), nullable=False),
        sa.Column("allows_partial_ship", sa.Boolean(), nullable=False),
        sa.Column("allows_substitution", sa.Boolean(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("renewal_date", sa.Date(), nullable=False),
        sa.CheckConstraint(
            "fill_rate_commitment >= 0 AND fill_rate_commitment <= 1",
            name=op.f("ck_contracts_fill_rate_ratio"),
        ),
        sa.CheckConstraint("penalty_rate_per_day >= 0", name=op.f("ck_contracts_penalty_nonneg")),
        sa.CheckConstraint("sla_days >= 0", name=op.f("ck_contracts_sla_days_nonneg")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_contracts_version_positive")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_contracts_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("customer_id", "version", name="uq_contracts_customer_version"),
    )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contracts_customer_id"), ["customer_id"], unique=False)

    op.create_table(
        "customer_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("ordered_on", sa.Date(), nullable=False),
        sa.Column("requested_date", sa.Date(), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("is_emergency", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "partially_shipped",
                "shipped",
                "cancelled",
                name="order_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_orders_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_customer_orders_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_orders")),
        sa.UniqueConstraint("number", name=op.f("uq_customer_orders_number")),
    )
    with op.batch_alter_table("customer_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_orders_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_customer_orders_location_id"), ["location_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_customer_orders_ordered_on"), ["ordered_on"], unique=False
        )

    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("unit_price", allotment.db.types.Money(), nullable=False),
        sa.Column("unit_cost", allotment.db.types.Money(), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("unit_cost >= 0", name=op.f("ck_products_cost_nonneg")),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_products_price_nonneg")),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_products_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_products_sku")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_products_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_products_supplier_id"), ["supplier_id"], unique=False)

    op.create_table(
        "purchase_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("supplier_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("ordered_on", sa.Date(), nullable=False),
        sa.Column(
            "ship_mode",
            sa.Enum(
                "ocean",
                "ground",
                "air",
                name="ship_mode",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "partially_received",
                "received",
                "cancelled",
                name="purchase_order_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_purchase_orders_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["suppliers.id"], name=op.f("fk_purchase_orders_supplier_id_suppliers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_orders")),
        sa.UniqueConstraint("number", name=op.f("uq_purchase_orders_number")),
    )
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_purchase_orders_location_id"), ["location_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_purchase_orders_ordered_on"), ["ordered_on"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_purchase_orders_supplier_id"), ["supplier_id"], unique=False
        )

    op.create_table(
        "inventory_positions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("committed", sa.Integer(), nullable=False),
        sa.Column("updated_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("committed >= 0", name=op.f("ck_inventory_positions_committed_nonneg")),
        sa.CheckConstraint("on_hand >= 0", name=op.f("ck_inventory_positions_on_hand_nonneg")),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_inventory_positions_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_inventory_positions_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_positions")),
        sa.UniqueConstraint("product_id", "location_id", name="uq_inventory_product_location"),
    )
    with op.batch_alter_table("inventory_positions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inventory_positions_location_id"), ["location_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_inventory_positions_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "product_substitutes",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("substitute_id", sa.Integer(), nullable=False),
        sa.Column("price_premium_rate", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "product_id <> substitute_id", name=op.f("ck_product_substitutes_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_substitutes_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["substitute_id"],
            ["products.id"],
            name=op.f("fk_product_substitutes_substitute_id_products"),
        ),
        sa.PrimaryKeyConstraint("product_id", "substitute_id", name=op.f("pk_product_substitutes")),
    )
    op.create_table(
        "purchase_order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purchase_order_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_cost", allotment.db.types.Money(), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("current_eta", sa.Date(), nullable=True),
        sa.Column("received_quantity", sa.Integer(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "partially_received",
                "received",
                "cancelled",
                name="purchase_order_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_purchase_order_lines_quantity_positive")),
        sa.CheckConstraint(
            "received_quantity >= 0 AND received_quantity <= quantity",
            name=op.f("ck_purchase_order_lines_received_bounds"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_purchase_order_lines_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_purchase_order_lines_purchase_order_id_purchase_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order_lines")),
        sa.UniqueConstraint("purchase_order_id", "line_no", name="uq_po_lines_po_line_no"),
    )
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_purchase_order_lines_product_id"), ["product_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_purchase_order_lines_purchase_order_id"),
            ["purchase_order_id"],
            unique=False,
        )

    op.create_table(
        "customer_order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", allotment.db.types.Money(), nullable=False),
        sa.Column("shipped_quantity", sa.Integer(), nullable=False),
        sa.Column("po_line_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "partially_shipped",
                "shipped",
                "cancelled",
                name="order_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("shipped_on", sa.Date(), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_customer_order_lines_quantity_positive")),
        sa.CheckConstraint(
            "shipped_quantity >= 0 AND shipped_quantity <= quantity",
            name=op.f("ck_customer_order_lines_shipped_bounds"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["customer_orders.id"],
            name=op.f("fk_customer_order_lines_order_id_customer_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["po_line_id"],
            ["purchase_order_lines.id"],
            name=op.f("fk_customer_order_lines_po_line_id_purchase_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_customer_order_lines_product_id_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_order_lines")),
        sa.UniqueConstraint("order_id", "line_no", name="uq_order_lines_order_line_no"),
    )
    with op.batch_alter_table("customer_order_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_order_lines_order_id"), ["order_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_customer_order_lines_po_line_id"), ["po_line_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_customer_order_lines_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "po_line_eta_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("po_line_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.Column("previous_eta", sa.Date(), nullable=True),
        sa.Column("new_eta", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["po_line_id"],
            ["purchase_order_lines.id"],
            name=op.f("fk_po_line_eta_history_po_line_id_purchase_order_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_po_line_eta_history")),
    )
    with op.batch_alter_table("po_line_eta_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_po_line_eta_history_po_line_id"), ["po_line_id"], unique=False
        )

    op.create_table(
        "po_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("po_line_id", sa.Integer(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_po_receipts_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["po_line_id"],
            ["purchase_order_lines.id"],
            name=op.f("fk_po_receipts_po_line_id_purchase_order_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_po_receipts")),
    )
    with op.batch_alter_table("po_receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_po_receipts_po_line_id"), ["po_line_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_po_receipts_received_on"), ["received_on"], unique=False
        )

    op.create_table(
        "backorders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("po_line_id", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("open_quantity", sa.Integer(), nullable=False),
        sa.Column(
            "root_cause",
            sa.Enum(
                "supplier_delay",
                "quality",
                "logistics",
                "demand_spike",
                "stockout",
                "other",
                name="root_cause",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "eta_updated",
                "partially_resolved",
                "escalated",
                "resolved",
                "cancelled",
                name="backorder_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("value_at_risk", allotment.db.types.Money(), nullable=False),
        sa.Column("expected_fulfillment_date", sa.Date(), nullable=True),
        sa.Column("priority", sa.Float(), nullable=True),
        sa.Column(
            "allocation_status",
            sa.Enum(
                "unallocated",
                "partially_allocated",
                "allocated",
                name="allocation_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.Column("closed_at", allotment.db.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "open_quantity >= 0 AND open_quantity <= quantity",
            name=op.f("ck_backorders_open_bounds"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_backorders_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["customer_order_lines.id"],
            name=op.f("fk_backorders_order_line_id_customer_order_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["po_line_id"],
            ["purchase_order_lines.id"],
            name=op.f("fk_backorders_po_line_id_purchase_order_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backorders")),
        sa.UniqueConstraint("number", name=op.f("uq_backorders_number")),
    )
    with op.batch_alter_table("backorders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backorders_created_at"), ["created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_backorders_order_line_id"), ["order_line_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_backorders_po_line_id"), ["po_line_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_backorders_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_backorders_active_order_line",
            ["order_line_id"],
            unique=True,
            sqlite_where=sa.text(
                "status IN ('open', 'eta_updated', 'partially_resolved', 'escalated')"
            ),
            postgresql_where=sa.text(
                "status IN ('open', 'eta_updated', 'partially_resolved', 'escalated')"
            ),
        )

    op.create_table(
        "order_line_shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_line_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("shipped_on", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_line_shipments_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_order_line_shipments_location_id_locations"),
        ),
        sa.ForeignKeyConstraint(
            ["order_line_id"],
            ["customer_order_lines.id"],
            name=op.f("fk_order_line_shipments_order_line_id_customer_order_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_line_shipments")),
    )
    with op.batch_alter_table("order_line_shipments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_order_line_shipments_order_line_id"), ["order_line_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_order_line_shipments_shipped_on"), ["shipped_on"], unique=False
        )

    op.create_table(
        "backorder_status_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backorder_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "open",
                "eta_updated",
                "partially_resolved",
                "escalated",
                "resolved",
                "cancelled",
                name="from_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "open",
                "eta_updated",
                "partially_resolved",
                "escalated",
                "resolved",
                "cancelled",
                name="to_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("changed_at", allotment.db.types.UTCDateTime(), nullable=False),
        sa.Column("changed_by", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["backorder_id"],
            ["backorders.id"],
            name=op.f("fk_backorder_status_history_backorder_id_backorders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backorder_status_history")),
    )
    with op.batch_alter_table("backorder_status_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backorder_status_history_backorder_id"), ["backorder_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("backorder_status_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backorder_status_history_backorder_id"))

    op.drop_table("backorder_status_history")
    with op.batch_alter_table("order_line_shipments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_line_shipments_shipped_on"))
        batch_op.drop_index(batch_op.f("ix_order_line_shipments_order_line_id"))

    op.drop_table("order_line_shipments")
    with op.batch_alter_table("backorders", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_backorders_active_order_line",
            sqlite_where=sa.text(
                "status IN ('open', 'eta_updated', 'partially_resolved', 'escalated')"
            ),
            postgresql_where=sa.text(
                "status IN ('open', 'eta_updated', 'partially_resolved', 'escalated')"
            ),
        )
        batch_op.drop_index(batch_op.f("ix_backorders_status"))
        batch_op.drop_index(batch_op.f("ix_backorders_po_line_id"))
        batch_op.drop_index(batch_op.f("ix_backorders_order_line_id"))
        batch_op.drop_index(batch_op.f("ix_backorders_created_at"))

    op.drop_table("backorders")
    with op.batch_alter_table("po_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_po_receipts_received_on"))
        batch_op.drop_index(batch_op.f("ix_po_receipts_po_line_id"))

    op.drop_table("po_receipts")
    with op.batch_alter_table("po_line_eta_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_po_line_eta_history_po_line_id"))

    op.drop_table("po_line_eta_history")
    with op.batch_alter_table("customer_order_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_order_lines_product_id"))
        batch_op.drop_index(batch_op.f("ix_customer_order_lines_po_line_id"))
        batch_op.drop_index(batch_op.f("ix_customer_order_lines_order_id"))

    op.drop_table("customer_order_lines")
    with op.batch_alter_table("purchase_order_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_order_lines_purchase_order_id"))
        batch_op.drop_index(batch_op.f("ix_purchase_order_lines_product_id"))

    op.drop_table("purchase_order_lines")
    op.drop_table("product_substitutes")
    with op.batch_alter_table("inventory_positions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inventory_positions_product_id"))
        batch_op.drop_index(batch_op.f("ix_inventory_positions_location_id"))

    op.drop_table("inventory_positions")
    with op.batch_alter_table("purchase_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_purchase_orders_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_purchase_orders_ordered_on"))
        batch_op.drop_index(batch_op.f("ix_purchase_orders_location_id"))

    op.drop_table("purchase_orders")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_products_category"))

    op.drop_table("products")
    with op.batch_alter_table("customer_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_orders_ordered_on"))
        batch_op.drop_index(batch_op.f("ix_customer_orders_location_id"))
        batch_op.drop_index(batch_op.f("ix_customer_orders_customer_id"))

    op.drop_table("customer_orders")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contracts_customer_id"))

    op.drop_table("contracts")
    op.drop_table("suppliers")
    op.drop_table("sim_worlds")
    with op.batch_alter_table("sim_truths", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sim_truths_kind"))

    op.drop_table("sim_truths")
    op.drop_table("locations")
    op.drop_table("customers")

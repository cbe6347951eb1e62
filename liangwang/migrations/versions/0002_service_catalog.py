"""service catalog

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "catalog_offices",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=80), nullable=False),
        sa.Column("district", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("hours", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("catalog_offices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_offices_district"), ["district"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_offices_kind"), ["kind"], unique=False)

    op.create_table(
        "catalog_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "catalog_services",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("target_group", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("online", sa.JSON(), nullable=False),
        sa.Column("office_kind", sa.String(length=80), nullable=True),
        sa.Column("time_limit", sa.JSON(), nullable=False),
        sa.Column("fee", sa.Text(), nullable=False),
        sa.Column("proxy", sa.JSON(), nullable=False),
        sa.Column("elderly_notes", sa.Text(), nullable=False),
        sa.Column("eligibility", sa.JSON(), nullable=False),
        sa.Column("updated", sa.Date(), nullable=False),
        sa.Column("sample", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("catalog_services", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_services_category"), ["category"], unique=False
        )

    op.create_table(
        "catalog_district_variations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.String(length=80), nullable=False),
        sa.Column("district", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("extra_materials", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["catalog_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "catalog_service_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["catalog_services.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("catalog_service_names")
    op.drop_table("catalog_district_variations")
    with op.batch_alter_table("catalog_services", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_services_category"))

    op.drop_table("catalog_services")
    op.drop_table("catalog_revision")
    with op.batch_alter_table("catalog_offices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_offices_kind"))
        batch_op.drop_index(batch_op.f("ix_catalog_offices_district"))

    op.drop_table("catalog_offices")

"""status pushes that failed are retried with backoff (on the ticket); leases, so that of
several channel processes exactly one pushes

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as table:
        table.add_column(
            sa.Column("push_failures", sa.Integer(), nullable=False, server_default="0")
        )
        table.add_column(sa.Column("push_retry_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("push_error", sa.String(200), nullable=True))
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    with op.batch_alter_table("tickets") as table:
        for column in ("push_error", "push_retry_at", "push_failures"):
            table.drop_column(column)

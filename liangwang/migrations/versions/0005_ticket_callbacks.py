"""ticket call backs (回访电话): attempts, the last one's time, a call staff asked for

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("callback_status", sa.String(length=20), nullable=True))
        batch.add_column(
            sa.Column("callback_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("callback_last_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("callback_requested_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("callback_requested_at")
        batch.drop_column("callback_last_at")
        batch.drop_column("callback_attempts")
        batch.drop_column("callback_status")

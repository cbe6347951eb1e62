"""live handoff: why a conversation came to a person, who claimed it, the waiting notice,
and the messages exchanged while staff hold it

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_requests") as table:
        table.add_column(sa.Column("reason", sa.String(30), nullable=False, server_default="asked"))
        table.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))
        table.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("waiting_notice_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "handoff_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "handoff_id",
            sa.Integer(),
            sa.ForeignKey("handoff_requests.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("conversation_id", sa.String(200), nullable=False, index=True),
        sa.Column("sender", sa.String(20), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("handoff_messages")
    with op.batch_alter_table("handoff_requests") as table:
        for column in ("waiting_notice_at", "claimed_at", "claimed_by", "reason"):
            table.drop_column(column)

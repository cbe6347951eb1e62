"""Telegram users' choice of spoken replies (/voice); photos citizens send while a person
holds their chat

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voice_replies",
        sa.Column("conversation_id", sa.String(100), primary_key=True),
        sa.Column("wanted", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_voice_replies_changed_at", "voice_replies", ["changed_at"])
    with op.batch_alter_table("handoff_messages") as table:
        table.add_column(sa.Column("photo", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoff_messages") as table:
        table.drop_column("photo")
    op.drop_index("ix_voice_replies_changed_at", table_name="voice_replies")
    op.drop_table("voice_replies")

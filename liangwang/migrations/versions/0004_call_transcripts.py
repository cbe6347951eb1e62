"""call transcripts (phone line)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.String(200), nullable=False, unique=True),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(40), nullable=True),
    )
    op.create_index("ix_calls_caller", "calls", ["caller"])
    op.create_table(
        "call_turns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_pk", sa.Integer(), sa.ForeignKey("calls.id"), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recognized", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("keys", sa.String(100), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("caller_audio", sa.String(300), nullable=True),
        sa.Column("reply_audio", sa.String(300), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
    )
    op.create_index("ix_call_turns_call_pk", "call_turns", ["call_pk"])


def downgrade() -> None:
    op.drop_index("ix_call_turns_call_pk", "call_turns")
    op.drop_table("call_turns")
    op.drop_index("ix_calls_caller", "calls")
    op.drop_table("calls")

"""calls are told apart by their database id: a Call-ID may come again

A Call-ID comes from the network: a PBX reuses them, a stranger may send any. The column
stays, indexed, but is no longer unique (a reused one used to lose the new call's
transcript); recordings are filed under the database id.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _calls(*, unique: bool) -> sa.Table:
    """The calls table as 0004 made it, with or without the unique Call-ID."""
    return sa.Table(
        "calls",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.String(200), nullable=False, unique=unique),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("line", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(40), nullable=True),
        sa.Index("ix_calls_caller", "caller"),
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop a constraint: the table is rebuilt without it.
        with op.batch_alter_table("calls", copy_from=_calls(unique=False), recreate="always"):
            pass
    else:
        op.drop_constraint("calls_call_id_key", "calls", type_="unique")
    op.create_index("ix_calls_call_id", "calls", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_calls_call_id", table_name="calls")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("calls", copy_from=_calls(unique=True), recreate="always"):
            pass
    else:
        op.create_unique_constraint("calls_call_id_key", "calls", ["call_id"])

"""indexes for the dispatchers' ticket queue: by deadline, by filing time, by department

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_tickets_expected_at": ["expected_at"],
    "ix_tickets_requested_at": ["requested_at"],
    "ix_tickets_department": ["department"],
    "ix_tickets_status_expected_at": ["status", "expected_at"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "tickets", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "tickets")

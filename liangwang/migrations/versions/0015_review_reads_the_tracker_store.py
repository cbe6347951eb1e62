"""review reads the tracker store's events: review_turns.broker_id becomes event_id

Rasa no longer publishes through an SQL event broker; staff review reads the tracker
store's own ``events`` table, whose row ids are another numbering. Turns read from the
broker are kept, their numbers moved below any the tracker store gives (order kept), and
ingestion starts again from the tracker store's first event under a cursor of its own: a
conversation still in the tracker store at the upgrade is listed once more, from there.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BELOW = 2_000_000_000  # review_turns' ids are 32-bit integers


def upgrade() -> None:
    # RENAME COLUMN is understood by PostgreSQL and SQLite (3.25+) alike, and leaves the
    # full-text index and its triggers (migration 0014) as they are.
    op.execute("ALTER TABLE review_turns RENAME COLUMN broker_id TO event_id")
    op.execute(f"UPDATE review_turns SET event_id = event_id - {BELOW}")
    op.execute("DELETE FROM review_ingest_cursor WHERE source = 'rasa-sql-broker'")


def downgrade() -> None:
    op.execute("DELETE FROM review_ingest_cursor WHERE source = 'rasa-tracker-store'")
    read_anew = "SELECT id FROM review_turns WHERE event_id > 0"
    op.execute(f"DELETE FROM review_corrections WHERE turn_id IN ({read_anew})")
    op.execute("DELETE FROM review_turns WHERE event_id > 0")
    op.execute(f"UPDATE review_turns SET event_id = event_id + {BELOW}")
    op.execute("ALTER TABLE review_turns RENAME COLUMN event_id TO broker_id")

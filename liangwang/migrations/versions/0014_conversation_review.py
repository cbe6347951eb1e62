"""conversation review: turns from Rasa's event broker, a summary per conversation, the
ingestion cursor, and full-text search on the turns' words (FTS5 on SQLite, a tsvector on
PostgreSQL)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "review_turns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("broker_id", sa.Integer(), nullable=False, unique=True),
        sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
        sa.Column("at", WHEN, nullable=False, index=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(100), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("heard_confidence", sa.Float(), nullable=True),
        sa.Column("call_id", sa.String(200), nullable=True),
    )
    op.create_table(
        "review_conversations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.String(255), nullable=False, unique=True),
        sa.Column("channel", sa.String(20), nullable=False, index=True),
        sa.Column("started_at", WHEN, nullable=False, index=True),
        sa.Column("last_at", WHEN, nullable=False, index=True),
        sa.Column("citizen_turns", sa.Integer(), nullable=False),
        sa.Column("fell_back", sa.Boolean(), nullable=False, index=True),
        sa.Column("handed_over", sa.Boolean(), nullable=False, index=True),
        sa.Column("lowest_confidence", sa.Float(), nullable=True, index=True),
        sa.Column("reviewed_at", WHEN, nullable=True),
        sa.Column("reviewed_by", sa.String(64), nullable=True),
        sa.Column("tags", sa.String(500), nullable=False),
    )
    op.create_table(
        "review_corrections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("turn_id", sa.Integer(), sa.ForeignKey("review_turns.id"), unique=True),
        sa.Column("intent", sa.String(100), nullable=True),
        sa.Column("entities", sa.Text(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("at", WHEN, nullable=False),
    )
    op.create_table(
        "review_ingest_cursor",
        sa.Column("source", sa.String(50), primary_key=True),
        sa.Column("last_id", sa.Integer(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE review_turns ADD COLUMN words_tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple', words)) STORED"
        )
        op.execute("CREATE INDEX ix_review_turns_words_tsv ON review_turns USING gin (words_tsv)")
    else:  # SQLite: an FTS5 index kept by triggers (turns are only added and removed)
        op.execute(
            "CREATE VIRTUAL TABLE review_turns_fts USING fts5("
            "words, content='review_turns', content_rowid='id')"
        )
        op.execute(
            "CREATE TRIGGER review_turns_indexed AFTER INSERT ON review_turns BEGIN "
            "INSERT INTO review_turns_fts(rowid, words) VALUES (new.id, new.words); END"
        )
        op.execute(
            "CREATE TRIGGER review_turns_unindexed AFTER DELETE ON review_turns BEGIN "
            "INSERT INTO review_turns_fts(review_turns_fts, rowid, words) "
            "VALUES ('delete', old.id, old.words); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER IF EXISTS review_turns_unindexed")
        op.execute("DROP TRIGGER IF EXISTS review_turns_indexed")
        op.execute("DROP TABLE IF EXISTS review_turns_fts")
    op.drop_table("review_ingest_cursor")
    op.drop_table("review_corrections")
    op.drop_table("review_conversations")
    op.drop_table("review_turns")

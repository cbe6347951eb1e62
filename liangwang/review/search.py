"""Full-text search over what was said, in Chinese: the query cut into words as the turns
were (``segment``), every word required. SQLite's FTS5 on the embedded default, PostgreSQL's
full-text search (the ``simple`` configuration: the words are already cut) in the scaled
profile; both index ``review_turns.words`` (migration 0014)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from liangwang.review import segment

_SQLITE = text(
    "SELECT t.id FROM review_turns_fts f JOIN review_turns t ON t.id = f.rowid "
    "WHERE review_turns_fts MATCH :q ORDER BY t.id DESC LIMIT :n"
)
_POSTGRESQL = text(
    "SELECT id FROM review_turns WHERE words_tsv @@ plainto_tsquery('simple', :q) "
    "ORDER BY id DESC LIMIT :n"
)


def matching_turns(session: Session, query: str, limit: int = 1000) -> list[int]:
    """Ids of the turns (newest first) that contain every word of ``query``."""
    wanted = segment.words(query)
    if not wanted:
        return []
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(_POSTGRESQL, {"q": " ".join(wanted), "n": limit})
    else:
        phrase = " AND ".join('"' + w.replace('"', '""') + '"' for w in wanted)
        found = session.execute(_SQLITE, {"q": phrase, "n": limit})
    return [int(row[0]) for row in found]

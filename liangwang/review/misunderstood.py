"""The most frequent misunderstandings, as a reviewer's starting point: the citizens' turns
NLU fell back on or was unsure of (or the recogniser was), grouped by similar wording —
their words (jieba, as for search) compared by overlap — largest group first."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from liangwang.review import segment
from liangwang.review.listing import LOW_CONFIDENCE
from liangwang.review.models import ReviewTurn
from liangwang.review.rasa_events import FALLBACK_INTENT

SIMILAR = 0.5  # words in common over words in either (Jaccard): the same way of saying it
MOST_TURNS = 5000  # the newest considered: the page stays quick however long we run


@dataclass
class Group:
    words: frozenset[str]  # of its first turn: what the others are compared with
    turns: list[ReviewTurn] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.turns)

    @property
    def example(self) -> ReviewTurn:
        return self.turns[0]


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a | b) and len(a & b) / len(a | b) >= SIMILAR


def misunderstood(session: Session, since: datetime | None = None, top: int = 30) -> list[Group]:
    t = ReviewTurn
    query = select(t).where(
        t.kind == "user",
        ~t.text.startswith("/"),  # a tapped button is never misunderstood
        or_(
            t.intent == FALLBACK_INTENT,
            t.confidence < LOW_CONFIDENCE,
            t.heard_confidence < LOW_CONFIDENCE,
        ),
    )
    if since is not None:
        query = query.where(t.at >= since)
    groups: list[Group] = []
    for turn in session.scalars(query.order_by(t.id.desc()).limit(MOST_TURNS)):
        words = frozenset(segment.words(turn.text)) or frozenset({turn.text})
        home = next((g for g in groups if _similar(g.words, words)), None)
        if home is None:
            home = Group(words)
            groups.append(home)
        home.turns.append(turn)
    groups.sort(key=lambda g: g.count, reverse=True)
    return groups[:top]

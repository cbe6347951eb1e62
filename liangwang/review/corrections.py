"""What reviewers learn, back into the assistant: a citizen's turn corrected (its intent
and entities, stored beside the turn) or flagged; the corrected turns exported as Rasa NLU
training data (a file under nlu_data/ to commit), checked against the examples already
there; a conversation exported as a test story for tests/dialogue/.

Exported sentences have phone and identity card numbers masked: training data is
committed, and a citizen's number has no place in a repository.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from liangwang.db import utcnow
from liangwang.personal_data import mask_text
from liangwang.review.models import ReviewTurn, TurnCorrection
from liangwang.understanding.examples import NLU_DATA, intent_examples

ENTITY = re.compile(r"^[a-z_]{1,40}$")


@dataclass(frozen=True)
class Example:
    intent: str
    text: str  # as said, numbers masked
    entities: tuple[tuple[str, str], ...] = ()  # (entity, value)

    def annotated(self) -> str:
        """Rasa's markup: the first place each value is said, marked with its entity."""
        text = self.text
        for entity, value in self.entities:
            if value and value in text:
                text = text.replace(value, f"[{value}]({entity})", 1)
        return text


def correct(
    session: Session,
    turn: ReviewTurn,
    by: str,
    *,
    intent: str | None = None,
    entities: Sequence[tuple[str, str]] = (),
    flagged: bool = False,
    note: str = "",
) -> TurnCorrection:
    """Keep what ``turn`` should have been (a later correction replaces an earlier one)."""
    if turn.kind != "user":
        raise ValueError("only what a citizen said can be corrected")
    found = session.scalars(select(TurnCorrection).where(TurnCorrection.turn_id == turn.id))
    correction = found.first() or TurnCorrection(turn_id=turn.id)
    session.add(correction)
    correction.intent = intent or None
    correction.entities = json.dumps([list(e) for e in entities], ensure_ascii=False)
    correction.flagged, correction.note = flagged, note[:500]
    correction.by, correction.at = by, utcnow()
    session.flush()
    return correction


def parse_entities(lines: str) -> list[tuple[str, str]]:
    """``district=静安区`` a line (how the form takes them); other lines are ignored."""
    found = []
    for line in lines.splitlines():
        entity, _, value = line.partition("=")
        if ENTITY.fullmatch(entity.strip()) and value.strip():
            found.append((entity.strip(), value.strip()))
    return found


def corrected_examples(session: Session) -> list[Example]:
    """Every corrected turn with an intent, as a training example (one per sentence)."""
    rows = session.execute(
        select(ReviewTurn.text, TurnCorrection.intent, TurnCorrection.entities)
        .join(TurnCorrection, TurnCorrection.turn_id == ReviewTurn.id)
        .where(TurnCorrection.intent.is_not(None))
        .order_by(TurnCorrection.intent, ReviewTurn.id)
    )
    examples: dict[str, Example] = {}
    for text, intent, entities in rows:
        said = mask_text(" ".join(str(text).split()))
        if said and not said.startswith("/"):
            pairs = tuple((str(e), str(v)) for e, v in json.loads(entities or "[]"))
            examples[said] = Example(str(intent), said, pairs)
    return list(examples.values())


def nlu_yaml(examples: Iterable[Example]) -> str:
    """Rasa NLU training data (format 3.1), one block per intent."""
    by_intent: dict[str, list[str]] = {}
    for example in examples:
        by_intent.setdefault(example.intent, []).append(example.annotated())
    lines = ['version: "3.1"', "", "# Corrected by reviewers (/staff/conversations).", "nlu:"]
    for intent, texts in sorted(by_intent.items()):
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {text}" for text in texts]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Collision:
    text: str
    exported_as: str
    already: str  # the intent the same sentence has in the training data
    where: str


def collisions(examples: Iterable[Example], export: Path, data: Path = NLU_DATA) -> list[Collision]:
    """Exported sentences the training data already has under another intent (the
    ``export`` file itself left out): both cannot be right, and training on both teaches
    neither."""
    known: dict[str, tuple[str, str]] = {}
    for path in sorted(data.rglob("*.yml")):
        if path.resolve() == export.resolve():
            continue
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for intent, sentence in intent_examples(document):
            known.setdefault(_plain(sentence), (intent, path.name))
    found = []
    for example in examples:
        already = known.get(_plain(example.text))
        if already and already[0] != example.intent:
            found.append(Collision(example.text, example.intent, *already))
    return found


def _plain(sentence: str) -> str:
    return "".join(ch for ch in sentence if ch.isalnum())


def corrections_of(session: Session, turns: Iterable[ReviewTurn]) -> dict[int, TurnCorrection]:
    """The corrections of ``turns``, by turn id."""
    ids = [t.id for t in turns]
    found = session.scalars(select(TurnCorrection).where(TurnCorrection.turn_id.in_(ids)))
    return {c.turn_id: c for c in found}


def intents_corrected(session: Session, turns: Iterable[ReviewTurn]) -> dict[int, str]:
    """The corrected intent of each of ``turns`` that has one, by turn id."""
    ids = [t.id for t in turns]
    rows = session.execute(
        select(TurnCorrection.turn_id, TurnCorrection.intent).where(
            TurnCorrection.turn_id.in_(ids), TurnCorrection.intent.is_not(None)
        )
    )
    return {int(turn_id): str(intent) for turn_id, intent in rows}


def story_yaml(name: str, turns: Iterable[ReviewTurn], corrected: Mapping[int, str]) -> str:
    """A conversation as a Rasa test story: each citizen turn with its intent (as
    ``corrected``, where it was) and the actions the assistant took."""
    steps: list[str] = []
    for turn in turns:
        intent = corrected.get(turn.id, turn.intent)
        if turn.kind == "user" and intent:
            said = json.dumps(mask_text(turn.text), ensure_ascii=False)
            steps += [f"    - user: {said}", f"      intent: {intent}"]
        elif turn.kind == "action":
            steps.append(f"    - action: {turn.text}")
    header = ['version: "3.1"', "stories:", f"  - story: {name}", "    steps:"]
    return "\n".join(header + steps) + "\n"

"""Corrections as training data (liangwang/review/corrections.py): the sentences that the
training data already has under another intent are shown before anything is written."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from liangwang.review import corrections, listing
from liangwang.settings import PROJECT_ROOT
from tests.unit.test_review import T0, _store, said


def _corrected(sessions: sessionmaker[Session], text: str, intent: str) -> None:
    _store(sessions, [said("web-c1", text, T0, intent="greet")])
    with sessions() as s, s.begin():
        [turn] = listing.turns_of(s, "web-c1")
        corrections.correct(s, turn, "reviewer", intent=intent)


def test_a_correction_that_contradicts_the_training_data_is_shown_as_a_collision(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _corrected(sessions, "你好！", "thank")  # nlu_data/core.yml has 你好 under greet
    with sessions() as s:
        examples = corrections.corrected_examples(s)
    found = corrections.collisions(examples, tmp_path / "reviewed.yml")
    assert [(c.text, c.exported_as, c.already, c.where) for c in found] == [
        ("你好！", "thank", "greet", "core.yml")
    ]


def test_a_correction_that_agrees_with_the_training_data_or_is_new_is_no_collision(
    sessions: sessionmaker[Session],
) -> None:
    _corrected(sessions, "你好", "greet")
    with sessions() as s:
        agreeing = corrections.corrected_examples(s)
    assert corrections.collisions(agreeing, PROJECT_ROOT / "nlu_data" / "reviewed.yml") == []
    new = [corrections.Example("thank", "这回可算帮上大忙了真是")]
    assert corrections.collisions(new, PROJECT_ROOT / "nlu_data" / "reviewed.yml") == []

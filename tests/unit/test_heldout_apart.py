"""Held-out sentences (tests/eval/) measure how the assistant copes with words it has never
seen, and the development set (benchmarks/dev/) is where errors are studied to choose
training data: none of their sentences may appear in any training file, after normalising
punctuation and spaces."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from liangwang.settings import PROJECT_ROOT
from liangwang.understanding.examples import intent_examples, without_annotations

APART = [
    *sorted((PROJECT_ROOT / "tests" / "eval").glob("*.yml")),
    *sorted((PROJECT_ROOT / "benchmarks" / "dev").glob("*.yml")),
]
TRAINING = [
    *sorted((PROJECT_ROOT / "nlu_data").rglob("*.yml")),
    PROJECT_ROOT / "data" / "complaints" / "examples.yml",
]
_NOT_WORDS = re.compile(r"[\s\W_]+")


def normalise(text: str) -> str:
    """An example as a sentence: entity annotations reduced to their words, punctuation
    and spaces dropped, Latin letters lower-cased."""
    return _NOT_WORDS.sub("", without_annotations(text)).lower()


def sentences(path: Path) -> Iterator[str]:
    """The example sentences of a file: the intent examples of Rasa NLU data, the texts
    of an evaluation set (``items:``/``queries:`` entries, ``- intent:`` blocks), the lists
    of a mapping of examples (data/complaints/examples.yml)."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    yield from (sentence for _intent, sentence in intent_examples(data))
    for key in ("items", "queries"):
        yield from (str(item["text"]) for item in data.get(key) or ())
    for texts in (data.get("examples") or {}).values():
        yield from (str(text) for text in texts)


def test_no_held_out_sentence_is_in_any_training_file() -> None:
    kept_apart = {normalise(s): path.name for path in APART for s in sentences(path)}
    kept_apart.pop("", None)
    leaks = sorted(
        f"{path.relative_to(PROJECT_ROOT)}: {sentence}"
        for path in TRAINING
        if path.exists()
        for sentence in sentences(path)
        if normalise(sentence) in kept_apart and len(normalise(sentence)) > 1
    )
    assert not leaks, "\n".join(leaks)


def test_the_checker_sees_examples_through_annotations() -> None:
    assert normalise('我住在[静安](district)，要办[敬老卡]{"entity": "service"}！') == (
        "我住在静安要办敬老卡"
    )

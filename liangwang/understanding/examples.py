"""The training sentences the second-opinion models learn from, by what they say, and
those models.

NLU's examples (nlu_data/) and the complaint category model's examples
(data/complaints/examples.yml) are read once and sorted into three kinds: a problem to
report, a question about a service, and everyday chatter the service does not handle. A
second opinion on a turn (problem.py, chatter.py) is a two-class naive Bayes model over the
same character and sound grams as the category model, trained on two of these kinds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

import yaml

from liangwang.complaints.classifier import CategoryModel
from liangwang.complaints.nlu import load_examples
from liangwang.settings import PROJECT_ROOT

NLU_DATA = PROJECT_ROOT / "nlu_data"
PROBLEM_INTENT = "report_problem"
CHATTER_INTENT = "out_of_scope"
REQUEST_INTENTS = frozenset(
    {
        "ask_service",
        "ask_materials",
        "ask_location",
        "ask_duration",
        "ask_fee",
        "ask_online",
        "ask_proxy",
        "ask_eligibility",
        "inform_age",
        "check_status",
    }
)
PROBLEM, REQUEST, CHATTER = "problem", "request", "chatter"
_ANNOTATION = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")


def without_annotations(text: str) -> str:
    """An NLU example as said: entity annotations reduced to their words."""
    return _ANNOTATION.sub(lambda m: m[1] or m[2] or "", text)


def intent_examples(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(intent, sentence) for every example of a Rasa NLU document (parsed YAML),
    annotations reduced to their words."""
    for block in document.get("nlu") or ():
        if "intent" not in block:
            continue
        for line in str(block.get("examples", "")).splitlines():
            if line.strip().startswith("- "):
                yield block["intent"], without_annotations(line.strip()[2:])


@cache
def training_texts() -> Mapping[str, tuple[str, ...]]:
    """PROBLEM, REQUEST and CHATTER sentences: how citizens describe problems (the
    category model's examples and NLU's report_problem), how they ask about services (NLU's
    request intents, including those generated from the catalog) and what NLU learns as
    out of scope."""
    found: dict[str, list[str]] = {PROBLEM: [], REQUEST: [], CHATTER: []}
    for texts in load_examples().values():
        found[PROBLEM] += texts
    for path in sorted(NLU_DATA.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for intent, sentence in intent_examples(document):
            if intent == PROBLEM_INTENT:
                found[PROBLEM].append(sentence)
            elif intent in REQUEST_INTENTS:
                found[REQUEST].append(sentence)
            elif intent == CHATTER_INTENT:
                found[CHATTER].append(sentence)
    return {kind: tuple(texts) for kind, texts in found.items()}


def log_odds(text: str, kind: str, against: str) -> float:
    """How much likelier ``text`` reads as ``kind`` than as ``against`` (natural log), by
    a model trained on those two kinds of training sentence alone."""
    return _two_kinds(kind, against).log_odds(text, kind, against)


@cache
def _two_kinds(kind: str, against: str) -> CategoryModel:
    texts = training_texts()
    return CategoryModel({kind: texts[kind], against: texts[against]})

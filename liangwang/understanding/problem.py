"""Whether a turn describes a problem to report rather than asks about a service.

NLU sometimes reads a complaint in everyday words as a question about a service
("办个退休跑社保跑单位，跑完单位又跑档案馆，腿都跑断了" names places and a service, and
asks nothing). A second opinion settles it: a two-class naive Bayes model over the same
character and sound grams as the category model (liangwang/complaints/classifier.py),
trained on how citizens describe problems (the category model's examples and NLU's
report_problem examples) against how they ask about services (NLU's request intents,
including the ones generated from the catalog). It is asked only on turns NLU placed
among the requests or could not place, and only overrides NLU when it is very sure.

MIN_LOG_ODDS was chosen by five-fold cross-validation on the training texts: at e⁸ a
request is taken for a problem 1.4 % of the time even before NLU has had its say (at e⁴,
2.1 %). MIN_HAN_CHARS keeps short noise and foreign words ("kkkkkk", "the bus is late
again") out: a description of a problem is a sentence.
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
# NLU's readings a clear description of a problem overrides: the guide's questions and
# "could not place". A status question ("我的投诉怎么样了") stays one.
OVERRIDDEN = (REQUEST_INTENTS - {"check_status"}) | {"nlu_fallback"}
MIN_LOG_ODDS = 8.0
MIN_HAN_CHARS = 8
_HAN = re.compile(r"[\u4e00-\u9fff]")
_ANNOTATION = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")
PROBLEM, REQUEST = "problem", "request"


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
def _model() -> CategoryModel:
    examples: dict[str, list[str]] = {PROBLEM: [], REQUEST: []}
    for texts in load_examples().values():
        examples[PROBLEM] += texts
    for path in sorted(NLU_DATA.rglob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for intent, sentence in intent_examples(document):
            if intent == PROBLEM_INTENT:
                examples[PROBLEM].append(sentence)
            elif intent in REQUEST_INTENTS:
                examples[REQUEST].append(sentence)
    return CategoryModel(examples)


def describes_problem(text: str, nlu_intent: str | None) -> bool:
    """True when NLU read ``text`` as a request or could not place it, but it is a sentence
    that reads, very clearly, as a problem to report."""
    if nlu_intent not in OVERRIDDEN or len(_HAN.findall(text)) < MIN_HAN_CHARS:
        return False
    return _model().log_odds(text, PROBLEM, REQUEST) >= MIN_LOG_ODDS

"""Recognition hints per turn, and the vocabulary of an open request."""

from __future__ import annotations

from liangwang.catalog.loader import load
from liangwang.catalog.store import SAMPLE_CATALOG
from liangwang.conversation import Expect
from voice.hints import YES_NO, RecognitionHints, request_vocabulary, spoken_name

SERVICES = load(SAMPLE_CATALOG.read_text(encoding="utf-8"), "yaml").services
MENU = ("办事指南", "我要找茬", "查询进度")


def test_the_vocabulary_names_the_categories_then_each_service_as_people_say_it() -> None:
    vocabulary = request_vocabulary(SERVICES)
    assert {"路灯", "井盖", "态度差"} <= set(vocabulary[:12])  # the categories first
    assert {"长护险", "低保", "残疾证"} <= set(vocabulary)
    assert len(vocabulary) == len(set(vocabulary))
    by_id = {s.id: s for s in SERVICES}
    assert spoken_name(by_id["ltc-insurance"]) == "长护险"


def test_an_open_request_gets_a_vocabulary_and_no_hints() -> None:
    known = RecognitionHints(vocabulary=("长护险", "路灯"))
    assert known.for_turn(Expect.request, MENU) == ()
    assert known.vocabulary_for(Expect.request, MENU) == (*MENU, "长护险", "路灯")
    # A question with few answers keeps its hints, and no vocabulary.
    assert known.for_turn(None, MENU) == (*MENU, *YES_NO)
    assert known.vocabulary_for(Expect.yes_no, ()) == ()

"""NLU data generated from the catalog: names as people say them, entities that cover the
thing and not the verb, districts without 区, follow-up questions that name a service."""

from __future__ import annotations

import re

import pytest
import yaml

from liangwang.catalog import nlu
from liangwang.catalog.loader import load
from liangwang.catalog.store import SAMPLE_CATALOG

SERVICES = load(SAMPLE_CATALOG.read_text(encoding="utf-8"), "yaml").services
GENERATED = nlu.generate(SERVICES)
NLU = yaml.safe_load(GENERATED.nlu_yaml)["nlu"]
DICTIONARY = dict(line.split(" ")[:2] for line in GENERATED.jieba_dict.splitlines())
ANNOTATION = re.compile(r"\[([^\]]+)\](?:\(service\)|\{[^}]*\})")


def examples(intent: str) -> list[str]:
    [block] = [b for b in NLU if b.get("intent") == intent]
    return [line.removeprefix("- ") for line in block["examples"].splitlines()]


def lookup(name: str) -> list[str]:
    [block] = [b for b in NLU if b.get("lookup") == name]
    return [line.removeprefix("- ") for line in block["examples"].splitlines()]


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("上海市敬老卡申领", "敬老卡"),
        ("身份证换领", "身份证"),
        ("残疾人补贴申请", "残疾人补贴"),
        ("办退休", "退休"),
        ("社区老年助餐服务", "社区老年助餐"),
        ("居住证首次申领", "居住证首次申领"),  # "居住证首次" is no name
        ("公积金", "公积金"),
    ],
)
def test_short_forms_are_what_people_call_the_thing(name: str, short: str) -> None:
    assert nlu._short_form(name) == short


def test_short_forms_become_names_of_their_service_only_when_unambiguous() -> None:
    names = nlu._service_names(SERVICES)
    assert "敬老卡" in names["senior-card"]
    assert "身份证" in names["id-card"]
    every = [n for ns in names.values() for n in ns]
    assert len(every) == len(set(every)), "a name must mean one service"


def test_a_verb_said_with_a_name_stays_outside_the_entity() -> None:
    lines = [line for lines in map(examples, ("ask_service", "ask_materials")) for line in lines]
    annotated = {m.group(1) for line in lines for m in ANNOTATION.finditer(line)}
    assert "补办身份证" not in annotated and "吃低保" not in annotated
    assert any("补办[身份证]" in line for line in examples("ask_service"))
    # and the tokenizer cuts it there: the dictionary does not know the verb phrase
    assert "补办身份证" not in DICTIONARY and DICTIONARY["身份证"] == "20000"
    assert "补办身份证" not in lookup("service")


def test_districts_are_named_without_qu() -> None:
    assert DICTIONARY["徐汇"] == "20000" and DICTIONARY["徐汇区"] == "0"  # 0: always split
    assert DICTIONARY["浦东新区"] == "20000"
    assert "徐汇区" not in lookup("district") and "闸北" in lookup("district")


def test_every_follow_up_question_names_every_service_once() -> None:
    for intent in ("ask_materials", "ask_location", "ask_fee", "ask_eligibility"):
        lines = examples(intent)
        assert len(lines) == len(SERVICES)
        assert all(ANNOTATION.search(line) for line in lines), intent


def test_names_that_are_questions_end_a_sentence() -> None:
    for line in examples("ask_service"):
        for match in ANNOTATION.finditer(line):
            if "怎么" in match.group(1):
                assert line.endswith(match.group(0)), line

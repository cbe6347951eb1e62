"""Search finds services from colloquial, partial and misrecognised phrasing."""

from __future__ import annotations

from pathlib import Path

import pytest

from liangwang.catalog.loader import load
from liangwang.catalog.search import (
    NAME_TIEBREAK,
    Candidate,
    CatalogIndex,
    choices,
    close_candidates,
    exact_match,
    is_found,
)
from liangwang.catalog.store import SAMPLE_CATALOG

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "catalog_mini.yml"


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return CatalogIndex(load(MINI.read_text(encoding="utf-8"), "yaml").services)


@pytest.mark.parametrize(
    ("query", "service_id", "reason"),
    [
        ("我想补办社保卡", "social-security-card", "说到了「社保卡"),
        ("医保卡怎么办", "social-security-card", "说到了「医保卡」"),
        # speech-recognition homophones
        ("我要办设保卡", "social-security-card", "读音和「社保卡」一样"),
        ("居住正怎么申请", "residence-permit-apply", "读音和「居住证」一样"),
        ("取公基金", "housing-fund-withdrawal", "读音和「取公积金」一样"),
        # accent: zh/z, sh/s
        ("我想办居组怎", "residence-permit-apply", "相近"),
        # part of a name, sounding alike through zh/z (居组 ~ 办居住证)
        ("我想办居组", "residence-permit-apply", "有3个字读音相同"),
        # old name
        ("办个暂住证", "residence-permit-apply", "说到了「暂住证」"),
        # described in plain words, not named
        ("单位每月替我存的买房钱取出来，怎么弄", "housing-fund-withdrawal", "说到了「单位每月"),
    ],
)
def test_finds_the_service(index: CatalogIndex, query: str, service_id: str, reason: str) -> None:
    [best, *_] = index.search(query)
    assert best.service_id == service_id
    assert any(reason in why for why in best.why)
    assert is_found([best])


def test_the_right_characters_count_for_more_than_the_same_sounds(index: CatalogIndex) -> None:
    [right, *_] = index.search("我要办社保卡")
    [homophone, *_] = index.search("我要办设保卡")
    assert right.service_id == homophone.service_id == "social-security-card"
    # More than the tie-break a name found in the text adds: the ranking itself prefers it.
    assert right.score - homophone.score > NAME_TIEBREAK
    assert is_found([homophone])


def test_partial_name_still_finds_it(index: CatalogIndex) -> None:
    [best, *_] = index.search("社会保障")
    assert best.service_id == "social-security-card" and is_found([best])


def test_unrelated_text_finds_nothing(index: CatalogIndex) -> None:
    assert not is_found(index.search("今天天气怎么样"))
    assert index.search("！？。") == []


def test_close_candidates_are_offered_as_a_choice(index: CatalogIndex) -> None:
    # "卡" and "证" both said: neither service is clearly better.
    candidates = index.search("社保卡和居住证")
    assert {c.service_id for c in close_candidates(candidates)} == {
        "social-security-card",
        "residence-permit-apply",
    }


def test_a_clear_winner_is_not_ambiguous(index: CatalogIndex) -> None:
    assert len(close_candidates(index.search("社会保障卡申领与补换"))) == 1


def test_baseline_only_knows_exact_names(index: CatalogIndex) -> None:
    services = list(index.services.values())
    assert exact_match(services, "补办社保卡") == "social-security-card"
    assert exact_match(services, "设保卡") is None


def test_choices_confirm_a_weak_guess_and_drop_noise() -> None:
    weak = [Candidate("a", "甲", 0.3, [], 0.2), Candidate("b", "乙", 0.1, [], 0.2)]
    assert not is_found(weak)
    assert [c.service_id for c in choices(weak)] == ["a"]
    assert choices([Candidate("a", "甲", 0.1, [], 0.2)]) == []
    # Words merely alike, no part of any name ("就" ~ 就业): nothing to put to anyone.
    assert choices([Candidate("a", "甲", 0.3, [], 0.0)]) == []
    strong = [Candidate("a", "甲", 0.6, [], 0.9), Candidate("b", "乙", 0.58, [], 0.9)]
    assert [c.service_id for c in choices(strong)] == ["a", "b"]
    # A whole name heard in a long turn of other words: worth asking about.
    assert [c.service_id for c in choices([Candidate("a", "甲", 0.15, [], 0.7)])] == ["a"]


def test_shared_particles_are_no_evidence_of_a_service() -> None:
    sample = CatalogIndex(load(SAMPLE_CATALOG.read_text(encoding="utf-8"), "yaml").services)
    # "这个嘛" and 随申码's "打开那个码" share two sounds, "个" and "嘛/码": particles.
    assert not choices(sample.search("这个嘛……"))
    # A run with content in it still counts: "居住" of 居住证 in a vague description.
    [best, *_] = sample.search("我那个居住的卡")
    assert best.service_id.startswith("residence-permit") and best.name_evidence > 0


def test_a_runner_up_close_to_a_best_that_was_not_clearly_named_is_asked_about() -> None:
    named = [Candidate("a", "甲", 0.5, [], 0.8), Candidate("b", "乙", 0.4, [], 0.3)]
    assert [c.service_id for c in close_candidates(named)] == ["a"]
    # "随身办注册要身份证吗": 身份证 is only a thing mentioned; 随申办 is what was meant.
    partly = [Candidate("a", "甲", 0.5, [], 0.4), Candidate("b", "乙", 0.4, [], 0.3)]
    assert [c.service_id for c in close_candidates(partly)] == ["a", "b"]

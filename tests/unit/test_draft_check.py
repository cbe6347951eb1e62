"""Whether an answer names what an unfinished complaint was about (the phone's draft proof)."""

import pytest

from liangwang.complaints.draft_check import knows_the_matter

DRAFT = "小区门口的路灯不亮，晚上很黑"


@pytest.mark.parametrize(
    "answer",
    ["路灯坏了", "上次说的是路都不亮", "晚上很黑的事", "路登的事"],
)
def test_the_matter_in_other_or_misheard_words_counts(answer: str) -> None:
    assert knows_the_matter(DRAFT, answer)


@pytest.mark.parametrize(
    "answer",
    ["我要投诉上次的问题", "就是上次那个事情", "噪音扰民", "嗯", "", "的的的了了", "小区门口坏了"],
)
def test_words_every_complaint_has_prove_nothing(answer: str) -> None:
    assert not knows_the_matter(DRAFT, answer)

"""A complaint in everyday words that NLU took for a request is recognised as a complaint;
requests, status questions and noise are left as NLU read them."""

from __future__ import annotations

import pytest

from liangwang.understanding.problem import describes_problem


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("办个证跑了五六趟，每次都讲缺东西，腿都跑细了", "ask_service"),
        ("路口那个红绿灯坏了好几天，车子乱开", "nlu_fallback"),
        ("楼下饭店的油烟天天往我家窗户里钻", "ask_location"),
    ],
)
def test_a_problem_described_in_everyday_words_is_a_complaint(text: str, intent: str) -> None:
    assert describes_problem(text, intent)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("我想问一下敬老卡在哪里办，要带什么", "ask_service"),
        ("我妈七十五了，高龄津贴怎么申请", "ask_eligibility"),
        ("公积金提取要几天能到账", "ask_duration"),
        # What NLU placed elsewhere is not second-guessed: a status question stays one.
        ("路口那个红绿灯坏了好几天，车子乱开", "check_status"),
        ("路口那个红绿灯坏了好几天，车子乱开", "out_of_scope"),
        # Noise and foreign words are no sentence of a problem, whatever their grams.
        ("kkkkkkkkkkkkkkkk", "nlu_fallback"),
        ("红绿灯坏了", "nlu_fallback"),
    ],
)
def test_requests_other_readings_and_noise_are_left_alone(text: str, intent: str) -> None:
    assert not describes_problem(text, intent)

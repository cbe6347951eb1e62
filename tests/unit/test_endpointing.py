"""How long the closing silence may last, judged from the words so far."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from liangwang.conversation import Expect
from voice.endpointing import CAREFUL_EXPECTATIONS, Patience, judge
from voice.hints import RecognitionHints

DOMAIN = Path(__file__).resolve().parents[2] / "bot" / "domain.yml"


@pytest.mark.parametrize(
    "words", ["我想办张敬老卡", "要带什么材料？", "我家门口的路灯坏了。", "转人工", "静安区"]
)
def test_a_finished_request_ends_quickly(words: str) -> None:
    assert judge(words, careful=False) is Patience.QUICK


@pytest.mark.parametrize(
    "words",
    [
        "喂，你好",
        "我想问一下",
        "我想问一下。",
        "敬老卡，",
        "我家门口的路灯坏了，然后",
        "那个……",
        "嗯",
        "我要",
        "路灯坏了，但是",
        "请问",
    ],
)
def test_words_that_promise_more_wait_longer(words: str) -> None:
    assert judge(words, careful=False) is Patience.HESITANT
    assert judge(words, careful=True) is Patience.HESITANT


@pytest.mark.parametrize("words", ["对", "是的", "南京西路一百号", "一三八"])
def test_careful_answers_never_end_before_the_default(words: str) -> None:
    assert judge(words, careful=True) is Patience.DEFAULT


@pytest.mark.parametrize("words", ["", "  ", "。"])
def test_nothing_heard_keeps_the_default(words: str) -> None:
    assert judge(words, careful=False) is Patience.DEFAULT


def test_every_expectation_in_the_domain_is_known() -> None:
    """An expectation nobody reads is a typo: it must give hints or ask for care."""
    domain = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))
    used = {
        str(variant["custom"]["expect"])
        for variants in domain["responses"].values()
        for variant in variants
        if "expect" in variant.get("custom", {})
    }
    # An open request is heard with the catalog's vocabulary (voice/hints.py).
    known = set(RecognitionHints().by_expectation) | CAREFUL_EXPECTATIONS | {Expect.request}
    assert used <= known, used - known
    assert {"address", "time"} <= used  # the form's free-text slots are marked

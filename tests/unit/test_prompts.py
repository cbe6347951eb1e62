"""Fixed sentences of the domain are made ahead of need; only sentences with a variable are
made during a call."""

from __future__ import annotations

from pathlib import Path

from liangwang.wording import Say, render, responses
from voice.fakes import RecordingSynthesizer
from voice.prompts import PromptWarmer, fixed_sentences
from voice.speech_text import split_sentences
from voice.tts import CachedSynthesizer

RESPONSES = {
    "utter_filed": [{"text": "已经提交了。您的编号是 {number}。查询时说查进度就行。"}],
    "utter_bye": [{"text": "好的，再见！有事随时找我。"}],
    "utter_buttons_only": [{"buttons": [{"title": "是", "payload": "/affirm"}]}],
}


def test_only_sentences_without_a_variable_and_the_named_ones_first() -> None:
    assert fixed_sentences(RESPONSES, first=["utter_bye"]) == [
        *split_sentences("好的，再见！有事随时找我。"),
        "已经提交了。",
        "查询时说查进度就行。",
    ]


def test_the_domain_gives_many_fixed_sentences_and_none_with_a_variable() -> None:
    sentences = fixed_sentences(responses())
    assert len(sentences) > 100
    assert all("{" not in s for s in sentences)
    assert "已经提交了。" in sentences


def test_after_warming_a_filed_reply_makes_only_its_number_sentence(tmp_path: Path) -> None:
    inner = RecordingSynthesizer()
    cache = CachedSynthesizer(inner, tmp_path)
    warmer = PromptWarmer(cache, fixed_sentences(responses()))
    warmer.start()
    assert warmer.wait(timeout_s=60)
    assert warmer.made == len(inner.said) > 100
    inner.said.clear()

    reply = render(Say("utter_complaint_filed", {"number": "482 913", "days": "3"}))
    list(cache.synthesize_sentences(reply))
    made = [text for text, _slow in inner.said]
    assert made == [s for s in split_sentences(reply) if "482 913" in s or "3 天" in s]


def test_stopping_leaves_the_rest_for_later(tmp_path: Path) -> None:
    inner = RecordingSynthesizer()
    warmer = PromptWarmer(CachedSynthesizer(inner, tmp_path), fixed_sentences(responses()))
    warmer.stop()  # before it starts: nothing is made
    warmer.start()
    assert warmer.wait(timeout_s=10) and warmer.made == 0 and inner.said == []


def test_nothing_is_made_while_a_call_is_going_on(tmp_path: Path) -> None:
    inner = RecordingSynthesizer()
    calls = [True]
    warmer = PromptWarmer(
        CachedSynthesizer(inner, tmp_path), fixed_sentences(responses()), busy=lambda: calls[0]
    )
    warmer.start()
    assert not warmer.wait(timeout_s=1.2) and inner.said == []
    calls[0] = False  # the call ended
    assert warmer.wait(timeout_s=60) and len(inner.said) == warmer.made > 100

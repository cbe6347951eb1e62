"""Fixed sentences of the domain, and the replies the catalog and the complaint categories
fix, are made ahead of need; only what depends on the caller is made during a call."""

from __future__ import annotations

from pathlib import Path

import pytest

from liangwang.catalog.store import import_catalog, read_catalog_file
from liangwang.db import sessions_for, unit_of_work
from liangwang.settings import PROJECT_ROOT, Settings
from liangwang.wording import Say, render, responses
from voice.app import FIXED_PROMPTS, prepare_prompts, prepared_sentences
from voice.fakes import RecordingSynthesizer
from voice.prompts import PromptWarmer, domain_replies, fixed_sentences, reply_sentences
from voice.reply_plan import keypad_menu
from voice.speech_text import split_sentences
from voice.tts import CachedSynthesizer

CATALOG_MINI = PROJECT_ROOT / "tests" / "fixtures" / "catalog_mini.yml"
SUMMARY = "申领、补领或换领社会保障卡。"  # of social-security-card in the catalog above
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
        *split_sentences(keypad_menu(RESPONSES["utter_buttons_only"][0]["buttons"])[0]),
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


def test_the_line_prepares_in_the_background_unless_told_not_to(tmp_path: Path) -> None:
    cache = CachedSynthesizer(RecordingSynthesizer(), tmp_path / "cache")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'never-migrated.db'}")
    warmer = prepare_prompts(settings, cache, busy=lambda: True)  # waits: never makes one
    assert warmer is not None
    warmer.stop()
    told_not_to = Settings(database_url=settings.database_url, tts_prepare_in_background=False)
    assert prepare_prompts(told_not_to, cache, busy=lambda: False) is None


def test_reply_sentences_put_each_replys_first_sentence_first() -> None:
    texts = {
        "utter_intro": [{"text": "{name}。{summary}"}, {"text": "您问的是{name}。"}],
        "utter_step": [{"text": "第一步，{step}"}],
    }
    replies = [
        [Say("utter_intro", {"name": "敬老卡", "summary": "老人坐车免费，逛公园也免费。"})],
        [Say("utter_step", {"step": "带上身份证。"}, [{"title": "是", "payload": "/affirm"}])],
    ]
    sentences = reply_sentences(replies, texts)
    firsts = ["敬老卡。老人坐车免费，", "您问的是敬老卡。", "第一步，带上身份证。"]
    assert sentences[:3] == firsts  # every variant's opening, before any later sentence
    assert "逛公园也免费。" in sentences[3:]
    assert any("按1" in s for s in sentences[3:])  # the keypad menu of the buttons


def _seeded(db_url: str) -> Settings:
    with unit_of_work(sessions_for(db_url)) as session:
        import_catalog(session, read_catalog_file(session, CATALOG_MINI))
    return Settings(database_url=db_url)


def test_the_catalogs_and_categories_replies_are_prepared_after_the_fixed_ones(
    db_url: str, tmp_path: Path
) -> None:
    sentences = prepared_sentences(_seeded(db_url))
    fixed = fixed_sentences(responses(), first=FIXED_PROMPTS)
    assert sentences[: len(fixed)] == fixed and len(sentences) == len(set(sentences))

    # What a caller asking about a service, or describing a broken street light, hears
    # first is then in the cache: nothing is made before the first sentence plays.
    inner = RecordingSynthesizer()
    cache = CachedSynthesizer(inner, tmp_path / "cache")
    cache.warm(sentences)
    inner.said.clear()
    intro = render(Say("utter_service_intro", {"name": "社会保障卡申领与补换", "summary": SUMMARY}))
    category = render(Say("utter_complaint_confirm_category", {"category": "路灯"}))
    for reply in (intro, category):
        next(cache.synthesize_sentences(reply))
    assert inner.said == []


def test_an_unreadable_catalog_leaves_the_categories(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'never-migrated.db'}")
    replies = domain_replies(settings, responses())
    assert replies and all(r[0].response == "utter_complaint_confirm_category" for r in replies)
    assert "catalog" in caplog.text


def test_the_keypad_menus_of_fixed_replies_are_prepared_too() -> None:
    # The greeting's buttons are read as a keypad menu: made once, not on every call.
    greeting = responses()["utter_greet"][0]
    [menu] = keypad_menu(greeting["buttons"])
    assert set(split_sentences(menu)) <= set(fixed_sentences({"utter_greet": [greeting]}))

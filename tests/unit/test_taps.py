"""Answers by tapping (liangwang/taps.py): the buttons web chat and Telegram show for a
question whose answers are few, and the phone line, which leaves them out."""

from __future__ import annotations

import yaml
from telegram import ReplyKeyboardMarkup

from channels.telegram import keyboard
from liangwang.complaints.categories import load_categories
from liangwang.conversation import BotMessage, Taps
from liangwang.districts import DISTRICTS
from liangwang.settings import PROJECT_ROOT
from liangwang.taps import buttons_for, tap_buttons, with_tap_answers
from voice.reply_plan import ReplyPlan

DOMAIN = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))


def _taps_in_domain() -> dict[str, str]:
    found = {}
    for name, variants in DOMAIN["responses"].items():
        for variant in variants:
            taps = (variant.get("custom") or {}).get("taps")
            if taps:
                found[name] = taps
    return found


def test_every_kind_of_answer_has_its_buttons_and_the_domain_names_only_real_kinds() -> None:
    for kind in Taps:
        assert buttons_for(kind), kind
        assert all(b["title"] and b["payload"] for b in buttons_for(kind))
    used = _taps_in_domain()
    assert set(used.values()) <= set(Taps)
    # The complaint's questions with few answers, and the rating, all offer them.
    for question in (
        "utter_ask_complaint_description",
        "utter_complaint_confirm_category",
        "utter_ask_complaint_district",
        "utter_ask_complaint_when",
        "utter_complaint_readback",
        "utter_ask_complaint_correct_which",
        "utter_ask_rating",
        "utter_confirm_withdraw",
    ):
        assert question in used, question


def test_the_buttons_send_what_a_citizen_could_have_written_or_the_intent() -> None:
    assert [b["payload"] for b in buttons_for(Taps.yes_no)] == ["/affirm", "/deny"]
    assert [b["payload"] for b in buttons_for(Taps.district)] == list(DISTRICTS)
    assert [b["payload"] for b in buttons_for(Taps.stars)] == ["1分", "2分", "3分", "4分", "5分"]
    assert [b["title"] for b in buttons_for(Taps.which_part)] == ["问题", "地址", "时间", "电话"]


def test_a_message_keeps_its_own_buttons_and_an_unknown_kind_offers_none() -> None:
    own = [{"title": "办事指南", "payload": "/ask_service_guide"}]
    assert tap_buttons(BotMessage("请选择", own, custom={"taps": "yes_no"})) == own
    assert tap_buttons(BotMessage("？", custom={"taps": "nonsense"})) == []
    assert (
        tap_buttons(BotMessage("在哪个区？", custom={"taps": "district"}))[0]["title"] == "黄浦区"
    )


def test_telegram_lays_the_districts_out_in_a_grid_and_yes_no_in_a_column() -> None:
    grid = keyboard(BotMessage("在哪个区？", custom={"taps": "district"}))
    assert grid is not None
    assert [len(row) for row in grid.inline_keyboard] == [4, 4, 4, 4]
    column = keyboard(BotMessage("对吗？", custom={"taps": "yes_no"}))
    assert column is not None and [len(row) for row in column.inline_keyboard] == [1, 1]


def test_the_phone_line_reads_no_tap_answers_as_a_keypad_menu() -> None:
    plan = ReplyPlan.from_messages(
        [BotMessage("在哪个区？", custom={"taps": "district", "expect": "district"})]
    )
    assert plan.choices == () and plan.texts == ("在哪个区？",)


def test_taps_sent_apart_from_the_words_land_on_the_question() -> None:
    # What Rasa's REST channel sends for a response with text and custom: two messages.
    turn = [
        BotMessage("好的。"),
        BotMessage("在哪个区？"),
        BotMessage(custom={"taps": "district", "expect": "district"}),
    ]
    shown = with_tap_answers(turn)
    assert [m.text for m in shown] == ["好的。", "在哪个区？"]
    assert shown[0].buttons == [] and len(shown[1].buttons) == 16
    assert with_tap_answers([BotMessage("您好", [{"title": "a", "payload": "/a"}])])[0].buttons


def test_each_kind_of_problem_tapped_is_understood_as_that_kind() -> None:
    categories = load_categories()
    offered = buttons_for(Taps.problem)
    assert len(offered) == len(categories.items) - 1  # every kind but 其他问题
    for button in offered:
        assert categories.classify(button["payload"]).name == button["title"], button


def test_the_place_is_asked_with_the_device_location_button_on_telegram() -> None:
    asked = BotMessage("具体在哪里？", custom={"taps": "location"})
    markup = keyboard(asked)
    assert isinstance(markup, ReplyKeyboardMarkup)
    [[button]] = markup.keyboard
    assert button.request_location and button.text == "发送我的位置"
    assert markup.one_time_keyboard  # gone once used


def test_every_yes_no_and_district_question_offers_its_answers_as_buttons() -> None:
    untappable = [
        name
        for name, variants in DOMAIN["responses"].items()
        for variant in variants
        if (variant.get("custom") or {}).get("expect") in ("yes_no", "district")
        and not (variant.get("custom") or {}).get("taps")
        and not variant.get("buttons")
    ]
    assert untappable == []

from liangwang.conversation import (
    BotMessage,
    asked_anything_before,
    fallback_step,
    last_bot_turn,
    misses_before,
)


def user(intent: str, text: str = "…") -> dict[str, object]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}}


def bot(text: str, buttons: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {"event": "bot", "text": text, "data": {"buttons": buttons}}


def action(name: str) -> dict[str, object]:
    return {"event": "action", "name": name}


def said(response: str) -> dict[str, object]:
    """A bot event as Rasa records a response an action asked for."""
    return {"event": "bot", "text": "…", "metadata": {"utter_action": response}}


def test_misses_count_only_the_latest_unbroken_run() -> None:
    events = [
        user("nlu_fallback"),
        said("utter_ask_rephrase"),
        user("greet"),
        said("utter_greet"),
        user("out_of_scope"),
        said("utter_out_of_scope"),
        user("nlu_fallback"),
        said("utter_offer_choices"),
        user("nlu_fallback"),  # the current turn, being answered
    ]
    assert misses_before(events) == 2


def test_repeat_does_not_break_a_run_of_misses() -> None:
    events = [user("nlu_fallback"), said("utter_ask_rephrase"), user("repeat"), bot("…")]
    assert misses_before([*events, user("nlu_fallback")]) == 1


def test_understood_message_resets_the_count() -> None:
    events = [user("nlu_fallback"), said("utter_ask_rephrase"), user("greet"), said("utter_greet")]
    assert misses_before([*events, user("nlu_fallback")]) == 0


def test_fallback_chain_reasks_then_offers_choices_then_a_person() -> None:
    assert fallback_step(1, "nlu_fallback").response == "utter_ask_rephrase"
    assert fallback_step(1, "out_of_scope").response == "utter_out_of_scope"
    assert fallback_step(2, "nlu_fallback").response == "utter_offer_choices"
    third = fallback_step(3, "nlu_fallback")
    assert (third.response, third.offers_human) == ("utter_offer_human", True)
    assert fallback_step(7, "out_of_scope").offers_human


def test_last_bot_turn_is_everything_said_since_the_previous_user_message() -> None:
    buttons = [{"title": "转人工", "payload": "/handoff"}]
    events = [
        user("greet"),
        bot("一"),
        user("ask_capabilities"),
        action("utter_capabilities"),
        bot("二", buttons),
        bot("三"),
        action("action_listen"),
        user("repeat"),
    ]
    assert last_bot_turn(events) == [BotMessage("二", buttons), BotMessage("三")]


def test_repeating_twice_repeats_the_same_answer() -> None:
    events = [user("greet"), bot("您好"), user("repeat"), bot("您好"), user("repeat")]
    assert last_bot_turn(events) == [BotMessage("您好")]


def test_nothing_to_repeat_at_the_start() -> None:
    assert last_bot_turn([user("repeat")]) == []


def test_a_turn_any_action_answered_on_the_not_understood_path_is_a_miss() -> None:
    # "hjkl" read as affirm with no question pending: the guide answered it as not
    # understood; "底保怎么办" missed by NLU, answered by the guide: understood.
    events = [
        user("affirm", "hjkl"),
        action("action_service_guide"),
        said("utter_ask_rephrase"),
        user("nlu_fallback", "底保怎么办"),
        action("action_fallback_chain"),
        said("utter_service_intro"),
    ]
    assert misses_before([*events[:3], user("affirm", "啊啊")]) == 1
    assert misses_before([*events, user("affirm", "啊啊")]) == 0


def test_nothing_was_asked_before_a_greeting_noise_or_a_misunderstood_turn() -> None:
    opening = [user("greet", "/greet"), said("utter_greet")]
    assert not asked_anything_before([*opening, user("thank", "感谢观看")])
    # A guide intent answered on the not-understood path asked for nothing either.
    missed = [user("continue", "呢"), said("utter_ask_rephrase")]
    assert not asked_anything_before([*opening, *missed, user("goodbye", "就")])
    asked = [user("ask_service", "敬老卡"), said("utter_service_intro")]
    assert asked_anything_before([*opening, *asked, user("goodbye", "再见")])

from liangwang.conversation import BotMessage, consecutive_misses, fallback_step, last_bot_turn


def user(intent: str, text: str = "…") -> dict[str, object]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent}}}


def bot(text: str, buttons: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {"event": "bot", "text": text, "data": {"buttons": buttons}}


def action(name: str) -> dict[str, object]:
    return {"event": "action", "name": name}


def test_misses_count_only_the_latest_unbroken_run() -> None:
    events = [
        user("nlu_fallback"),
        action("action_fallback_chain"),
        user("greet"),
        user("out_of_scope"),
        user("nlu_fallback"),
    ]
    assert consecutive_misses(events) == 2


def test_repeat_does_not_break_a_run_of_misses() -> None:
    events = [user("nlu_fallback"), user("repeat"), user("nlu_fallback")]
    assert consecutive_misses(events) == 2


def test_understood_message_resets_the_count() -> None:
    assert consecutive_misses([user("nlu_fallback"), user("greet")]) == 0


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


def test_turns_an_action_handed_to_the_fallback_chain_are_misses() -> None:
    # "hjkl" read as affirm with no question pending: the guide hands it on.
    handed_on = [
        user("affirm", "hjkl"),
        action("action_service_guide"),
        {"event": "followup", "name": "action_fallback_chain"},
        action("action_fallback_chain"),
    ]
    assert consecutive_misses([*handed_on, *handed_on[:3]]) == 2
    # The current turn, handed on, before the chain has run.
    assert consecutive_misses(handed_on[:3]) == 1
    assert consecutive_misses([*handed_on, user("greet")]) == 0


def test_a_turn_nlu_missed_but_the_guide_took_is_not_a_miss() -> None:
    found_later = [
        user("nlu_fallback", "底保怎么办"),
        action("action_fallback_chain"),
        {"event": "followup", "name": "action_service_guide"},
        action("action_service_guide"),
    ]
    assert consecutive_misses([user("nlu_fallback"), *found_later, user("nlu_fallback")]) == 1

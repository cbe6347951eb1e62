"""The call loop with recording fakes: exact event sequences for every turn-taking rule."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from liangwang.conversation import BotMessage
from liangwang.dialogue import DialogueError, RecordingEngine, UserTurn
from liangwang.wording import responses
from voice import events as ev
from voice.audio import Audio
from voice.fakes import (
    EnergyVad,
    FakeLine,
    RecordingSynthesizer,
    RecordingTranscripts,
    ScriptedRecognizer,
    silence_frames,
    speech_frames,
)
from voice.line import Dtmf, Hangup
from voice.ports import Transcript
from voice.session import CallConfig, CallSession, VoiceEngines

GREETING = BotMessage(
    text="您好！请问您想办什么事？",
    buttons=[
        {"title": "办事指南", "payload": "/ask_service_guide"},
        {"title": "我要找茬", "payload": "/report_problem"},
        {"title": "查询进度", "payload": "/check_status"},
        {"title": "转人工", "payload": "/handoff"},
    ],
    custom={"expect": "request"},  # as bot/domain.yml marks utter_greet
)
HANDOFF_TEXT = "好的，马上帮您转人工。"


def dialogue_script(turn: UserTurn) -> list[BotMessage]:
    if turn.text == "/session_start":
        return []
    if turn.text == "/greet":
        return [GREETING]
    if turn.text == "/handoff":
        return [BotMessage(text=HANDOFF_TEXT), BotMessage(custom={"voice": "transfer"})]
    if turn.text == "再见":
        return [BotMessage(text="再见！"), BotMessage(custom={"voice": "hangup"})]
    if turn.text == "我要投诉了":
        return [BotMessage(text="在哪个区？"), BotMessage(custom={"expect": "district"})]
    if turn.text == "我要投诉":
        return [BotMessage(text="留个电话吧。"), BotMessage(custom={"voice": "number"})]
    if turn.text == "提交吧":
        return [BotMessage(text="我念一遍……对吗？"), BotMessage(custom={"expect": "yes_no"})]
    return [BotMessage(text=f"您说的是：{turn.text}")]


class Call:
    """One call under test: a fake line, scripted engines and the events it emitted."""

    def __init__(
        self,
        heard: list[str] | None = None,
        *,
        config: CallConfig | None = None,
        reply: Callable[[UserTurn], list[BotMessage]] = dialogue_script,
        synth: RecordingSynthesizer | None = None,
    ) -> None:
        self.line = FakeLine()
        self.recognizer = ScriptedRecognizer(list(heard or []))
        self.synth = synth or RecordingSynthesizer()
        self.dialogue = RecordingEngine(reply)
        self.transcripts = RecordingTranscripts()
        self.events: list[ev.CallEvent] = []
        self.engines = VoiceEngines(
            recognizer=self.recognizer,
            synthesizer=self.synth,
            vad=EnergyVad(),
            dialogue=self.dialogue,
            recorder=self.transcripts,
        )
        self.session = CallSession(
            self.line,
            self.engines,
            config or CallConfig(end_silence_ms=400, reprompt_after_s=2.0, digit_timeout_s=1.0),
            on_event=self.events.append,
        )

    async def run(self) -> str:
        return await self.session.run()

    def kinds(self) -> list[str]:
        return [type(e).__name__ for e in self.events]

    def sent(self) -> list[str]:
        """What went to the dialogue after the new session every call starts with."""
        first, *rest = [t.text for t in self.dialogue.turns]
        assert first == "/session_start"
        return rest

    def spoken(self, reason: str | None = None) -> list[tuple[str, ...]]:
        return [
            e.texts
            for e in self.events
            if isinstance(e, ev.Spoke) and (reason is None or e.reason == reason)
        ]


def utterance(ms: int = 600) -> list:
    return [*speech_frames(ms), *silence_frames(500)]


async def test_greeting_then_one_spoken_turn() -> None:
    call = Call(["我想办敬老卡"])
    call.line.feed(silence_frames(200), utterance(), Hangup())
    assert await call.run() == "caller-hangup"
    assert call.kinds() == [
        "CallStarted",
        "SentToDialogue",
        "Spoke",
        "SpeechStarted",
        "TurnEnded",
        "Recognized",
        "SentToDialogue",
        "Spoke",
        "FirstAudio",
        "CallEnded",
    ]
    assert call.sent() == ["/greet", "我想办敬老卡"]
    # The greeting's buttons become a spoken keypad menu; 转人工 is always key 0.
    greeting = call.spoken("reply")[0]
    assert greeting[0] == GREETING.text
    assert greeting[1] == "也可以按键：按1，办事指南；按2，我要找茬；按3，查询进度；按0转人工。"
    assert call.dialogue.turns[1].conversation_id == "phone:13812345678"
    assert call.dialogue.turns[1].metadata["caller"] == "13812345678"
    # The greeting asks an open request: its menu is one way of answering among many, so
    # its titles (with the catalog's names) are vocabulary for the prompt, not hints.
    assert call.recognizer.hints_seen[0] == ()
    assert call.recognizer.vocabulary_seen[0][:3] == ("办事指南", "我要找茬", "查询进度")
    # The recogniser heard the pre-roll too: the start of the word is not cut off.
    assert call.recognizer.heard_bytes[0] >= 600 * 16


async def test_the_dialogue_says_what_to_expect_and_the_recogniser_gets_those_hints() -> None:
    call = Call(["我要投诉了", "静安区", "我想办敬老卡"])
    call.line.feed(utterance(), utterance(), utterance(), Hangup())
    await call.run()
    _, after_district_question, after_answer = call.recognizer.hints_seen
    assert "静安区" in after_district_question and "浦东" in after_district_question
    assert after_answer == ()  # nothing particular expected: open recognition


async def test_decoding_starts_in_the_closing_silence_and_is_used_at_the_end() -> None:
    call = Call(["我想办敬老卡"])
    call.recognizer.with_preview = True
    # Speech, a pause long enough to start decoding, more speech (that decode is stale),
    # then the closing silence: decoded again once, and that result is the answer.
    call.line.feed(speech_frames(400), silence_frames(340), utterance(), Hangup())
    await call.run()
    first, second = call.recognizer.previews
    assert second > first  # the second decode heard the words after the pause
    assert call.recognizer.finishes == 0  # the end of the turn waited for nothing more
    assert ev.Recognized("我想办敬老卡", 0.9) in call.events
    assert call.sent() == ["/greet", "我想办敬老卡"]


PATIENT = CallConfig(
    end_silence_ms=1000,
    quick_end_silence_ms=400,
    hesitant_end_silence_ms=2000,
    reprompt_after_s=5.0,
    digit_timeout_s=1.0,
)


def preview_call(heard: list[str]) -> Call:
    call = Call(heard, config=PATIENT)
    call.recognizer.with_preview = True
    return call


async def test_a_finished_request_ends_after_the_quick_silence() -> None:
    call = preview_call(["我想办敬老卡"])
    # 700 ms of silence, then the caller hangs up: only the quick patience ends the turn.
    call.line.feed(speech_frames(600), silence_frames(700), Hangup())
    await call.run()
    assert ev.PatienceSet("quick", 400) in call.events
    assert call.sent() == ["/greet", "我想办敬老卡"]


async def test_the_default_patience_waits_longer_than_the_quick_one() -> None:
    call = Call(["我想办敬老卡"], config=PATIENT)  # no preview: the words are not known
    call.line.feed(speech_frames(600), silence_frames(700), Hangup())
    await call.run()
    assert not any(isinstance(e, ev.PatienceSet) for e in call.events)
    assert call.sent() == ["/greet"]  # the caller hung up before the turn ended
    assert call.transcripts.turns["call-1"][-1].recognized == "我想办敬老卡"  # but it is kept


async def test_a_hesitation_waits_for_the_rest_of_the_sentence() -> None:
    call = preview_call(["我想问一下，"])
    # A 1.5 s pause would end a turn at the default 1 s; after "我想问一下，" it does not.
    call.line.feed(speech_frames(600), silence_frames(1500), utterance(), Hangup())
    await call.run()
    assert ev.PatienceSet("hesitant", 2000) in call.events
    assert [type(e).__name__ for e in call.events].count("SpeechStarted") == 1
    first, second = call.recognizer.previews
    assert second > first  # decoded again with the words after the pause


async def test_a_careful_answer_is_decoded_with_a_longer_ending() -> None:
    call = preview_call(["提交吧", "南京西路一百号"])
    call.line.feed(silence_frames(500), speech_frames(600), silence_frames(700))
    call.line.feed(speech_frames(600), silence_frames(1200), Hangup())
    await call.run()
    assert call.sent() == ["/greet", "提交吧", "南京西路一百号"]
    open_turn, careful_turn = call.recognizer.previews
    frame = 160 * 2  # 20 ms at 8 kHz
    # The same pre-roll and speech: the careful turn's decode had 100 ms more silence.
    assert careful_turn - open_turn == (250 - 150) // 20 * frame


@pytest.mark.parametrize("prompt", ["提交吧", "我要投诉"])  # a confirmation; a phone number
async def test_answers_the_dialogue_must_not_cut_short_keep_the_default(prompt: str) -> None:
    call = preview_call([prompt, "对"])
    call.line.feed(speech_frames(600), silence_frames(700), speech_frames(400))
    call.line.feed(silence_frames(700), Hangup())
    await call.run()
    assert [e for e in call.events if isinstance(e, ev.PatienceSet)] == [
        ev.PatienceSet("quick", 400),
        ev.PatienceSet("default", 1000),
    ]
    assert call.sent() == ["/greet", prompt]  # "对" had not ended when the caller hung up


async def test_caller_speech_stops_our_playback() -> None:
    call = Call(["转人工吧"])
    call.line.hold_playback = True
    call.line.feed(utterance(), Hangup())
    await call.run()
    assert call.kinds()[3:6] == ["BargeIn", "SpeechStarted", "TurnEnded"]
    assert call.line.stops == 1


async def test_short_click_does_not_barge_in() -> None:
    call = Call()
    call.line.hold_playback = True
    call.line.feed(speech_frames(40), silence_frames(400), Hangup())
    await call.run()
    assert "BargeIn" not in call.kinds()
    assert call.line.stops == 0


async def test_silence_reprompts_twice_then_offers_a_person_then_says_goodbye() -> None:
    call = Call()
    call.line.feed(silence_frames(2000 * 4 + 100))
    assert await call.run() == "silence"
    assert [e.count for e in call.events if isinstance(e, ev.Reprompted)] == [1, 2, 3, 4]
    reprompts = call.spoken("reprompt")
    assert reprompts[0] == (responses()["utter_voice_reprompt"][0]["text"],)
    assert reprompts[1] == (responses()["utter_voice_reprompt_again"][0]["text"],)
    assert reprompts[2][0] == responses()["utter_offer_human"][0]["text"]
    assert reprompts[2][1] == "也可以按键：按2，不用了；按0转人工。"
    assert call.spoken("goodbye") == [(responses()["utter_voice_goodbye_silent"][0]["text"],)]
    assert call.line.hung_up


async def test_offer_of_a_person_accepts_key_1() -> None:
    call = Call()
    call.line.feed(silence_frames(2000 * 3 + 100), Dtmf("1"), silence_frames(1100))
    assert await call.run() == "handoff"
    assert call.sent() == ["/greet", "/handoff"]


async def test_menu_key_picks_the_offered_choice() -> None:
    call = Call()
    call.line.feed(Dtmf("2"), silence_frames(1100), Hangup())
    await call.run()
    assert call.sent() == ["/greet", "/report_problem"]
    assert ev.KeysEntered("2") in call.events


async def test_digits_then_hash_send_the_number() -> None:
    call = Call(["我要投诉"])
    call.line.feed(utterance(), *[Dtmf(d) for d in "02112345678"], Dtmf("#"), Hangup())
    await call.run()
    # After a question asking for a number, a leading 0 is part of the number.
    assert call.sent() == ["/greet", "我要投诉", "02112345678"]


async def test_digits_without_hash_are_taken_after_a_pause() -> None:
    call = Call()
    call.line.feed(*[Dtmf(d) for d in "123456"], silence_frames(900))
    call.line.feed(silence_frames(200), Hangup())
    await call.run()
    assert call.sent() == ["/greet", "123456"]


async def test_keys_typed_just_before_speaking_are_sent_first() -> None:
    call = Call(["我家门口的路灯坏了"])
    call.line.feed(Dtmf("2"), silence_frames(200), utterance(), Hangup())
    await call.run()
    assert call.sent() == ["/greet", "/report_problem", "我家门口的路灯坏了"]


async def test_yes_and_no_keys_when_no_choices_are_offered() -> None:
    call = Call(["我想办敬老卡"])
    call.line.feed(utterance(), Dtmf("1"), silence_frames(1100), Dtmf("2"), Dtmf("#"), Hangup())
    await call.run()
    assert call.sent()[-2:] == ["/affirm", "/deny"]


async def test_key_0_hands_over_at_once_and_staff_call_back_without_a_transfer_line() -> None:
    call = Call()
    call.line.hold_playback = True  # pressing 0 mid-greeting also stops the greeting
    call.line.feed(Dtmf("0"))
    assert await call.run() == "handoff"
    assert call.sent() == ["/greet", "/handoff"]
    assert ev.BargeIn() in call.events
    assert ev.HandedOver(transferred=False) in call.events
    assert call.spoken("goodbye") == [(responses()["utter_voice_callback"][0]["text"],)]
    assert call.line.hung_up


class SlowSynthesizer(RecordingSynthesizer):
    """Makes the second sentence of a reply slowly: the caller presses 0 meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.line = FakeLine()
        self.loop = asyncio.get_running_loop()
        self.released = threading.Event()

    def synthesize(self, text: str, *, slow: bool = False) -> Audio:
        if text == "再说第二句话。":
            self.loop.call_soon_threadsafe(self.line.feed, Dtmf("0"))
            self.released.wait(timeout=5.0)  # a busy machine; the call must not wait for it
        return super().synthesize(text, slow=slow)


async def test_a_key_pressed_while_an_answer_is_still_being_made_is_acted_on_at_once() -> None:
    synth = SlowSynthesizer()
    call = Call(
        ["我想办敬老卡"],
        synth=synth,
        reply=lambda t: (
            [BotMessage(text="先说第一句话。再说第二句话。最后第三句话。")]
            if t.text == "我想办敬老卡"
            else dialogue_script(t)
        ),
    )
    synth.line = call.line
    call.line.feed(utterance())
    try:
        assert await asyncio.wait_for(call.run(), timeout=4.0) == "handoff"
    finally:
        synth.released.set()
    assert call.sent() == ["/greet", "我想办敬老卡", "/handoff"]
    said = [text for text, _slow in synth.said]
    assert "最后第三句话。" not in said  # the rest of the answer was not made for nobody
    # The transcript keeps the whole answer as the dialogue gave it.
    answer = call.transcripts.turns["call-1"][1].reply
    assert answer == ("先说第一句话。再说第二句话。最后第三句话。",)


async def test_spoken_handoff_transfers_to_the_staff_line() -> None:
    call = Call(["转人工"], config=CallConfig(end_silence_ms=400, handoff_uri="sip:staff@pbx"))
    call.line.transfer_ok = True
    call.session.engines.dialogue = RecordingEngine(
        lambda t: (
            dialogue_script(UserTurn(t.conversation_id, "/handoff", "phone"))
            if t.text == "转人工"
            else dialogue_script(t)
        )
    )
    call.line.feed(utterance())
    assert await call.run() == "handoff"
    assert call.line.transfers == ["sip:staff@pbx"]
    assert ev.HandedOver(transferred=True) in call.events
    assert not call.line.hung_up


async def test_repeat_by_voice_and_by_star_replays_without_asking_the_dialogue() -> None:
    call = Call(["我想办敬老卡", "请再说一遍"])
    call.line.feed(utterance(), utterance(), Dtmf("*"), Hangup())
    await call.run()
    assert call.sent() == ["/greet", "我想办敬老卡"]
    answer = ("您说的是：我想办敬老卡",)
    assert call.spoken("repeat") == [answer, answer]
    # The same audio is replayed: no new synthesis for a repeat.
    assert [text for text, _ in call.synth.said].count(answer[0]) == 1


async def test_slower_changes_the_rest_of_the_call() -> None:
    call = Call(["我想办敬老卡", "您说慢一点", "要带什么"])
    call.line.feed(utterance(), utterance(), utterance(), Hangup())
    await call.run()
    assert ev.SlowedDown() in call.events
    said = call.synth.said
    slower = responses()["utter_voice_slower"][0]["text"]
    index = said.index((slower, True))
    # The last answer is said again, slowly, and everything after stays slow.
    assert said[index + 1] == ("您说的是：我想办敬老卡", True)
    assert said[-1] == ("您说的是：要带什么", True)


async def test_nothing_recognised_asks_again_politely() -> None:
    call = Call([""])
    call.line.feed(utterance(), Hangup())
    await call.run()
    assert call.spoken("not-heard") == [(responses()["utter_voice_not_heard"][0]["text"],)]
    assert call.sent() == ["/greet"]


async def test_a_low_confidence_guess_is_asked_again_not_sent() -> None:
    call = Call([Transcript("对 错了 不留", 0.03)])
    call.line.feed(utterance(), Hangup())
    await call.run()
    assert call.spoken("not-heard") == [(responses()["utter_voice_not_heard"][0]["text"],)]
    assert call.sent() == ["/greet"]
    turn = call.transcripts.turns["call-1"][-1]
    assert (turn.recognized, turn.confidence) == ("对 错了 不留", 0.03)  # kept for staff


async def test_goodbye_hangs_up_after_speaking() -> None:
    call = Call(["再见"])
    call.line.feed(utterance())
    assert await call.run() == "goodbye"
    assert call.line.hung_up


@pytest.mark.parametrize("broken", ["recognizer", "dialogue"])
async def test_engine_failure_apologises_and_hands_over(broken: str) -> None:
    def reply(turn: UserTurn) -> list[BotMessage]:
        if broken == "dialogue" and turn.text not in ("/greet", "/handoff"):
            raise DialogueError("Rasa is down")
        return dialogue_script(turn)

    call = Call(["我想办敬老卡"], reply=reply)
    call.recognizer.fail_on_accept = broken == "recognizer"
    call.line.feed(utterance())
    assert await call.run() == "handoff"
    failed = [e.code for e in call.events if isinstance(e, ev.PipelineFailed)]
    assert failed == ["stt-failed" if broken == "recognizer" else "dialogue-failed"]
    assert call.spoken("apology") == [(responses()["utter_voice_error"][0]["text"],)]
    assert call.sent()[-1] == "/handoff"  # staff see the handoff request


async def test_transcript_keeps_every_turn_with_audio_and_latency() -> None:
    call = Call(["我想办敬老卡"])
    call.line.feed(utterance(), Dtmf("3"), silence_frames(1100), Hangup())
    await call.run()
    assert call.transcripts.calls["call-1"] == {
        "caller": "13812345678",
        "line": "line",
        "ended": "caller-hangup",
    }
    turns = call.transcripts.turns["call-1"]
    assert [(t.recognized, t.keys) for t in turns] == [("", ""), ("我想办敬老卡", ""), ("", "3")]
    spoken = turns[1]
    assert spoken.caller_audio is not None and spoken.caller_audio.duration_s >= 0.6
    assert spoken.reply == ("您说的是：我想办敬老卡",)
    assert spoken.reply_audio is not None and spoken.reply_audio.duration_s > 0
    assert spoken.latency_ms is not None and spoken.latency_ms >= 0


async def test_caller_hanging_up_mid_sentence_keeps_what_they_said() -> None:
    call = Call(["我家门口的路灯"])
    call.line.feed(speech_frames(800), Hangup())
    assert await call.run() == "caller-hangup"
    last = call.transcripts.turns["call-1"][-1]
    assert last.recognized == "我家门口的路灯"
    assert last.caller_audio is not None and last.caller_audio.duration_s >= 0.8


async def test_a_spoken_turn_tells_the_dialogue_how_sure_the_recogniser_was() -> None:
    call = Call(["我想办敬老卡"])  # heard with confidence 0.9 (voice.fakes)
    call.line.feed(utterance(), Dtmf("3"), silence_frames(1100), Hangup())
    await call.run()
    said = {t.text: t.metadata for t in call.dialogue.turns}
    spoken, keyed = said["我想办敬老卡"], said["3"]
    assert spoken["confidence"] == 0.9  # staff review sees it beside the words
    assert "confidence" not in keyed  # a key pressed is not heard

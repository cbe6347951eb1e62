"""Voice notes on Telegram: the real python-telegram-bot client against the local Bot API
stand-in, the real decoding and encoding (PyAV), scripted speech engines and a recording
dialogue engine. Through the real recogniser: tests/e2e/test_telegram.py."""

from __future__ import annotations

import asyncio
import time

from liangwang.conversation import BotMessage
from liangwang.dialogue import RecordingEngine, UserTurn
from liangwang.speech import NoSpeech
from liangwang.wording import Say, render
from tests.fakes.telegram_api import FakeTelegram
from tests.unit.test_telegram import CHAT, USER, run_bot, text_update
from voice.audio import Audio
from voice.channel_speech import ChannelSpeech, SpeechEngines
from voice.fakes import RecordingSynthesizer, ScriptedRecognizer, tone
from voice.hints import RecognitionHints
from voice.recording_codec import decode_recording, encode_voice_note

NOTE = encode_voice_note(tone(1200, rate=16000))


def voice_update(file_id: str, size: int, seconds: int = 2) -> dict[str, object]:
    voice = {
        "file_id": file_id,
        "file_unique_id": file_id,
        "duration": seconds,
        "mime_type": "audio/ogg",
        "file_size": size,
    }
    message = {"message_id": 3, "date": int(time.time()), "chat": CHAT, "from": USER}
    return {"message": {**message, "voice": voice}}


def speech_hearing(*lines: str) -> tuple[ChannelSpeech, ScriptedRecognizer, RecordingSynthesizer]:
    recognizer, synthesizer = ScriptedRecognizer(list(lines)), RecordingSynthesizer()
    engines = SpeechEngines(recognizer, synthesizer, RecognitionHints())
    return ChannelSpeech(lambda: engines, lambda: True), recognizer, synthesizer


async def test_a_voice_note_is_heard_shown_and_answered_in_text_and_voice() -> None:
    fake = FakeTelegram(files={"vn1": NOTE})
    speech, recognizer, synthesizer = speech_hearing("敬老卡怎么办")
    engine = RecordingEngine(lambda turn: [BotMessage("办敬老卡要带身份证。")])
    heard, answer = await run_bot(fake, engine, [voice_update("vn1", len(NOTE))], 2, speech=speech)
    assert heard["text"] == render(Say("utter_channel_heard", {"text": "敬老卡怎么办"}))
    assert answer["text"] == "办敬老卡要带身份证。"
    [turn] = engine.turns
    assert turn.text == "敬老卡怎么办" and turn.metadata == {"input": "voice", "confidence": 0.9}
    assert recognizer.heard_bytes[0] > 16000 * 2  # the decoded note, about 1.2 s at 16 kHz
    [voice] = fake.voices()
    assert [t for t, _ in synthesizer.said] == ["办敬老卡要带身份证。"]
    assert decode_recording(voice["voice"], rate=16000, max_seconds=10).duration_s > 0
    assert "123:test" not in str(fake.downloads)  # the file path, never the token, is logged


async def test_voice_replies_follow_the_voice_command_and_text_stays_text() -> None:
    fake = FakeTelegram()
    speech, _recognizer, _synth = speech_hearing()
    engine = RecordingEngine(lambda turn: [BotMessage("您好！")])
    updates = [
        text_update("你好"),
        text_update("/voice"),
        text_update("你好"),
        text_update("/voice"),
    ]
    for update in updates[1:]:
        update["message"]["entities"] = (  # type: ignore[index]
            [{"type": "bot_command", "offset": 0, "length": 6}]
            if update["message"]["text"] == "/voice"  # type: ignore[index]
            else []
        )
    messages = await run_bot(fake, engine, updates, 4, speech=speech)
    texts = [m["text"] for m in messages]
    assert texts[1] == render(Say("utter_channel_voice_on"))
    assert texts[3] == render(Say("utter_channel_voice_off"))
    assert len(fake.voices()) == 1  # only the reply while voice was on


async def test_what_cannot_be_heard_is_said_plainly_and_nothing_reaches_the_dialogue() -> None:
    long_note = voice_update("vn2", 10_000, seconds=600)
    cases = [
        (speech_hearing("x")[0], voice_update("bad", 16), {"bad": b"not an ogg file"},
         "utter_channel_voice_unreadable"),
        (speech_hearing("")[0], voice_update("vn1", len(NOTE)), {"vn1": NOTE},
         "utter_channel_not_heard"),
        (NoSpeech(), voice_update("vn1", len(NOTE)), {"vn1": NOTE},
         "utter_channel_voice_unavailable"),
    ]  # fmt: skip
    for speech, update, files, told in cases:
        fake, engine = FakeTelegram(files=files), RecordingEngine()
        [said] = await run_bot(fake, engine, [update], 1, speech=speech)
        assert said["text"] == render(Say(told)) and engine.turns == []
    fake, engine = FakeTelegram(), RecordingEngine()
    [said] = await run_bot(fake, engine, [long_note], 1, speech=speech_hearing("x")[0])
    assert said["text"] == render(Say("utter_channel_voice_too_long", {"seconds": "120"}))
    assert fake.downloads == []  # refused on what Telegram said of it, never fetched


def test_the_voice_note_stand_in_really_is_audio() -> None:
    assert decode_recording(NOTE, rate=16000, max_seconds=10).rms() > Audio.silence(1).rms()


async def test_turns_keep_their_order_when_one_is_a_voice_note() -> None:
    fake = FakeTelegram(files={"vn1": NOTE})
    speech, _recognizer, _synth = speech_hearing("第二句")
    engine = RecordingEngine(lambda turn: [BotMessage(f"收到：{turn.text}")])
    updates = [text_update("第一句"), voice_update("vn1", len(NOTE)), text_update("第三句")]
    await run_bot(fake, engine, updates, 4, speech=speech)
    assert [t.text for t in engine.turns] == ["第一句", "第二句", "第三句"]
    assert engine.turns[0] == UserTurn("telegram-42", "第一句", "telegram")


async def test_each_reply_gets_its_own_voice_note_after_the_texts() -> None:
    fake = FakeTelegram(files={"vn1": NOTE})
    speech, _recognizer, synthesizer = speech_hearing("敬老卡怎么办")
    replies = [BotMessage("上海市敬老卡申领。"), BotMessage("要继续听吗？")]
    engine = RecordingEngine(lambda turn: replies)
    await run_bot(fake, engine, [voice_update("vn1", len(NOTE))], 3, speech=speech)
    for _ in range(100):
        if len(fake.voices()) == 2:
            break
        await asyncio.sleep(0.05)
    sent = [method for method, _ in fake.sent if method in ("sendMessage", "sendVoice")]
    assert sent == ["sendMessage"] * 3 + ["sendVoice"] * 2  # heard, two texts, two voices
    assert [t for t, _ in synthesizer.said] == ["上海市敬老卡申领。", "要继续听吗？"]

"""Speech for the text channels (voice/channel_speech.py): recordings decoded by PyAV and
bounded, heard with the hints of the question just asked, replies spoken as WAV and as an
OGG/Opus voice note."""

from __future__ import annotations

import io
import wave

import av
import pytest

from liangwang.conversation import BotMessage
from liangwang.speech import SpeechUnavailable, UnreadableRecording
from voice.audio import Audio
from voice.channel_speech import ChannelSpeech, SpeechEngines
from voice.errors import AudioFormatError, ModelMissing
from voice.fakes import RecordingSynthesizer, ScriptedRecognizer, tone
from voice.hints import YES_NO, RecognitionHints
from voice.ports import Transcript
from voice.recording_codec import decode_recording, encode_voice_note
from voice.speech_text import split_sentences


def speech_of(
    recognizer: ScriptedRecognizer, synthesizer: RecordingSynthesizer | None = None
) -> ChannelSpeech:
    engines = SpeechEngines(
        recognizer, synthesizer or RecordingSynthesizer(), RecognitionHints(vocabulary=("敬老卡",))
    )
    return ChannelSpeech(lambda: engines, lambda: True, max_seconds=10)


def test_a_voice_note_round_trips_through_ogg_opus() -> None:
    note = encode_voice_note(tone(1500, rate=16000, hz=440))
    with av.open(io.BytesIO(note)) as container:
        assert container.format.name == "ogg"
        assert container.streams.audio[0].codec_context.name == "opus"
    back = decode_recording(note, rate=16000, max_seconds=10)
    assert back.rate == 16000 and 1.4 < back.duration_s < 1.7
    assert back.rms() > 1000  # the tone is there, not silence


def test_a_recording_longer_than_the_limit_is_refused_while_decoding() -> None:
    note = encode_voice_note(Audio.silence(12, rate=16000))
    with pytest.raises(AudioFormatError, match="longer than 10 s"):
        decode_recording(note, rate=16000, max_seconds=10)


@pytest.mark.parametrize("garbage", [b"", b"not audio at all", b"OggS" + bytes(200)])
def test_what_is_not_audio_is_a_clear_error(garbage: bytes) -> None:
    with pytest.raises(AudioFormatError):
        decode_recording(garbage, rate=16000, max_seconds=10)


async def test_unreadable_recordings_and_missing_models_are_told_apart() -> None:
    with pytest.raises(UnreadableRecording):
        await speech_of(ScriptedRecognizer()).hear_recording("c", b"garbage")

    def missing() -> SpeechEngines:
        raise ModelMissing("no model", setting="LIANGWANG_WHISPER_MODEL", fix="make models")

    with pytest.raises(SpeechUnavailable, match="no model"):
        await ChannelSpeech(missing, lambda: False).hear_recording(
            "c", encode_voice_note(tone(500))
        )


async def test_the_next_recording_is_heard_with_the_hints_of_the_question_asked() -> None:
    recognizer = ScriptedRecognizer(["敬老卡怎么办", "对"])
    speech = speech_of(recognizer)
    note = encode_voice_note(tone(800, rate=16000))
    first = await speech.hear_recording("c", note)
    assert first.text == "敬老卡怎么办"
    # Nothing asked yet: an open request, heard with the catalog's vocabulary only.
    assert recognizer.hints_seen[0] == () and recognizer.vocabulary_seen[0] == ("敬老卡",)
    speech.asked("c", [BotMessage("是这个问题吗？", custom={"expect": "yes_no"})])
    assert (await speech.hear_recording("c", note)).text == "对"
    assert recognizer.hints_seen[1] == YES_NO
    assert recognizer.heard_bytes[0] > 16000  # the whole recording reached the recogniser


async def test_a_guess_below_the_confidence_floor_is_nothing_heard() -> None:
    speech = speech_of(ScriptedRecognizer([Transcript("对", 0.05)]))
    heard = await speech.hear_recording("c", encode_voice_note(tone(500, rate=16000)))
    assert not heard.anything


async def test_streamed_speech_stops_at_the_longest_turn() -> None:
    recognizer = ScriptedRecognizer(["路灯坏了"])
    listening = await speech_of(recognizer).listen("c", 16000)
    for _ in range(12):  # 12 s sent, 10 s kept
        listening.accept(Audio.silence(1, rate=16000).pcm)
    assert listening.full
    with pytest.raises(UnreadableRecording):
        listening.accept(b"\x00")  # half a sample
    assert (await listening.finish()).text == "路灯坏了"
    assert recognizer.heard_bytes == [10 * 16000 * 2]


async def test_replies_are_spoken_sentence_by_sentence_as_wav_and_voice_note() -> None:
    synthesizer = RecordingSynthesizer()
    speech = speech_of(ScriptedRecognizer(), synthesizer)
    replies = ["好的，您反映的路灯问题已经记下了。请问这是在上海的哪一个区呢？", "谢谢"]
    wav = await speech.speak_wav(replies)
    with wave.open(io.BytesIO(wav)) as read:
        assert read.getframerate() == 16000 and read.getnframes() > 0
    pieces = [*split_sentences(replies[0]), "谢谢"]
    assert len(pieces) == 3 and [text for text, _ in synthesizer.said] == pieces
    note = await speech.speak_voice_note(["谢谢"])
    assert decode_recording(note, rate=16000, max_seconds=10).duration_s > 0

"""webrtcvad on real audio, and the end-of-turn detector's exact frame arithmetic."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from voice.audio import Audio
from voice.errors import AudioFormatError
from voice.tts import EspeakSynthesizer
from voice.vad import EndOfTurnDetector, EndReason, TurnEvent, WebrtcVad

T, F = True, False


@pytest.fixture(scope="module")
def speech() -> Iterator[Audio]:
    with EspeakSynthesizer() as synth:
        yield synth.synthesize("您好，请问您要办理什么业务？")


def _speech_share(audio: Audio, rate: int) -> float:
    vad = WebrtcVad()
    frames = list(audio.resample(rate).frames())
    return sum(vad.is_speech(frame, rate) for frame in frames) / len(frames)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_silence_is_not_speech(rate: int) -> None:
    assert _speech_share(Audio.silence(2.0, rate), rate) == 0


@pytest.mark.parametrize("rate", [8000, 16000])
def test_espeak_speech_is_speech(speech: Audio, rate: int) -> None:
    assert _speech_share(speech, rate) > 0.5


def test_quiet_line_hiss_is_not_speech() -> None:
    rng = np.random.default_rng(7)
    hiss = (rng.normal(0, 30, 8000 * 2)).astype("<i2").tobytes()  # about -60 dBFS
    assert _speech_share(Audio(hiss, 8000), 8000) < 0.05


def test_vad_rejects_wrong_frames() -> None:
    vad = WebrtcVad()
    with pytest.raises(AudioFormatError):
        vad.is_speech(bytes(320), 22050)
    with pytest.raises(AudioFormatError):
        vad.is_speech(bytes(100), 8000)  # 20 ms at 8 kHz is 320 bytes
    with pytest.raises(ValueError):
        WebrtcVad(aggressiveness=4)


def _feed(detector: EndOfTurnDetector, flags: list[bool]) -> list[tuple[int, TurnEvent]]:
    """The (frame index, event) pairs of every frame that reported something."""
    events: list[tuple[int, TurnEvent]] = []
    for flag in flags:
        index = detector.frames
        event = detector.push(flag)
        if event is not TurnEvent.NONE:
            events.append((index, event))
    return events


def test_speech_starts_on_the_third_speech_frame_of_five() -> None:
    detector = EndOfTurnDetector()
    events = _feed(detector, [F, F, T, F, T, T])
    assert events == [(5, TurnEvent.SPEECH_STARTED)]
    assert detector.speech_start_frame == 2  # the audio to keep starts at the first T


def test_clicks_do_not_start_speech() -> None:
    detector = EndOfTurnDetector()
    # Two speech frames in any five never reach 3 of 5.
    assert _feed(detector, [T, T, F, F, F, T, F, F, F, T, T, F, F, F] * 20) == []
    assert not detector.speech_started
    assert not detector.turn_ended


def test_turn_ends_after_exactly_one_second_of_silence() -> None:
    detector = EndOfTurnDetector(end_silence_ms=1000)
    assert detector.end_silence_frames == 50
    events = _feed(detector, [T] * 5 + [F] * 60)
    # Last speech frame is 4; the 50th silent frame after it is frame 54.
    assert events == [(2, TurnEvent.SPEECH_STARTED), (54, TurnEvent.TURN_ENDED)]
    assert detector.end_reason is EndReason.SILENCE
    assert detector.frames == 55  # frames after the end are ignored until reset


def test_end_silence_is_configurable() -> None:
    detector = EndOfTurnDetector(end_silence_ms=600)
    events = _feed(detector, [T] * 5 + [F] * 40)
    assert events[-1] == (4 + 30, TurnEvent.TURN_ENDED)


def test_pauses_shorter_than_the_end_silence_do_not_end_the_turn() -> None:
    detector = EndOfTurnDetector(end_silence_ms=1000)
    flags = [T] * 10 + [F] * 49 + [T] * 10 + [F] * 49 + [T] * 10
    assert _feed(detector, flags) == [(2, TurnEvent.SPEECH_STARTED)]
    assert not detector.turn_ended


def test_speech_resuming_just_before_the_end_is_not_cut_off() -> None:
    detector = EndOfTurnDetector(end_silence_ms=1000)
    # Speech resumes on the 50th silent frame; it is confirmed two frames later.
    assert _feed(detector, [T] * 5 + [F] * 49 + [T] * 3) == [(2, TurnEvent.SPEECH_STARTED)]
    assert detector.last_speech_frame == 56


def test_dropouts_inside_speech_do_not_end_the_turn() -> None:
    detector = EndOfTurnDetector()
    flags = [T, T, T] + [T, F, T, T, F] * 100  # the VAD misses every few frames of speech
    assert _feed(detector, flags) == [(2, TurnEvent.SPEECH_STARTED)]


def test_noise_blips_in_the_closing_silence_neither_end_nor_prolong_the_turn() -> None:
    detector = EndOfTurnDetector(end_silence_ms=1000)
    silence_with_blips = [F] * 10 + [T] + [F] * 15 + [T, F, T] + [F] * 30
    events = _feed(detector, [T] * 5 + silence_with_blips)
    # The blips are not counted as speech: the turn still ends 50 frames after frame 4.
    assert events == [(2, TurnEvent.SPEECH_STARTED), (54, TurnEvent.TURN_ENDED)]


def test_speech_resuming_in_the_silence_restarts_the_count() -> None:
    detector = EndOfTurnDetector(end_silence_ms=1000)
    events = _feed(detector, [T] * 5 + [F] * 40 + [T] * 3 + [F] * 60)
    # The resumed speech is counted from its third frame (index 47).
    assert events == [(2, TurnEvent.SPEECH_STARTED), (47 + 50, TurnEvent.TURN_ENDED)]


def test_endless_noise_ends_the_turn_at_max_turn() -> None:
    detector = EndOfTurnDetector(max_turn_ms=30_000)
    events = _feed(detector, [F, F] + [T] * 2000)
    # Speech starts at frame 2; 1500 frames of turn end on frame 1501.
    assert events == [(4, TurnEvent.SPEECH_STARTED), (1501, TurnEvent.TURN_ENDED)]
    assert detector.end_reason is EndReason.MAX_TURN


def test_no_speech_never_ends_a_turn() -> None:
    detector = EndOfTurnDetector(max_turn_ms=1000)
    assert _feed(detector, [F] * 500) == []  # waiting for the caller is the call loop's job
    assert detector.silence_frames == 0


def test_reset_starts_a_fresh_turn() -> None:
    detector = EndOfTurnDetector(end_silence_ms=200)
    _feed(detector, [T] * 5 + [F] * 10)
    assert detector.turn_ended
    detector.reset()
    assert (detector.frames, detector.speech_started, detector.turn_ended) == (0, False, False)
    assert _feed(detector, [T] * 3 + [F] * 10) == [
        (2, TurnEvent.SPEECH_STARTED),
        (12, TurnEvent.TURN_ENDED),
    ]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        EndOfTurnDetector(start_frames=6, start_window=5)
    with pytest.raises(ValueError):
        EndOfTurnDetector(end_silence_ms=0)


def test_patience_can_change_within_a_turn_and_reset_restores_it() -> None:
    detector = EndOfTurnDetector(end_silence_ms=1000)
    _feed(detector, [T] * 5 + [F] * 10)
    assert detector.set_patience(2000) is TurnEvent.NONE
    assert _feed(detector, [F] * 100) == [(4 + 100, TurnEvent.TURN_ENDED)]
    detector.reset()
    assert detector.end_silence_frames == 50


def test_a_shorter_patience_ends_at_once_when_the_silence_is_already_that_long() -> None:
    detector = EndOfTurnDetector(end_silence_ms=1000)
    _feed(detector, [T] * 5 + [F] * 20)
    assert detector.set_patience(600) is TurnEvent.NONE  # 20 of 30 frames so far
    assert _feed(detector, [F] * 20) == [(4 + 30, TurnEvent.TURN_ENDED)]
    detector.reset()
    _feed(detector, [T] * 5 + [F] * 35)
    assert detector.set_patience(600) is TurnEvent.TURN_ENDED
    assert detector.end_reason is EndReason.SILENCE


def test_patience_before_speech_does_not_end_anything() -> None:
    detector = EndOfTurnDetector(end_silence_ms=1000)
    _feed(detector, [F] * 80)
    assert detector.set_patience(300) is TurnEvent.NONE
    assert not detector.turn_ended

"""The Kokoro voice: text preparation before the G2P, what reaches the model (pads, style
row, speed, pieces), the worker round trip, the choice between Kokoro and espeak with its
one line, cache keys, settings and the doctor, and one real synthesis that Whisper must
understand after a telephone line. Only that last test loads the model."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from liangwang.dialogue import RecordingEngine
from liangwang.settings import Settings, SettingsError, TtsEngine, TtsSpeaker, load_settings
from ops.doctor import check_voice
from tests.unit.speech_models import whisper_base_dir, whisper_recognizer
from voice.app import build_engines, build_synthesizer
from voice.audio import Audio
from voice.fakes import ScriptedRecognizer
from voice.model_check import check
from voice.model_specs import KOKORO_MODEL_FILE, KOKORO_ZH
from voice.tts import CachedSynthesizer, EspeakSynthesizer, VoiceSettings
from voice.tts.kokoro import (
    MAX_IDS,
    SAMPLE_RATE,
    KokoroSynthesizer,
    KokoroVoice,
    decode_request,
    encode_request,
    split_ids,
)

# A vocabulary for fake G2Ps that pass text through: every printable ASCII character.
ASCII_VOCAB = {chr(code): code for code in range(32, 127)}


class RecordingModel:
    """Stands in for the ONNX session: records its inputs, returns 10 ms of audio per id."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[int], float, float]] = []

    def __call__(self, tokens: np.ndarray, style: np.ndarray, speed: np.ndarray) -> np.ndarray:
        assert tokens.dtype == np.int64 and speed.dtype == np.float32 and style.shape == (1, 256)
        self.calls.append((tokens[0].tolist(), float(style[0, 0]), float(speed[0])))
        return np.full(tokens.shape[1] * SAMPLE_RATE // 100, 0.25, dtype=np.float32)


def numbered_styles(rows: int = 510) -> np.ndarray:
    """A style table whose row n is filled with n, so a test can see which row was used."""
    return np.repeat(np.arange(rows, dtype=np.float32), 256).reshape(rows, 1, 256)


def fake_voice(g2p: Callable[[str], str], model: RecordingModel) -> KokoroVoice:
    return KokoroVoice(g2p=g2p, vocab=ASCII_VOCAB, styles=numbered_styles(), run=model)


# --- text on its way to the model ----------------------------------------------------------


def test_digits_are_spelled_before_the_g2p() -> None:
    heard: list[str] = []

    def g2p(text: str) -> str:
        heard.append(text)
        return "ni hao"

    fake_voice(g2p, RecordingModel()).speak("请拨打13812345678，工单号20240501001。", 1.0)
    # A phone or ticket number reaches the G2P as Chinese digit words, never as a quantity.
    assert heard == ["请拨打幺三八幺二三四五六七八，工单号二零二四零五零幺零零幺。"]


def test_the_model_gets_pads_the_style_row_for_the_length_and_the_speed() -> None:
    model = RecordingModel()
    audio = fake_voice(lambda text: "ab c", model).speak("你好", 0.8)
    ids = [ASCII_VOCAB[c] for c in "ab c"]
    assert model.calls == [([0, *ids, 0], float(len(ids)), pytest.approx(0.8))]
    assert audio.rate == SAMPLE_RATE == 24000
    assert audio.duration_s == pytest.approx((len(ids) + 2) / 100)
    assert int(audio.samples()[0]) == round(0.25 * 32767)  # float audio became int16


def test_long_texts_are_cut_at_punctuation_within_the_model_limit() -> None:
    clause = "x" * 200 + ","
    phonemes = clause * 6  # 1206 ids: three pieces of two clauses each
    pieces = split_ids(phonemes, ASCII_VOCAB, MAX_IDS)
    assert [len(p) for p in pieces] == [402, 402, 402]
    assert all(p[-1] == ASCII_VOCAB[","] for p in pieces)  # each piece ends a clause
    # A clause longer than the limit is cut at a word break, else hard.
    words = split_ids("abc def ghi", ASCII_VOCAB, 6)
    assert ["".join(chr(v) for v in p) for p in words] == ["abc", " def", " ghi"]
    assert [len(p) for p in split_ids("y" * 13, ASCII_VOCAB, 5)] == [5, 5, 3]
    # Symbols outside the vocabulary (misaki's mark for an unknown character) are dropped.
    assert split_ids("a\u2753b", ASCII_VOCAB, 10) == [[ord("a"), ord("b")]]

    model = RecordingModel()
    audio = fake_voice(lambda text: phonemes, model).speak("很长的一段话", 1.0)
    assert [len(tokens) - 2 for tokens, _, _ in model.calls] == [402, 402, 402]
    assert all(style == 402 for _, style, _ in model.calls)  # the row for each piece's length
    assert audio.duration_s == pytest.approx(3 * 404 / 100)


def test_the_style_table_bounds_a_piece() -> None:
    # The row is picked by length, so a table of 510 rows allows pieces of 509 ids.
    voice = fake_voice(lambda text: "z" * 600, RecordingModel())
    assert voice.limit == 509
    assert [len(p) for p in voice.pieces("长")] == [509, 91]
    with pytest.raises(ValueError, match="style table"):
        KokoroVoice(g2p=str, vocab={}, styles=np.zeros((510, 256)), run=RecordingModel())


def test_requests_to_the_worker_carry_the_speed() -> None:
    assert decode_request(encode_request("请稍等。", 0.8)) == ("请稍等。", 0.8)


# --- through the worker process, with a fake model -------------------------------------------
# Module level so that the spawned worker can import it by name.


def speed_as_length_backend(_label: VoiceSettings, _workdir: Path) -> Callable[[str], bytes]:
    """The real request decoding and ``KokoroVoice``; the model answers with as many seconds
    of audio as the speed it was given, so the parent can read the speed off the length."""

    def model(tokens: np.ndarray, style: np.ndarray, speed: np.ndarray) -> np.ndarray:
        return np.full(round(SAMPLE_RATE * float(speed[0])), 0.5, dtype=np.float32)

    voice = KokoroVoice(
        g2p=lambda text: "a", vocab=ASCII_VOCAB, styles=numbered_styles(), run=model
    )

    def speak(request: str) -> bytes:
        text, speed = decode_request(request)
        return voice.speak(text, speed).to_wav()

    return speak


def test_slow_speech_passes_the_slow_speed_to_the_model(tmp_path: Path) -> None:
    with KokoroSynthesizer(tmp_path, slow_speed=0.7, backend=speed_as_length_backend) as synth:
        assert synth.synthesize("您好").duration_s == pytest.approx(1.0)
        assert synth.synthesize("您好", slow=True).duration_s == pytest.approx(0.7)
        assert synth.synthesize(" 。").pcm == b""  # nothing to say never reaches the worker
        assert synth.worker_starts == 1  # one worker serves both speeds


# --- choosing the voice ----------------------------------------------------------------------


def _installed_looking_voice(folder: Path) -> Path:
    """Every file at its recorded size (sparse zeros): passes the quick check, cannot load."""
    for item in KOKORO_ZH.files:
        (folder / item.path).parent.mkdir(parents=True, exist_ok=True)
        with (folder / item.path).open("wb") as f:
            f.truncate(item.size)
    return folder


@pytest.mark.parametrize("engine", [TtsEngine.auto, TtsEngine.kokoro])
def test_a_missing_voice_falls_back_to_espeak_with_one_line(
    tmp_path: Path, engine: TtsEngine
) -> None:
    synth, note = build_synthesizer(Settings(tts_engine=engine, kokoro_model=tmp_path / "no-voice"))
    assert isinstance(synth, CachedSynthesizer)
    assert isinstance(synth.inner, EspeakSynthesizer)
    assert note is not None and "\n" not in note
    assert f"LIANGWANG_TTS_ENGINE={engine.value}" in note
    assert str(tmp_path / "no-voice") in note and "not installed" in note
    assert "liangwang models fetch kokoro-zh" in note


def test_a_voice_that_does_not_load_falls_back_too(tmp_path: Path) -> None:
    folder = _installed_looking_voice(tmp_path / "voice")
    started = time.monotonic()
    synth, note = build_synthesizer(Settings(kokoro_model=folder))
    assert isinstance(synth.inner, EspeakSynthesizer)
    assert note is not None and "does not load" in note and "kokoro-zh" in note
    assert time.monotonic() - started < 30


def test_the_phone_line_prints_the_fallback_once_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(kokoro_model=tmp_path / "no-voice")
    engines = build_engines(settings, dialogue=RecordingEngine(), recognizer=ScriptedRecognizer())
    try:
        printed = capsys.readouterr().out.splitlines()
        notes = [line for line in printed if "liangwang models fetch kokoro-zh" in line]
        assert len(notes) == 1 and "speaking with espeak" in notes[0]
        assert isinstance(engines.synthesizer, CachedSynthesizer)
        assert isinstance(engines.synthesizer.inner, EspeakSynthesizer)
    finally:
        if isinstance(engines.synthesizer, CachedSynthesizer):
            close = getattr(engines.synthesizer.inner, "close", None)
            if callable(close):
                close()


def test_espeak_by_choice_says_nothing(tmp_path: Path) -> None:
    synth, note = build_synthesizer(Settings(tts_engine=TtsEngine.espeak))
    assert isinstance(synth.inner, EspeakSynthesizer) and note is None


def test_cache_keys_differ_by_engine_speaker_and_speed(tmp_path: Path) -> None:
    def key(inner: EspeakSynthesizer | KokoroSynthesizer) -> str:
        return CachedSynthesizer(inner, tmp_path).key("您好")

    xiaoxiao = KokoroSynthesizer(tmp_path)  # no worker starts until it is asked to speak
    keys = {
        key(EspeakSynthesizer()),
        key(xiaoxiao),
        key(KokoroSynthesizer(tmp_path, speaker=TtsSpeaker.zm_yunxi.value)),
        key(KokoroSynthesizer(tmp_path, slow_speed=0.7)),
    }
    assert len(keys) == 4
    assert key(xiaoxiao) == key(KokoroSynthesizer(tmp_path))
    assert CachedSynthesizer(xiaoxiao, tmp_path).key("您好", slow=True) != key(xiaoxiao)
    model_sha = next(f.sha256 for f in KOKORO_ZH.files if f.path == KOKORO_MODEL_FILE)
    assert "kokoro" in xiaoxiao.identity and model_sha in xiaoxiao.identity
    assert "zf_xiaoxiao" in xiaoxiao.identity and xiaoxiao.worker_starts == 0


# --- settings and the doctor -------------------------------------------------------------------


def test_voice_settings_defaults_and_invalid_values(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.tts_engine, settings.tts_speaker) == (TtsEngine.auto, TtsSpeaker.zf_xiaoxiao)
    assert settings.tts_slow_speed == 0.8
    assert settings.kokoro_model.name == KOKORO_ZH.dirname
    assert len(TtsSpeaker) == 8
    for variable, value in (
        ("LIANGWANG_TTS_SPEAKER", "af_heart"),
        ("LIANGWANG_TTS_ENGINE", "festival"),
        ("LIANGWANG_TTS_SLOW_SPEED", "1.5"),
    ):
        with monkeypatch.context() as env:
            env.setenv(variable, value)
            with pytest.raises(SettingsError) as err:
                load_settings()
            assert variable in str(err.value)


def test_the_doctor_reports_the_voice(tmp_path: Path) -> None:
    missing = check_voice(Settings(kokoro_model=tmp_path / "no-voice"))
    assert not missing.ok and missing.fix == "liangwang models fetch kokoro-zh"
    assert "espeak" in missing.en and "LIANGWANG_KOKORO_MODEL" in missing.en
    assert check_voice(Settings(tts_engine=TtsEngine.espeak)).ok
    assert check_voice(Settings(phone_enabled=False)).ok
    installed = check_voice(Settings(kokoro_model=_installed_looking_voice(tmp_path / "v")))
    assert installed.ok and "zf_xiaoxiao" in installed.en


# --- the real voice ----------------------------------------------------------------------------

# Whisper base is the judge, and it is brittle on very short sentences over 8 kHz μ-law
# ("请带好身份证原件。" alone comes back as 行大好身份正元见 though every syllable is right at
# 16 kHz), so the sentence is a whole instruction: at speeds 0.95-1.05 its error rate stays
# between 0.14 and 0.19 here.
SENTENCE = "请带好身份证和户口本，到社区事务受理中心办理。"


def character_error_rate(reference: str, hypothesis: str) -> float:
    ref = [c for c in reference if c.isalnum()]
    hyp = [c for c in hypothesis if c.isalnum()]
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1] / len(ref)


def test_character_error_rate() -> None:
    assert character_error_rate("请带好身份证。", "请带好身份证") == 0
    assert character_error_rate("一二三四", "一二五四六") == 0.5


def test_kokoro_speaks_mandarin_whisper_understands_over_the_phone(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The one slow test: the installed model in its worker (a few seconds to start), then
    Whisper base on what a caller would hear."""
    model_dir = Settings().kokoro_model
    found = check(KOKORO_ZH, model_dir, deep=False)
    if found.problem is not None:
        pytest.fail(f"the Kokoro voice is not installed ({found.problem}): run {found.fix}")
    with KokoroSynthesizer(model_dir) as synth:
        audio = synth.synthesize(SENTENCE)
    assert audio.rate == 24000
    assert audio.rms() > 500
    syllables = 21
    assert 0.15 * syllables < audio.duration_s < 0.5 * syllables

    recognizer = whisper_recognizer(
        whisper_base_dir(tmp_path_factory.getbasetemp() / "speech-models")
    )
    line = audio.over_telephone()
    stream = recognizer.start(line.rate)
    for frame in line.frames():
        stream.accept(frame)
    heard = stream.finish().text
    assert character_error_rate(SENTENCE, heard) <= 0.35, heard
    assert isinstance(line, Audio) and line.rate == 8000

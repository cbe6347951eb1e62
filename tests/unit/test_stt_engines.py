"""Speech-to-text adapters with real models.

Vosk runs the Korean model from PyPI (no Mandarin Vosk model is installable here): it proves
streaming, endpoints inside a stream, 8 and 16 kHz, silence, phrase hints and the shared
model. Whisper base, joined from its PyPI parts once per session, must hear the natural
Mandarin fixtures at 16 kHz and after the telephone's 8 kHz μ-law; tests assert that the
words that matter appear, not exact sentences.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from liangwang.catalog.loader import load
from liangwang.catalog.store import SAMPLE_CATALOG
from tests.unit.speech_models import (
    KOREAN,
    MANDARIN,
    telephone,
    vosk_ko_recognizer,
    whisper_base_dir,
    whisper_recognizer,
)
from voice.audio import Audio
from voice.errors import AudioFormatError, ModelMissing
from voice.hints import YES_NO, RecognitionHints, request_vocabulary
from voice.ports import SpeechRecognizer, Transcript
from voice.session import CallConfig
from voice.stt_vosk import VoskRecognizer, join_words, to_model_words, transcript_of
from voice.stt_whisper import (
    FULL_WINDOW_FRAMES,
    SHORT_WINDOW_FRAMES,
    TOKEN_ALLOWANCE,
    TOKENS_PER_SECOND,
    WhisperRecognizer,
    confidence_of,
    encoder_window,
    to_simplified,
    trim_window,
)

HANGUL = re.compile(r"[\uac00-\ud7a3]")
KOREAN_ANSWERS = ["안녕하세요", "감사합니다", "서울 시청", "부산", "아니요", "네"]


def recognize(
    recognizer: SpeechRecognizer,
    audio: Audio,
    hints: Sequence[str] = (),
    vocabulary: Sequence[str] = (),
) -> Transcript:
    """Feed 20 ms frames as the call loop does, then finish."""
    stream = recognizer.start(audio.rate, hints, vocabulary)
    for frame in audio.frames():
        stream.accept(frame)
    return stream.finish()


def korean(name: str) -> Audio:
    return Audio.from_wav(KOREAN / f"{name}.wav")


@pytest.fixture(scope="session")
def vosk() -> VoskRecognizer:
    return vosk_ko_recognizer()


# --- Vosk --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("annyeonghaseyo", "안녕하세요"),
        ("gamsahamnida", "감사합니다"),
        ("seoul_sicheong", "서울 시청"),
        ("busan", "부산"),
        ("aniyo", "아니요"),
        ("ne", "네"),
    ],
)
def test_vosk_hints_pick_the_expected_answer_at_16k(
    vosk: VoskRecognizer, name: str, text: str
) -> None:
    result = recognize(vosk, korean(name), KOREAN_ANSWERS)
    assert result.text == text  # Korean keeps its spaces between words
    assert 0.5 < result.confidence <= 1.0


@pytest.mark.parametrize(("name", "text"), [("aniyo", "아니요"), ("ne", "네")])
def test_vosk_hints_work_on_telephone_audio(vosk: VoskRecognizer, name: str, text: str) -> None:
    result = recognize(vosk, telephone(korean(name)), KOREAN_ANSWERS)
    assert result.text == text


@pytest.mark.parametrize("rate", [8000, 16000])
def test_vosk_open_vocabulary_hears_speech_at_both_rates(vosk: VoskRecognizer, rate: int) -> None:
    # The robotic clips are heard only roughly without a grammar (and Vosk's rough guesses
    # vary a little from run to run); what matters here is that every clip yields words
    # with word confidences at either rate.
    for name in ("annyeonghaseyo", "gamsahamnida", "seoul_sicheong"):
        audio = korean(name)
        result = recognize(vosk, telephone(audio) if rate == 8000 else audio)
        assert result.text.strip(), name
        assert "[unk]" not in result.text
        assert 0.0 < result.confidence <= 1.0


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("hints", [(), tuple(KOREAN_ANSWERS)])
def test_vosk_silence_is_empty(vosk: VoskRecognizer, rate: int, hints: tuple[str, ...]) -> None:
    assert recognize(vosk, Audio.silence(2.0, rate), hints) == Transcript("", 0.0)


def test_vosk_stream_keeps_words_from_before_an_endpoint(vosk: VoskRecognizer) -> None:
    # Two answers with a pause between them: Kaldi ends a segment in the pause, and the
    # first segment's words must survive into the final transcript.
    audio = korean("ne") + Audio.silence(1.5, 16000) + korean("aniyo")
    assert recognize(vosk, audio, KOREAN_ANSWERS).text == "네 아니요"


def test_vosk_chunk_size_does_not_matter(vosk: VoskRecognizer) -> None:
    audio = korean("seoul_sicheong")
    stream = vosk.start(16000, KOREAN_ANSWERS)
    stream.accept(audio.pcm)  # the whole utterance at once
    assert stream.finish().text == recognize(vosk, audio, KOREAN_ANSWERS).text == "서울 시청"


def test_vosk_streams_in_parallel_share_one_model(vosk: VoskRecognizer) -> None:
    assert VoskRecognizer(vosk.model_path).load() is vosk.load()
    names = ["annyeonghaseyo", "gamsahamnida", "busan", "aniyo"] * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = list(pool.map(lambda n: recognize(vosk, korean(n), KOREAN_ANSWERS).text, names))
    assert texts == ["안녕하세요", "감사합니다", "부산", "아니요"] * 2


def test_vosk_hints_become_model_words(vosk: VoskRecognizer) -> None:
    # Unknown words are dropped; nothing known left means no grammar at all (an empty
    # grammar would recognise nothing).
    assert vosk.grammar(["부산", "xyzzy", "서울 시청", "부산"]) == ["부산", "서울 시청"]
    assert vosk.grammar(["xyzzy"]) is None
    assert HANGUL.search(recognize(vosk, korean("busan"), ["xyzzy"]).text)


def test_vosk_ignores_a_vocabulary_sized_hint_list(vosk: VoskRecognizer) -> None:
    catalog = ["부산", "네"] * 40  # 80 phrases: a vocabulary, not the expected answers
    assert vosk.grammar(catalog) is None
    assert vosk.grammar(catalog[:64]) == ["부산", "네"]


def test_vosk_escape_phrases_are_always_in_the_grammar() -> None:
    recognizer = VoskRecognizer(vosk_ko_recognizer().model_path, escape_phrases=["감사합니다"])
    assert recognizer.grammar(["네"]) == ["네", "감사합니다"]
    assert recognize(recognizer, korean("gamsahamnida"), ["네", "아니요"]).text == "감사합니다"


def test_chinese_hints_are_split_into_vocabulary_words() -> None:
    vocabulary = {"敬老", "卡", "我", "要", "投诉", "转", "人工", "静安区"}

    def known(word: str) -> bool:
        return word in vocabulary

    assert to_model_words("敬老卡", known) == "敬老 卡"
    assert to_model_words("我要投诉", known) == "我 要 投诉"
    assert to_model_words("转人工", known) == "转 人工"
    assert to_model_words("静安区", known) == "静安区"
    assert to_model_words("敬老院", known) is None  # 院 is not a word of this model
    assert to_model_words("hello", known) is None


def test_words_become_text_without_spaces_between_chinese_characters() -> None:
    assert join_words(["我", "要", "投诉"]) == "我要投诉"
    assert join_words(["서울", "시청"]) == "서울 시청"
    assert join_words(["打", "12345", "号"]) == "打 12345 号"
    words = [
        {"word": "敬老", "conf": 1.0},
        {"word": "[unk]", "conf": 0.2},
        {"word": "卡", "conf": 0.5},
    ]
    assert transcript_of(words) == Transcript("敬老卡", 0.75)
    assert transcript_of([{"word": "[unk]", "conf": 1.0}]) == Transcript("", 0.0)


class _SaysSomethingElse:
    """A grammar recogniser that heard only ``[unk]``, as the Mandarin model does when the
    caller's answer is not on the list (the Korean model has no ``[unk]`` word)."""

    def AcceptWaveform(self, _pcm: bytes) -> bool:
        return False

    def FinalResult(self) -> str:
        return json.dumps({"result": [{"word": "[unk]", "conf": 1.0}], "text": "[unk]"})


def test_vosk_answer_outside_the_hints_is_heard_openly(
    vosk: VoskRecognizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = korean("annyeonghaseyo")
    stream: Any = vosk.start(16000, ["부산"])
    monkeypatch.setattr(stream, "_recognizer", _SaysSomethingElse())
    for frame in audio.frames():
        stream.accept(frame)
    result = stream.finish()
    # Decoded again without the grammar: the open model's words ("아이유 영파 하세요"),
    # neither "[unk]" nor the only hint.
    assert "하세요" in result.text
    assert result.text != "부산"
    assert "[unk]" not in result.text


def test_vosk_rejects_other_rates_and_odd_pcm(vosk: VoskRecognizer) -> None:
    with pytest.raises(AudioFormatError):
        vosk.start(22050)
    stream = vosk.start(8000)
    with pytest.raises(AudioFormatError):
        stream.accept(b"\x00\x01\x02")


def test_vosk_missing_model_names_setting_and_fix(tmp_path: Path) -> None:
    (tmp_path / "half" / "am").mkdir(parents=True)
    (tmp_path / "half" / "am" / "final.mdl").write_bytes(b"")
    for path in (tmp_path / "absent", tmp_path / "half"):
        with pytest.raises(ModelMissing) as caught:
            VoskRecognizer(path).start(8000)
        assert caught.value.setting == "LIANGWANG_VOSK_MODEL"
        assert "liangwang models fetch vosk-cn" in str(caught.value)


def test_vosk_corrupt_model_is_model_missing(tmp_path: Path) -> None:
    for name in ("am/final.mdl", "conf/model.conf"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("not a model")
    with pytest.raises(ModelMissing, match="could not be loaded"):
        VoskRecognizer(tmp_path).load()


# --- Whisper -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> WhisperRecognizer:
    return whisper_recognizer(whisper_base_dir(tmp_path_factory.getbasetemp() / "speech-models"))


def mandarin(fixture_id: str) -> Audio:
    manifest = yaml.safe_load((MANDARIN / "manifest.yml").read_text(encoding="utf-8"))
    return Audio.from_wav(MANDARIN / manifest[fixture_id]["file"])


# fixture id -> (hints the dialogue would give, words that must be heard)
MANDARIN_CASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tousu": ((), ("投诉",)),
    "shebaoka_bu": ((), ("社保卡",)),
    "cailiao": ((), ("材料",)),
    "zaishuo": ((), ("再说一遍",)),
    "long_shebao": ((), ("社保卡", "菜市场")),
    "long_ludeng": ((), ("好几天", "老人")),
    # Names Whisper base mishears on its own (静老卡, 路都, 近安区) come right as hints.
    "jinglaoka": (("敬老卡",), ("敬老卡",)),
    "ludeng": (("路灯",), ("路灯",)),
    "jingan": (("静安区",), ("静安区",)),
    "zhuanrengong": (("转人工",), ("转人工",)),
    "long_address": (("静安区", "路灯"), ("静安区", "路灯")),
    "budui": (("是的", "不对"), ("不对",)),
}


@pytest.mark.parametrize("line", ["16k", "8k-ulaw"])
@pytest.mark.parametrize("fixture_id", sorted(MANDARIN_CASES))
def test_whisper_hears_mandarin(whisper: WhisperRecognizer, fixture_id: str, line: str) -> None:
    hints, words = MANDARIN_CASES[fixture_id]
    audio = mandarin(fixture_id)
    if line == "8k-ulaw":
        audio = telephone(audio)
    result = recognize(whisper, audio, hints)
    for word in words:
        assert word in result.text, f"{word} not in {result.text!r} ({line})"
    assert to_simplified(result.text) == result.text  # simplified characters only
    assert 0.0 < result.confidence <= 1.0


@pytest.mark.parametrize("rate", [8000, 16000])
def test_whisper_silence_and_line_noise_are_empty(whisper: WhisperRecognizer, rate: int) -> None:
    assert recognize(whisper, Audio.silence(1.5, rate)) == Transcript("", 0.0)
    hiss = np.random.default_rng(7).normal(0, 60, int(1.5 * rate)).astype("<i2")
    assert recognize(whisper, Audio(hiss.tobytes(), rate)) == Transcript("", 0.0)


def test_whisper_model_is_loaded_once(whisper: WhisperRecognizer) -> None:
    assert WhisperRecognizer(whisper.model_dir).load() is whisper.load()


def test_whisper_rejects_other_rates(whisper: WhisperRecognizer) -> None:
    with pytest.raises(AudioFormatError):
        whisper.start(44100)


def test_whisper_missing_model_names_setting_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing) as caught:
        WhisperRecognizer(tmp_path / "whisper-base").start(16000)
    assert caught.value.setting == "LIANGWANG_WHISPER_MODEL"
    assert caught.value.fix == "liangwang models fetch whisper-base"


def test_whisper_corrupt_model_is_model_missing(tmp_path: Path) -> None:
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (tmp_path / name).write_text("{}")
    with pytest.raises(ModelMissing, match="could not be loaded"):
        WhisperRecognizer(tmp_path).load()


def test_traditional_characters_become_simplified() -> None:
    assert to_simplified("社保卡丟了怎麼補辦") == "社保卡丢了怎么补办"
    assert to_simplified("轉人工，謝謝再見") == "转人工，谢谢再见"
    assert to_simplified("我想办敬老卡") == "我想办敬老卡"


def test_whisper_confidence_combines_token_probability_and_speech_probability() -> None:
    assert confidence_of([]) == 0.0
    assert confidence_of([("我要投诉", 0.0, 0.0)]) == 1.0
    assert confidence_of([("我要投诉", 0.0, 1.0)]) == 0.0
    # Weighted by length: the long confident segment dominates.
    mixed = confidence_of([("我要投诉路灯坏了", 0.0, 0.0), ("嗯", -5.0, 0.5)])
    assert 0.85 < mixed < 0.9


class _CharTokenizer:
    """One token per character, like Whisper's for common Chinese characters."""

    def encode(self, text: str, add_special_tokens: bool = True) -> Any:
        return type("Encoding", (), {"ids": list(range(len(text)))})()


class _RecordingModel:
    """Stands in for the loaded model to show what Whisper is asked (the real model is
    exercised above); answers in traditional characters, as Whisper often does, with the
    given average log-probabilities in turn (the last one from then on)."""

    hf_tokenizer = _CharTokenizer()
    max_length = 448  # Whisper's decoder context

    def __init__(self, logprobs: Sequence[float] = (-0.1,)) -> None:
        self.calls: list[dict[str, Any]] = []
        self.logprobs = list(logprobs)

    def transcribe(self, samples: np.ndarray, **options: Any) -> tuple[list[Any], None]:
        self.calls.append({"samples": samples, "window": encoder_window(), **options})
        logprob = self.logprobs.pop(0) if len(self.logprobs) > 1 else self.logprobs[0]
        segment = type("Segment", (), {"text": " 我要轉人工", "avg_logprob": logprob})()
        segment.no_speech_prob = 0.0
        return [segment], None


def test_whisper_options_hints_and_script(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _RecordingModel()
    recognizer = WhisperRecognizer(Path("unused"), beam_size=2)
    monkeypatch.setattr(recognizer, "load", lambda: model)
    districts = ["黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区"]
    result = recognizer.transcribe(telephone(mandarin("tousu")), [*districts, " ", "徐汇区"])
    assert result.text == "我要转人工"  # traditional characters converted
    call = model.calls[0]
    assert call["samples"].dtype == np.float32 and len(call["samples"]) > 16000  # 16 kHz
    assert (call["language"], call["beam_size"], call["temperature"]) == ("zh", 2, 0.0)
    assert call["vad_filter"] is False and call["condition_on_previous_text"] is False
    assert call["hotwords"].split() == districts
    assert call["initial_prompt"] == "以下是普通话的句子，关于" + "、".join(districts) + "。"
    recognizer.transcribe(mandarin("tousu"))
    assert model.calls[1]["hotwords"] is None
    assert model.calls[1]["initial_prompt"] == "以下是普通话的句子。"
    # A whole catalog of phrases is not a list of expected answers: ignored, not truncated.
    recognizer.transcribe(mandarin("tousu"), [f"事项{i}" for i in range(100)])
    assert model.calls[2]["hotwords"] is None
    assert model.calls[2]["initial_prompt"] == "以下是普通话的句子。"


def test_a_short_turn_is_encoded_in_the_short_window_and_the_answer_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _RecordingModel()
    recognizer = WhisperRecognizer(Path("unused"))
    monkeypatch.setattr(recognizer, "load", lambda: model)
    audio = telephone(mandarin("tousu"))
    recognizer.transcribe(audio)
    assert [c["window"] for c in model.calls] == [SHORT_WINDOW_FRAMES]
    want = TOKEN_ALLOWANCE + int(np.ceil(audio.duration_s * TOKENS_PER_SECOND))
    assert model.calls[0]["max_new_tokens"] == want
    # A long list of hints leaves less room: prompt and answer share 448 tokens.
    long_turn = Audio.silence(25.0, 8000) + audio
    recognizer.transcribe(long_turn, [f"地名{i}号" for i in range(15)])
    prompt, hotwords = model.calls[1]["initial_prompt"], model.calls[1]["hotwords"]
    prompt_tokens = 5 + len(" " + prompt) + len(" " + hotwords)  # one token per character
    assert model.calls[1]["max_new_tokens"] == 448 - prompt_tokens - 1


def test_an_unsure_short_window_answer_is_decoded_again_in_the_full_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = _RecordingModel([-1.3, -0.2])
    recognizer = WhisperRecognizer(Path("unused"))
    monkeypatch.setattr(recognizer, "load", lambda: model)
    assert recognizer.transcribe(mandarin("tousu")).text == "我要转人工"
    assert [c["window"] for c in model.calls] == [SHORT_WINDOW_FRAMES, None]
    # Without a short window there is one decode, in the full window.
    model.calls.clear()
    full = WhisperRecognizer(Path("unused"), short_window=None)
    monkeypatch.setattr(full, "load", lambda: model)
    full.transcribe(mandarin("tousu"))
    assert [c["window"] for c in model.calls] == [None]


def test_trim_window_keeps_the_audio_and_a_margin_and_never_widens() -> None:
    features = np.zeros((80, FULL_WINDOW_FRAMES), dtype=np.float32)
    features[:, :420] = 0.5
    assert trim_window(features, 1500).shape == (80, 1500)
    assert trim_window(features, 300).shape == (80, 520)  # 420 heard + 100 margin
    assert trim_window(features[None], 300).shape == (1, 80, 520)
    features[3, 2950] = -0.1  # audio to the very end: the whole window stays
    assert trim_window(features, 300).shape == (80, FULL_WINDOW_FRAMES)
    assert trim_window(np.zeros((80, 3000)), 1500).shape == (80, 1500)


def test_whisper_short_window_hears_the_cases_mostly_without_falling_back(
    whisper: WhisperRecognizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The short window must actually carry the turns (test_whisper_hears_mandarin checks
    the words): a fallback on every turn would be slower than the full window alone."""
    windows: list[int | None] = []
    decode = WhisperRecognizer._decode

    def spy(self: WhisperRecognizer, *args: Any) -> Any:
        windows.append(args[-1])
        return decode(self, *args)

    monkeypatch.setattr(WhisperRecognizer, "_decode", spy)
    for fixture_id, (hints, _) in MANDARIN_CASES.items():
        recognize(whisper, telephone(mandarin(fixture_id)), hints)
    short = windows.count(SHORT_WINDOW_FRAMES)
    assert short == len(MANDARIN_CASES)  # every turn tried the short window first
    assert windows.count(None) <= 2, windows


def test_whisper_repeating_itself_stops_within_the_turn(whisper: WhisperRecognizer) -> None:
    """Whisper base answers 对对对 with 对 until its 448 tokens run out (seconds of
    decoding); the answer is bounded by what the turn could hold."""
    audio = telephone(mandarin("duiduidui"))
    text = recognize(whisper, audio).text
    assert text.startswith("对对对")
    assert len(text) <= TOKEN_ALLOWANCE + audio.duration_s * TOKENS_PER_SECOND


def test_an_open_request_hears_the_vocabulary_in_its_prompt_and_never_in_noise(
    whisper: WhisperRecognizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog's names are context for an open request, never hotwords: hiss heard
    with them is not a service or category name at a confidence the call loop takes."""
    vocabulary = request_vocabulary(
        load(SAMPLE_CATALOG.read_text(encoding="utf-8"), "yaml").services
    )
    floor = CallConfig().min_confidence
    for seed in (3, 4, 5):
        hiss = np.random.default_rng(seed).normal(0, 120, 2 * 8000).astype("<i2")
        stream = whisper.start(8000, (), vocabulary)
        stream.accept(hiss.tobytes())
        heard = stream.finish()
        assert heard.confidence < floor or not any(w in heard.text for w in vocabulary), heard
    decodes: list[tuple[str, str]] = []
    real = whisper._decode
    monkeypatch.setattr(
        whisper,
        "_decode",
        lambda samples, prompt, hotwords, budget, window: (
            decodes.append((prompt, hotwords)) or real(samples, prompt, hotwords, budget, window)
        ),
    )
    recognize(whisper, telephone(mandarin("dui")), (), vocabulary)
    prompt, hotwords = decodes[0]
    assert "长护险" in prompt and hotwords == ""


@pytest.mark.parametrize("rate", [8000, 16000])
def test_line_noise_under_hints_is_a_guess_below_the_call_loops_floor(
    whisper: WhisperRecognizer, rate: int
) -> None:
    """With hints in the prompt, Whisper base turns hiss into the hints themselves (对 错了…);
    only their confidence tells them from real answers. The call loop asks again below
    ``CallConfig.min_confidence``: real short answers must stay above it, noise below."""
    floor = CallConfig().min_confidence
    hints = RecognitionHints()
    for seed in (7, 8):
        hiss = np.random.default_rng(seed).normal(0, 60, int(1.5 * rate)).astype("<i2")
        for expect in ("yes_no", "district", "complaint"):
            guess = recognize(whisper, Audio(hiss.tobytes(), rate), hints.for_turn(expect))
            assert guess.confidence < floor, (expect, guess)
    for fixture_id in ("dui", "shi", "budui", "buduibudui", "duiduidui"):
        audio = mandarin(fixture_id)
        heard = recognize(whisper, telephone(audio) if rate == 8000 else audio, YES_NO)
        assert heard.confidence >= floor, (fixture_id, heard)

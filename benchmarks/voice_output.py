"""Voice output: can a caller understand what the assistant says over a phone line?

Measured without listeners: each reply is spoken by an engine, passed through an 8 kHz
G.711 μ-law line, transcribed by Whisper base without hints, and compared with what was
meant to be said (character error rate; figures count as the characters said). Also each
engine's real-time factor, start-up time and memory. The replies are responses of
bot/domain.yml with their slots filled as a real conversation fills them.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.cer import character_error_rate
from benchmarks.machine import children_mib
from liangwang.settings import Settings, TtsEngine, TtsSpeaker
from liangwang.wording import Say, render
from voice.app import build_synthesizer
from voice.audio import Audio
from voice.model_install import install_whisper_base
from voice.ports import SpeechSynthesizer
from voice.stt_whisper import WhisperRecognizer

# At least 30 replies as callers hear them, slots filled with realistic values.
REPLIES = [
    Say("utter_greet"),
    Say("utter_capabilities"),
    Say("utter_goodbye"),
    Say("utter_iamabot"),
    Say("utter_handoff"),
    Say("utter_ask_rephrase"),
    Say("utter_offer_choices"),
    Say("utter_offer_human"),
    Say("utter_ask_complaint_description"),
    Say("utter_complaint_confirm_category", {"category": "路灯不亮"}),
    Say("utter_ask_complaint_district"),
    Say("utter_ask_complaint_address"),
    Say("utter_ask_complaint_when"),
    Say("utter_ask_complaint_phone"),
    Say("utter_complaint_confirm_caller_phone", {"phone": "138 1234 5678"}),
    Say("utter_complaint_filed", {"number": "482 913", "days": "3"}),
    Say("utter_complaint_not_filed"),
    Say("utter_ask_ticket_number"),
    Say("utter_ticket_status", {"number": "482 913", "category": "路灯不亮", "status": "已办结。"}),
    Say("utter_ask_rating"),
    Say("utter_rating_thanks", {"stars": "5"}),
    Say("utter_confirm_withdraw", {"number": "482 913"}),
    Say("utter_ask_which_service"),
    Say("utter_confirm_service", {"name": "敬老卡"}),
    Say("utter_guide_first_step", {"total": "3", "step": "带好身份证，到社区事务受理服务中心。"}),
    Say("utter_ask_continue"),
    Say("utter_ask_district"),
    Say("utter_district_noted", {"district": "静安区"}),
    Say("utter_duration_both", {"promised": "5", "legal": "20"}),
    Say("utter_online_no"),
    Say("utter_eligible_yes"),
    Say("utter_voice_reprompt"),
    Say("utter_voice_not_heard"),
    Say("utter_voice_slower"),
]
# espeak-ng, and Kokoro with the speakers a first comparison on 8 sentences ranked best.
VOICES: tuple[tuple[TtsEngine, TtsSpeaker | None], ...] = (
    (TtsEngine.espeak, None),
    *((TtsEngine.kokoro, speaker) for speaker in (
        TtsSpeaker.zf_xiaoxiao, TtsSpeaker.zf_xiaobei, TtsSpeaker.zf_xiaoyi,
        TtsSpeaker.zm_yunxia, TtsSpeaker.zm_yunjian,
    )),
)  # fmt: skip


def speak_all(synth: SpeechSynthesizer, texts: list[str]) -> tuple[list[Audio], float, float]:
    """The audio of each text, the synthesis time and the audio time."""
    clips: list[Audio] = []
    busy = audio_s = 0.0
    for text in texts:
        started = time.perf_counter()
        audio = synth.synthesize(text)
        busy += time.perf_counter() - started
        audio_s += audio.duration_s
        clips.append(audio)
    return clips, busy, audio_s


def measure(
    engine: TtsEngine, speaker: TtsSpeaker | None, texts: list[str], whisper: WhisperRecognizer
) -> str:
    name = f"{engine.value} {speaker.value}" if speaker else engine.value
    with tempfile.TemporaryDirectory() as cache:
        settings = Settings(tts_engine=engine, data_dir=Path(cache))
        if speaker is not None:
            settings = settings.model_copy(update={"tts_speaker": speaker})
        children_before = children_mib()
        started = time.perf_counter()
        cached, note = build_synthesizer(settings)
        synth = cached.inner
        synth.synthesize("您好")  # the first words: workers started and the model loaded
        startup_s = time.perf_counter() - started
        if note is not None:
            return f"| {name} | not available: {note} | | | |"
        workers_mib = children_mib() - children_before  # the voice's speech workers
        clips, busy, audio_s = speak_all(synth, texts)
        close = getattr(synth, "close", None)
        if callable(close):
            close()
    heard = [whisper.transcribe(clip.over_telephone()).text for clip in clips]
    cer = character_error_rate(list(zip(texts, heard, strict=True)))
    return (
        f"| {name} | {cer:.1%} | {busy / audio_s:.2f} | {startup_s:.1f} s | {workers_mib:.0f} MiB |"
    )


def run() -> list[str]:
    texts = [render(say) for say in REPLIES]
    with tempfile.TemporaryDirectory() as models:
        whisper = WhisperRecognizer(
            install_whisper_base(Path(models) / "whisper-base"),
            beam_size=Settings().whisper_beam_size,
        )
        whisper.load()
        rows = [measure(engine, speaker, texts, whisper) for engine, speaker in VOICES]
    return [
        "## Voice output: understood over the phone",
        "",
        f"{len(texts)} replies of bot/domain.yml with slots filled "
        "(benchmarks/voice_output.py), each spoken whole, passed through 8 kHz μ-law and "
        "transcribed by Whisper base (beam "
        f"{Settings().whisper_beam_size}) without hints. Real-time factor: synthesis "
        "time / audio time, one reply at a time. Start-up: building the voice until its "
        "first words. Memory: the speech worker processes.",
        "",
        "| engine | character error rate (ASR round trip) | real-time factor | start-up | memory |",
        "|---|---|---|---|---|",
        *rows,
    ]


if __name__ == "__main__":
    print("\n".join(run()))

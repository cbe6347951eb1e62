"""The phone line, measured: how long a caller waits for the answer to start, and whether
four calls at once keep their audio steady.

- Reply latency: natural Mandarin test speech (through an 8 kHz μ-law round trip) goes
  through the real pipeline — webrtcvad, Whisper base, the real Rasa server and action
  server, the project's voice (Kokoro when installed, as by default) with every fixed
  sentence of the domain already in its cache, as after the phone line's first start —
  one question per call; the same turns spoken by espeak-ng are the anchor. Measured
  from the real end of the caller's speech (and from the detected end of the turn) to the
  first reply audio queued on the line. A question is a finished request, so the quick
  patience ends it; the same turns with the default patience show what answers the
  dialogue marks as careful (yes/no, descriptions, addresses, numbers) wait.
- Four simultaneous SIP calls from baresip softphones into an in-process SIP endpoint
  running the same pipeline: RTP send intervals per call (a gap is an interval well over
  20 ms), and the process's memory per call.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from benchmarks.cer import character_error_rate
from benchmarks.machine import children_mib, own_rss_mib
from benchmarks.stack import percentile
from liangwang.settings import Settings, SttEngine, TtsEngine
from ops.harness import RunningStack, make_stack
from tests.sip_peers import Baresip
from voice import events as ev
from voice.app import build_engines, call_config, call_handler, prepared_sentences
from voice.audio import Audio
from voice.fakes import FakeLine
from voice.hints import ALWAYS
from voice.line import AudioFrame, CallLine, Hangup
from voice.listener import SPECULATE_MS
from voice.model_install import install_whisper_base
from voice.ports import SpeechRecognizer
from voice.recognizers import load_now, make_recognizer
from voice.session import CallConfig, CallSession, VoiceEngines
from voice.telephony import PacedLine
from voice.telephony.sip import SipServer
from voice.tts import CachedSynthesizer

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "voice"
OTHER_BEAM = {1: 5, 5: 1}  # the beam sizes compared on the line: the default and the other
QUESTIONS = ("jinglaoka", "shebaoka_bu", "cailiao", "jindu", "ludeng", "tousu", "zhuanrengong")
ROUNDS = 3
FIXTURE_TRAILING_SILENCE_S = 0.5  # every fixture ends with this much silence (manifest.yml)
CALLS = 4


def said(fixture: str) -> str:
    """What the fixture's speaker said (its manifest entry)."""
    manifest = yaml.safe_load((FIXTURES / "manifest.yml").read_text(encoding="utf-8"))
    return str(manifest[fixture]["text"])


def telephone(fixture: str) -> Audio:
    return Audio.from_wav(FIXTURES / f"{fixture}.wav").over_telephone()


@dataclasses.dataclass
class Latencies:
    after_turn: list[float] = dataclasses.field(default_factory=list)  # detected end → audio
    after_speech: list[float] = dataclasses.field(default_factory=list)  # real end → audio
    patience: list[str] = dataclasses.field(default_factory=list)  # what the words were given
    heard: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (said, heard)

    @property
    def error_rate(self) -> float:
        return character_error_rate(self.heard)


async def one_turn(
    engines: VoiceEngines, config: CallConfig, fixture: str, into: Latencies
) -> None:
    """One call, one question, in real time (20 ms frames at 20 ms intervals, as a phone
    line delivers them). Records seconds from the detected end of the turn, and from the
    real end of speech, to the first reply audio, the patience the words were given and
    what the line heard."""
    line = FakeLine(caller="bench" + uuid.uuid4().hex[:8], call_id=uuid.uuid4().hex)
    question = telephone(fixture)
    frames = [AudioFrame(f) for f in (question + Audio.silence(3.0)).frames()]
    events: list[ev.CallEvent] = []
    call = asyncio.create_task(CallSession(line, engines, config, events.append).run())
    while not any(isinstance(e, ev.Spoke) for e in events):  # the caller hears the greeting
        await asyncio.sleep(0.01)
    start = time.monotonic()
    for index, frame in enumerate(frames):
        await asyncio.sleep(max(start + index * 0.02 - time.monotonic(), 0.0))
        line.inbound.put_nowait(frame)
        if any(isinstance(e, ev.FirstAudio) for e in events):
            break
    line.inbound.put_nowait(Hangup())
    await call
    ended = next(e.at for e in events if isinstance(e, ev.TurnEnded))
    first = next(e.at for e in events if isinstance(e, ev.FirstAudio))
    speech_end = start + question.duration_s - FIXTURE_TRAILING_SILENCE_S
    into.after_turn.append(first - ended)
    into.after_speech.append(first - speech_end)
    into.patience.append(
        next((e.patience for e in events if isinstance(e, ev.PatienceSet)), "default")
    )
    heard = " ".join(e.text for e in events if isinstance(e, ev.Recognized))
    into.heard.append((said(fixture), heard))


async def reply_latencies(engines: VoiceEngines, config: CallConfig) -> Latencies:
    measured = Latencies()
    for _ in range(ROUNDS):
        for fixture in QUESTIONS:
            await one_turn(engines, config, fixture, measured)
    return measured


def line_server(
    engines: VoiceEngines, settings: Settings, **options: Any
) -> tuple[SipServer, list[CallLine]]:
    """A SIP server on loopback answering every call with the production call handler
    (``options`` go to ``SipServer``), and the lines of its calls, collected as they start."""
    lines: list[CallLine] = []

    def keep_line(line: CallLine, event: ev.CallEvent) -> None:
        if isinstance(event, ev.CallStarted):
            lines.append(line)

    handle_call = call_handler(engines, call_config(settings), on_event=keep_line)
    options = {"rtp_ports": range(31000, 31100), **options}
    return SipServer(handle_call, host="127.0.0.1", port=0, **options), lines


def caller_clip() -> Audio:
    """What each test caller says: two questions, with pauses for the answers."""
    return Audio.silence(2.0) + telephone("jinglaoka") + Audio.silence(6.0) + telephone("cailiao")


async def dial_phones(
    server: SipServer, workdir: Path, *, calls: int, call_seconds: float = 30
) -> list[Baresip]:
    """``calls`` baresip softphones calling ``server`` at once with ``caller_clip``, each
    for ``call_seconds`` (then it hangs up); returns when every call is established."""
    phones = [
        Baresip(
            workdir / f"phone{i}", caller_clip(), user=f"1390000000{i}", call_seconds=call_seconds
        )
        for i in range(calls)
    ]
    for phone in phones:
        await phone.start()
    await asyncio.gather(*(p.dial(f"sip:bot@127.0.0.1:{server.port}") for p in phones))
    return phones


async def phones_closed(phones: list[Baresip], *, timeout: float = 90) -> float:
    """Wait until every phone's call has ended, then stop the phones; returns the peak
    resident memory of this process (the SIP server's) meanwhile, in MiB."""
    closing = asyncio.gather(*(p.wait_closed(timeout=timeout) for p in phones))
    peak = own_rss_mib(os.getpid())
    while not closing.done():
        peak = max(peak, own_rss_mib(os.getpid()))
        await asyncio.sleep(0.5)
    await closing
    for phone in phones:
        await phone.stop()
    return peak


async def four_calls(engines: VoiceEngines, settings: Settings, workdir: Path) -> dict[str, float]:
    server, lines = line_server(engines, settings)
    await server.start()
    before = own_rss_mib(os.getpid())
    try:
        peak = await phones_closed(await dial_phones(server, workdir, calls=CALLS))
    finally:
        await server.stop()
    stats = [line.pacer_stats() for line in lines if isinstance(line, PacedLine)]
    return {
        "calls": len(stats),
        "packets": sum(s.packets for s in stats),
        "jitter_ms": max(s.jitter_ms for s in stats),
        "max_interval_ms": max(s.max_interval_ms for s in stats),
        "max_late_ms": max(s.max_late_ms for s in stats),
        "rss_before_mib": before,
        "per_call_mib": (max(peak, before) - before) / CALLS,
    }


def prepare_prompts_ahead(engines: VoiceEngines, settings: Settings) -> str:
    """What the phone line prepares in the background after its first start, into the
    speech cache: every fixed sentence of the domain and the first sentence of every reply
    the catalog and the categories fix (the rest of those replies is made while the first
    sentence plays, and is not measured here). Returns the voice's name."""
    synthesizer = engines.synthesizer
    assert isinstance(synthesizer, CachedSynthesizer)
    synthesizer.warm(prepared_sentences(settings, openings_only=True))
    return type(synthesizer.inner).__name__


def recognizer_with_beam(settings: Settings, beam: int) -> SpeechRecognizer:
    """The line's recogniser as ``build_engines`` makes it, with another beam size."""
    return load_now(
        make_recognizer(
            settings.model_copy(update={"whisper_beam_size": beam}), escape_phrases=ALWAYS
        )
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


@contextlib.contextmanager
def line_settings(root: Path) -> Iterator[Settings]:
    """The phone line's settings as these benchmarks run it: Whisper base (installed under
    ``root``), the real Rasa server and action server (running until the block ends), and
    the project's speech cache."""
    whisper = install_whisper_base(root / "whisper-base")
    stack: RunningStack = make_stack(root / "data")
    stack.start()
    try:
        settings = Settings(
            data_dir=root / "data",
            stt_engine=SttEngine.whisper,
            whisper_model=whisper,
            rasa_port=int(stack.rasa_url.rsplit(":", 1)[1]),
            # The project's own speech cache, the one `make run` fills: with the natural
            # voice, preparing the catalog's replies takes minutes the first time only.
            speech_cache_dir=Settings().tts_cache_dir,
        )
        yield settings
    finally:
        stack.stop()


def run() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with line_settings(root) as settings:
            children_before = children_mib()
            engines = build_engines(settings)
            voice = prepare_prompts_ahead(engines, settings)
            # This process (recogniser, call loop) and the voice's speech workers; the Rasa
            # stack, also our children here, is left out.
            memory_mib = own_rss_mib(os.getpid()) + children_mib() - children_before
            espeak = build_engines(settings.model_copy(update={"tts_engine": TtsEngine.espeak}))
            prepare_prompts_ahead(espeak, settings)

            other_beam = OTHER_BEAM[settings.whisper_beam_size]
            other_hearing = dataclasses.replace(
                engines, recognizer=recognizer_with_beam(settings, other_beam)
            )
            default = call_config(settings)
            careful = dataclasses.replace(default, quick_end_silence_ms=default.end_silence_ms)

            async def measure() -> tuple[
                Latencies, Latencies, Latencies, Latencies, dict[str, float]
            ]:
                # One event loop for all: the dialogue clients belong to it.
                try:
                    return (
                        await reply_latencies(engines, default),
                        await reply_latencies(engines, careful),
                        await reply_latencies(espeak, default),
                        await reply_latencies(other_hearing, default),
                        await four_calls(engines, settings, root),
                    )
                finally:
                    await engines.dialogue.aclose()
                    await espeak.dialogue.aclose()

            latencies, careful_latencies, anchor, beam, concurrent = asyncio.run(measure())
    after_turn, after_speech = latencies.after_turn, latencies.after_speech
    anchor_speech = anchor.after_speech
    c = concurrent
    quick = latencies.patience.count("quick")
    return [
        "## Phone line",
        "",
        "| Measure | Result | Target |",
        "|---|---|---|",
        f"| End of caller's speech → first reply audio, Whisper base (n={len(after_speech)}; "
        f"{quick} given the quick {settings.voice_quick_end_silence_ms} ms patience) "
        f"| p50 {_ms(statistics.median(after_speech))}, p95 {_ms(percentile(after_speech, 0.95))} "
        "| p95 ≤ 1500 ms |",
        "| … same turns spoken by espeak-ng (anchor, same run) "
        f"| p50 {_ms(statistics.median(anchor_speech))}, "
        f"p95 {_ms(percentile(anchor_speech, 0.95))} "
        f"(ratio of p95: {percentile(after_speech, 0.95) / percentile(anchor_speech, 0.95):.2f}) "
        "| — |",
        "| … from the detected end of the turn "
        f"| p50 {_ms(statistics.median(after_turn))}, p95 {_ms(percentile(after_turn, 0.95))} "
        "| — |",
        "| … same turns with the default patience, as careful answers wait "
        f"({settings.voice_end_silence_ms} ms) "
        f"| p50 {_ms(statistics.median(careful_latencies.after_speech))}, "
        f"p95 {_ms(percentile(careful_latencies.after_speech, 0.95))} | — |",
        f"| What the line heard, character error rate: beam {settings.whisper_beam_size} "
        f"(the default) | {latencies.error_rate:.1%} | — |",
        f"| … beam {other_beam} on the same turns "
        f"| {beam.error_rate:.1%}; reply p50 {_ms(statistics.median(beam.after_speech))}, "
        f"p95 {_ms(percentile(beam.after_speech, 0.95))} | — |",
        f"| {c['calls']:.0f} simultaneous SIP calls: RTP send interval jitter (worst call) "
        f"| {c['jitter_ms']:.2f} ms over {c['packets']:.0f} packets | no gaps |",
        f"| … longest interval between two RTP packets | {c['max_interval_ms']:.1f} ms "
        f"(worst lateness {c['max_late_ms']:.1f} ms) | ≤ 40 ms (no lost slot) |",
        "| Memory: voice process with engines loaded, speech workers included "
        f"| {memory_mib:.0f} MiB | — |",
        f"| Memory per simultaneous call (peak growth / {CALLS}) "
        f"| {c['per_call_mib']:.1f} MiB | — |",
        "",
        "The caller's words are the natural test recordings of tests/fixtures/voice, each",
        "through an 8 kHz μ-law round trip, delivered in real time (20 ms frames every",
        f"20 ms). Whisper (beam {settings.whisper_beam_size}, int8, short encoder window) "
        "starts decoding after "
        f"{SPECULATE_MS} ms",
        "of silence; its words set the patience (voice/endpointing.py); then one Rasa turn",
        f"and the first sentence of the reply in the project's voice ({voice}; every fixed",
        "sentence of the domain and the first sentence of every reply the catalog and the",
        "complaint categories fix already in the speech cache, as after the first start).",
    ]

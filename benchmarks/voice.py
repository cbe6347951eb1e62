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
import dataclasses
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.machine import children_mib, own_rss_mib
from benchmarks.stack import percentile
from liangwang.settings import Settings, SttEngine, TtsEngine
from liangwang.wording import responses
from ops.harness import RunningStack, make_stack
from tests.sip_peers import Baresip
from voice import events as ev
from voice.app import build_engines, call_config, call_handler
from voice.audio import Audio
from voice.fakes import FakeLine
from voice.line import AudioFrame, CallLine, Hangup
from voice.listener import SPECULATE_MS
from voice.model_install import install_whisper_base
from voice.prompts import fixed_sentences
from voice.session import CallConfig, CallSession, VoiceEngines
from voice.telephony import PacedLine
from voice.telephony.sip import SipServer
from voice.tts import CachedSynthesizer

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "voice"
QUESTIONS = ("jinglaoka", "shebaoka_bu", "cailiao", "jindu", "ludeng", "tousu", "zhuanrengong")
ROUNDS = 3
FIXTURE_TRAILING_SILENCE_S = 0.5  # every fixture ends with this much silence (manifest.yml)
CALLS = 4


def telephone(fixture: str) -> Audio:
    return Audio.from_wav(FIXTURES / f"{fixture}.wav").over_telephone()


Latencies = tuple[list[float], list[float], list[str]]  # after the end, after speech, patience


async def one_turn(
    engines: VoiceEngines, config: CallConfig, fixture: str
) -> tuple[float, float, str]:
    """One call, one question, in real time (20 ms frames at 20 ms intervals, as a phone
    line delivers them). Returns seconds from the detected end of the turn, and from the
    real end of speech, to the first reply audio, and the patience the words were given."""
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
    patience = next((e.patience for e in events if isinstance(e, ev.PatienceSet)), "default")
    return first - ended, first - speech_end, patience


async def reply_latencies(engines: VoiceEngines, config: CallConfig) -> Latencies:
    after_turn: list[float] = []
    after_speech: list[float] = []
    patience: list[str] = []
    for _ in range(ROUNDS):
        for fixture in QUESTIONS:
            turn, speech, judged = await one_turn(engines, config, fixture)
            after_turn.append(turn)
            after_speech.append(speech)
            patience.append(judged)
    return after_turn, after_speech, patience


async def four_calls(engines: VoiceEngines, settings: Settings, workdir: Path) -> dict[str, float]:
    lines: list[CallLine] = []

    def keep_line(line: CallLine, event: ev.CallEvent) -> None:
        if isinstance(event, ev.CallStarted):
            lines.append(line)

    handle_call = call_handler(engines, call_config(settings), on_event=keep_line)
    server = SipServer(handle_call, host="127.0.0.1", port=0, rtp_ports=range(31000, 31100))
    await server.start()
    clip = Audio.silence(2.0) + telephone("jinglaoka") + Audio.silence(6.0) + telephone("cailiao")
    before = own_rss_mib(os.getpid())
    peak = before
    try:
        phones = [
            Baresip(workdir / f"phone{i}", clip, user=f"1390000000{i}", call_seconds=30)
            for i in range(CALLS)
        ]
        for phone in phones:
            await phone.start()
        await asyncio.gather(*(p.dial(f"sip:bot@127.0.0.1:{server.port}") for p in phones))
        closing = asyncio.gather(*(p.wait_closed(timeout=90) for p in phones))
        while not closing.done():
            peak = max(peak, own_rss_mib(os.getpid()))
            await asyncio.sleep(0.5)
        await closing
        for phone in phones:
            await phone.stop()
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
        "per_call_mib": (peak - before) / CALLS,
    }


def prepare_every_prompt(engines: VoiceEngines) -> str:
    """Every fixed sentence into the speech cache, as the phone line does in the background
    after its first start; returns the voice's name."""
    synthesizer = engines.synthesizer
    assert isinstance(synthesizer, CachedSynthesizer)
    synthesizer.warm(fixed_sentences(responses()))
    return type(synthesizer.inner).__name__


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def run() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        whisper = install_whisper_base(root / "whisper-base")
        stack: RunningStack = make_stack(root / "data")
        stack.start()
        try:
            settings = Settings(
                data_dir=root / "data",
                stt_engine=SttEngine.whisper,
                whisper_model=whisper,
                rasa_port=int(stack.rasa_url.rsplit(":", 1)[1]),
            )
            children_before = children_mib()
            engines = build_engines(settings)
            voice = prepare_every_prompt(engines)
            # This process (recogniser, call loop) and the voice's speech workers; the Rasa
            # stack, also our children here, is left out.
            memory_mib = own_rss_mib(os.getpid()) + children_mib() - children_before
            espeak = build_engines(settings.model_copy(update={"tts_engine": TtsEngine.espeak}))
            prepare_every_prompt(espeak)

            default = call_config(settings)
            careful = dataclasses.replace(default, quick_end_silence_ms=default.end_silence_ms)

            async def measure() -> tuple[Latencies, Latencies, Latencies, dict[str, float]]:
                # One event loop for all: the dialogue clients belong to it.
                try:
                    return (
                        await reply_latencies(engines, default),
                        await reply_latencies(engines, careful),
                        await reply_latencies(espeak, default),
                        await four_calls(engines, settings, root),
                    )
                finally:
                    await engines.dialogue.aclose()
                    await espeak.dialogue.aclose()

            latencies, careful_latencies, anchor, concurrent = asyncio.run(measure())
        finally:
            stack.stop()
    after_turn, after_speech, patience = latencies
    anchor_speech = anchor[1]
    c = concurrent
    quick = patience.count("quick")
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
        f"| p50 {_ms(statistics.median(careful_latencies[1]))}, "
        f"p95 {_ms(percentile(careful_latencies[1], 0.95))} | — |",
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
        "sentence of the domain already in the speech cache, as after the first start).",
    ]

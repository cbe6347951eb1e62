"""The phone line, measured: how long a caller waits for the answer to start, and whether
four calls at once keep their audio steady.

- Reply latency: natural Mandarin test speech (through an 8 kHz μ-law round trip) goes
  through the real pipeline — webrtcvad, Whisper base, the real Rasa server and action
  server, espeak-ng — one turn per call. Measured from the detected end of the caller's
  turn to the first reply audio queued on the line; the end-of-speech patience
  (``LIANGWANG_VOICE_END_SILENCE_MS``) comes on top and is reported beside it.
- Four simultaneous SIP calls from baresip softphones into an in-process SIP endpoint
  running the same pipeline: RTP send intervals per call (a gap is an interval well over
  20 ms), and the process's memory per call.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import uuid
from pathlib import Path

from benchmarks.machine import own_rss_mib
from benchmarks.stack import percentile
from liangwang.ops.harness import RunningStack, make_stack
from liangwang.settings import Settings, SttEngine
from tests.sip_peers import Baresip
from voice import events as ev
from voice.app import build_engines, call_config
from voice.audio import Audio, ulaw_decode, ulaw_encode
from voice.fakes import FakeLine
from voice.line import AudioFrame, CallHandler, CallLine, Hangup
from voice.models import install_whisper_base
from voice.session import CallSession, VoiceEngines
from voice.telephony import PacedLine
from voice.telephony.sip import SipServer

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "voice"
QUESTIONS = ("jinglaoka", "shebaoka_bu", "cailiao", "jindu", "ludeng", "tousu", "zhuanrengong")
ROUNDS = 3
CALLS = 4


def telephone(fixture: str) -> Audio:
    audio = Audio.from_wav(FIXTURES / f"{fixture}.wav").resample(8000)
    return Audio(ulaw_decode(ulaw_encode(audio.pcm)), 8000)


async def reply_latencies(engines: VoiceEngines, settings: Settings) -> list[float]:
    config = call_config(settings)
    latencies: list[float] = []
    for _ in range(ROUNDS):
        for fixture in QUESTIONS:
            line = FakeLine(caller="bench" + uuid.uuid4().hex[:8], call_id=uuid.uuid4().hex)
            audio = telephone(fixture) + Audio.silence(settings.voice_end_silence_ms / 1000 + 0.3)
            line.feed([AudioFrame(f) for f in audio.frames()], Hangup())
            events: list[ev.CallEvent] = []
            await CallSession(line, engines, config, events.append).run()
            ended = next(e.at for e in events if isinstance(e, ev.TurnEnded))
            first = next(e.at for e in events if isinstance(e, ev.FirstAudio))
            latencies.append(first - ended)
    return latencies


async def four_calls(engines: VoiceEngines, settings: Settings, workdir: Path) -> dict[str, float]:
    lines: list[CallLine] = []
    handle_call = _recording_handler(engines, settings, lines)
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


def _recording_handler(
    engines: VoiceEngines, settings: Settings, lines: list[CallLine]
) -> CallHandler:
    config = call_config(settings)

    async def handle(line: CallLine) -> None:
        lines.append(line)
        await CallSession(line, engines, config).run()

    return handle


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
            engines = build_engines(settings)

            async def measure() -> tuple[list[float], dict[str, float]]:
                # One event loop for both: the dialogue client belongs to it.
                try:
                    return (
                        await reply_latencies(engines, settings),
                        await four_calls(engines, settings, root),
                    )
                finally:
                    await engines.dialogue.aclose()

            latencies, concurrent = asyncio.run(measure())
        finally:
            stack.stop()
    patience = settings.voice_end_silence_ms / 1000
    p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
    c = concurrent
    return [
        "## Phone line",
        "",
        "| Measure | Result | Target |",
        "|---|---|---|",
        f"| End of caller's turn → first reply audio, Whisper base (n={len(latencies)}) "
        f"| p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms | p95 ≤ 1200 ms |",
        f"| … plus the end-of-speech patience ({patience * 1000:.0f} ms, configurable) "
        f"| p50 {(p50 + patience) * 1000:.0f} ms, p95 {(p95 + patience) * 1000:.0f} ms | — |",
        f"| {c['calls']:.0f} simultaneous SIP calls: RTP send interval jitter (worst call) "
        f"| {c['jitter_ms']:.2f} ms over {c['packets']:.0f} packets | no gaps |",
        f"| … longest interval between two RTP packets | {c['max_interval_ms']:.1f} ms "
        f"(worst lateness {c['max_late_ms']:.1f} ms) | ≤ 40 ms (no lost slot) |",
        f"| Memory: voice process with engines loaded | {c['rss_before_mib']:.0f} MiB | — |",
        f"| Memory per simultaneous call (peak growth / {CALLS}) "
        f"| {c['per_call_mib']:.1f} MiB | — |",
        "",
        "Latency per turn = Whisper decoding (beam 1, int8) + one Rasa turn + espeak-ng's",
        "first sentence. The caller's words are the natural test recordings of",
        "tests/fixtures/voice, each through an 8 kHz μ-law round trip.",
    ]

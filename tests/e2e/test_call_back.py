"""End to end: the phone line calls a citizen back (回访电话) over real SIP and RTP.

A ticket filed on the phone is closed by staff; the call-back dialer places the call from
our SIP server through a "trunk" that is the citizen's phone itself: baresip, which picks
up, records what it hears and presses 4 on its keypad (RFC 4733). What the phone heard is
transcribed with Whisper base; the rating, the audit rows and the call transcript are read
back from the database. SIPp plays a busy phone and a phone nobody answers, to show the
attempts retried after the gap, audited, and then left for the citizen's next call.

The speech is the product's own voice (Kokoro: Whisper does not understand espeak). No
dialogue engine is involved: a call back is a scripted conversation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from liangwang.complaints import tickets
from liangwang.complaints.callbacks import CallbackPolicy, CallingHours, Outcome
from liangwang.complaints.categories import load_categories
from liangwang.complaints.models import Status, Ticket, TicketAction
from liangwang.complaints.updates import news_for
from liangwang.db import unit_of_work
from liangwang.dialogue import RecordingEngine
from liangwang.settings import Settings
from liangwang.transcripts import Call
from liangwang.wording import fragments
from tests.e2e.talk import filed_on_the_phone, sounds_like
from tests.sip_peers import LOCALHOST, Baresip, SippPhone, busy_phone, free_port, unanswered_phone
from voice import events as ev
from voice.app import build_synthesizer
from voice.audio import Audio
from voice.callbacks import CallbackDialer, DialerConfig
from voice.fakes import RecordingSynthesizer
from voice.line import CallLine
from voice.session import CallConfig, VoiceEngines
from voice.stt_whisper import WhisperRecognizer
from voice.telephony.sip import SipServer
from voice.transcripts import StoredTranscripts
from voice.tts import CachedSynthesizer
from voice.vad import WebrtcVad

pytestmark = pytest.mark.e2e

ANSWER_NOTE = "路灯已经修好了"
# Calls at any hour: the test must not depend on the time of day it runs.
ALL_DAY = CallingHours(time(0), time(23, 59, 59, 999_999), ZoneInfo("Asia/Shanghai"))


@dataclass
class Line:
    engines: VoiceEngines
    sip: SipServer
    sessions: sessionmaker[Session]


@dataclass
class Voice:
    synthesizer: CachedSynthesizer
    recognizer: WhisperRecognizer


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory, whisper_model: Path) -> Iterator[Voice]:
    """The product's voice (Kokoro, started once for the module) and Whisper base."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("voice"))
    synthesizer, fallback = build_synthesizer(settings)
    assert fallback is None, f"the Kokoro voice is needed (make setup installs it): {fallback}"
    recognizer = WhisperRecognizer(whisper_model)
    recognizer.load()
    yield Voice(synthesizer, recognizer)
    close = getattr(synthesizer.inner, "close", None)
    if callable(close):
        close()


@pytest.fixture
async def line(
    tmp_path: Path, voice: Voice, sessions: sessionmaker[Session]
) -> AsyncIterator[Line]:
    engines = VoiceEngines(
        recognizer=voice.recognizer,
        synthesizer=voice.synthesizer,
        vad=WebrtcVad(),
        dialogue=RecordingEngine(lambda turn: []),  # a call back asks no dialogue engine
        recorder=StoredTranscripts(sessions, tmp_path / "calls"),
    )

    async def no_inbound_calls(line: CallLine) -> None:
        raise AssertionError("nobody calls in during these tests")

    rtp = free_port() // 2 * 2
    sip = SipServer(no_inbound_calls, host=LOCALHOST, port=0, rtp_ports=range(rtp, rtp + 20))
    await sip.start()
    yield Line(engines, sip, sessions)
    await sip.stop()


def closed_by_staff(sessions: sessionmaker[Session], phone: str) -> int:
    """A street-light complaint filed on the phone with ``phone`` left for the reply, worked
    by staff to 办结 with their answer."""
    with unit_of_work(sessions) as s:
        ticket = filed_on_the_phone(s, phone, address="南京西路100号", contact_phone=phone)
        tickets.transition(s, ticket, TicketAction.dispatch, actor="李四")
        tickets.transition(s, ticket, TicketAction.start, actor="李四")
        tickets.transition(s, ticket, TicketAction.answer, actor="李四", note=ANSWER_NOTE)
        tickets.transition(s, ticket, TicketAction.close, actor="李四")
        return ticket.id


def new_phone() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


Events = list[tuple[CallLine, ev.CallEvent]]


def dialer(
    line: Line,
    port: int,
    policy: CallbackPolicy,
    *,
    events: Events | None = None,
    ring_timeout_s: float = 20.0,
    engines: VoiceEngines | None = None,
) -> CallbackDialer:
    """Call backs through a "trunk" at ``port`` on loopback: the citizen's phone itself."""
    seen = events if events is not None else []
    return CallbackDialer(
        line.sip.dial,
        engines or line.engines,
        CallConfig(end_silence_ms=800, reprompt_after_s=15.0),
        DialerConfig(
            trunk_uri=f"sip:{{number}}@{LOCALHOST}:{port}",
            caller_id="12345",
            ring_timeout_s=ring_timeout_s,
            poll_s=0.3,
            policy=policy,
        ),
        line.sessions,
        on_event=lambda call_line, event: seen.append((call_line, event)),
    )


def first_turn_recorded(line: Line, caller: str) -> bool:
    with unit_of_work(line.sessions) as s:
        call = s.scalars(select(Call).where(Call.caller == caller)).one_or_none()
        return call is not None and len(call.turns) > 0


def transcribe(recognizer: WhisperRecognizer, audio: Audio) -> str:
    """Whisper on overlapping 20 s pieces of a long recording (its window is 30 s)."""
    audio = audio.resample(8000)
    step, size, heard = 15.0, 20.0, []
    start = 0.0
    while start < audio.duration_s:
        piece = Audio(audio.pcm[int(start * 8000) * 2 : int((start + size) * 8000) * 2], 8000)
        stream = recognizer.start(8000, ())
        for frame in piece.frames():
            stream.accept(frame)
        heard.append(stream.finish().text)
        start += step
    return " ".join(heard)


async def test_a_closed_ticket_is_called_back_read_out_and_rated_on_the_keypad(
    line: Line, tmp_path: Path
) -> None:
    phone_number = new_phone()
    ticket_id = closed_by_staff(line.sessions, phone_number)
    events: Events = []
    policy = CallbackPolicy(ALL_DAY, max_attempts=3, retry_gap=timedelta(seconds=1))
    async with Baresip(
        tmp_path / "phone", Audio.silence(1.0), user=phone_number, call_seconds=120, answer=True
    ) as phone:
        calling = dialer(line, phone.sip_port, policy, events=events)
        placing = asyncio.create_task(calling.call_due())
        await phone.wait_event("CALL_ESTABLISHED", timeout=30)
        # The citizen listens to the whole answer and the question, then presses 4: once
        # the first turn is in the transcript everything is queued, then it plays out.
        async with asyncio.timeout(120):
            while not await asyncio.to_thread(first_turn_recorded, line, phone_number):
                await asyncio.sleep(0.2)
            call_line = events[0][0]
            while call_line.playing:
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        await phone.send_dtmf("4")
        reports = await asyncio.wait_for(placing, 60)
        await phone.wait_closed(timeout=30)
    assert [(r.outcome, r.rating) for r in reports] == [(Outcome.answered, 4)]

    # The phone heard us: speech, and Whisper hears the answer in it.
    heard = phone.recording()
    spoken_s = sum(1 for f in heard.frames() if Audio(f, heard.rate).rms() > 300) * 0.02
    assert spoken_s > 10
    assert isinstance(line.engines.recognizer, WhisperRecognizer)
    words = transcribe(line.engines.recognizer, heard)
    assert sounds_like("回个电话", words), words  # who is calling and why
    assert sounds_like("修好了", words), words  # staff's answer

    with unit_of_work(line.sessions) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.rating == 4 and not ticket.has_news
        # The ticket and its status were read out, too.
        assert ticket.number in words or sounds_like("已办结", words), words
        rows = [(e.action, e.actor, e.note) for e in ticket.events]
        assert (TicketAction.rate, f"phone:{phone_number}", "4") in rows
        attempts = [note for action, _, note in rows if action == TicketAction.callback_attempt]
        assert len(attempts) == 1 and attempts[0].startswith("answered") and "4分" in attempts[0]
        # The call is in the call transcripts like an inbound one, the key press with it.
        call = s.scalars(select(Call).where(Call.caller == phone_number)).one()
        assert (call.line, call.end_reason) == ("sip-callback", "goodbye")
        assert ANSWER_NOTE in call.turns[0].reply and "4" in [t.keys for t in call.turns]


async def test_a_busy_then_unanswered_phone_is_retried_audited_and_left_for_the_next_call(
    line: Line, tmp_path: Path
) -> None:
    phone_number = new_phone()
    ticket_id = closed_by_staff(line.sessions, phone_number)
    policy = CallbackPolicy(ALL_DAY, max_attempts=2, retry_gap=timedelta(seconds=3))
    busy = SippPhone(tmp_path / "busy", busy_phone())
    # Nobody picks up, so nothing is said: a recording voice spares the CPU.
    quiet = dataclasses.replace(line.engines, synthesizer=RecordingSynthesizer())
    calling = dialer(line, busy.port, policy, ring_timeout_s=2.0, engines=quiet)
    await busy.start()
    running = asyncio.create_task(calling.run_forever())
    try:
        assert (await busy.finish(timeout=30)).ok
        # Within the gap the same "number" now rings and rings, until we give up (CANCEL).
        ringing = SippPhone(tmp_path / "ringing", unanswered_phone(), port=busy.port)
        await ringing.start()
        rang = await ringing.finish(timeout=30)
        assert rang.ok and "CANCEL sip:" in rang.messages
        await asyncio.sleep(4.0)  # past the gap: a third attempt would have been made
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    with unit_of_work(line.sessions) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status == Status.closed
        notes = [e.note for e in ticket.events if e.action == TicketAction.callback_attempt]
        assert [n.split()[0] for n in notes] == ["busy", "no_answer"], notes
        assert "486 Busy Here" in notes[0] and "487" in notes[1] and "下次来电" in notes[1]
        assert ticket.has_news and ticket.rating is None
        # Left for the citizen's next call: the greeting's news, exactly as before.
        says = news_for(s, f"phone:{phone_number}", load_categories(), fragments())
        assert says and not ticket.has_news

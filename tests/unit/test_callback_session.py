"""A call back's conversation with recording fakes (voice/callback_session.py), and the
dialer that places call backs and records each attempt (voice/callbacks.py) with a fake
``dial`` in place of the SIP trunk."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from liangwang.complaints import tickets
from liangwang.complaints.callback_queue import CallbackScript
from liangwang.complaints.callbacks import CallbackPolicy, CallingHours, Outcome
from liangwang.complaints.models import Status, Ticket, TicketAction
from liangwang.complaints.tickets import NewTicket
from liangwang.db import make_engine, make_session_factory, migrate, unit_of_work
from liangwang.dialogue import RecordingEngine
from liangwang.handoff import open_handoffs
from liangwang.leases import Lease
from liangwang.settings import Settings
from liangwang.wording import Say, render
from voice import events as ev
from voice.callback_session import CallbackSession, rating_in
from voice.callbacks import CallbackDialer, DialerConfig
from voice.events import CallEndReason
from voice.fakes import (
    EnergyVad,
    FakeLine,
    RecordingSynthesizer,
    RecordingTranscripts,
    ScriptedRecognizer,
    silence_frames,
    speech_frames,
)
from voice.line import CallHandler, Dtmf, Hangup
from voice.session import CallConfig, VoiceEngines
from voice.telephony.sip_dialer import DialResult

CONFIG = CallConfig(end_silence_ms=400, reprompt_after_s=2.0)
CLOSED = CallbackScript(
    ticket_id=7,
    number="123456",
    phone="13800138000",
    status=Status.closed,
    says=(
        Say("utter_callback_intro"),
        Say("utter_ticket_status", {"number": "123 456", "category": "路灯", "status": "已办结。"}),
        Say("utter_ticket_status_note", {"note": "路灯已经修好了"}),
    ),
    asks_rating=True,
)


@dataclass
class Desk:
    """Records what the call back did to its ticket."""

    heard: int = 0
    ratings: list[int] = field(default_factory=list)
    handoffs: list[str] = field(default_factory=list)

    def told(self) -> None:
        self.heard += 1

    def rate(self, stars: int) -> bool:
        self.ratings.append(stars)
        return True

    def hand_over(self, last_words: str) -> None:
        self.handoffs.append(last_words)


def engines(heard: list[str] | None = None) -> VoiceEngines:
    return VoiceEngines(
        recognizer=ScriptedRecognizer(list(heard or [])),
        synthesizer=RecordingSynthesizer(),
        vad=EnergyVad(),
        dialogue=RecordingEngine(lambda turn: []),
        recorder=RecordingTranscripts(),
    )


class CallBack:
    def __init__(self, script: CallbackScript = CLOSED, heard: list[str] | None = None) -> None:
        self.line = FakeLine(caller="13800138000", call_id="cb-1")
        self.engines = engines(heard)
        self.desk = Desk()
        self.events: list[ev.CallEvent] = []
        self.session = CallbackSession(
            self.line, self.engines, CONFIG, script, self.desk, on_event=self.events.append
        )

    def said(self) -> list[str]:
        return [t for e in self.events if isinstance(e, ev.Spoke) for t in e.texts]

    @property
    def transcripts(self) -> RecordingTranscripts:
        recorder = self.engines.recorder
        assert isinstance(recorder, RecordingTranscripts)
        return recorder


def text(name: str, **values: str) -> str:
    return render(Say(name, values))


async def test_key_4_rates_the_ticket_thanks_and_hangs_up() -> None:
    call = CallBack()
    call.line.feed(silence_frames(200), Dtmf("4"), silence_frames(200))
    result = await call.session.run()
    assert (result.told, result.rating, result.ended) == (True, 4, CallEndReason.goodbye)
    assert call.desk.ratings == [4] and call.desk.heard == 1 and call.line.hung_up
    said = call.said()
    assert said[0] == text("utter_callback_intro")
    assert "编号 123 456，路灯：已办结。" in said and "处理说明：路灯已经修好了" in said
    assert said[3] == text("utter_callback_ask_rating")
    assert said[-2:] == [text("utter_rating_thanks", stars="4"), text("utter_callback_goodbye")]
    # In the call transcripts like any call, marked as a call back.
    assert call.transcripts.calls["cb-1"]["line"] == "line-callback"
    assert [t.keys for t in call.transcripts.turns["cb-1"]] == ["", "4"]


async def test_a_spoken_score_rates_the_ticket() -> None:
    call = CallBack(heard=["给四分吧"])
    call.line.feed(silence_frames(100), speech_frames(600), silence_frames(600))
    result = await call.session.run()
    assert result.rating == 4 and call.desk.ratings == [4]
    assert call.transcripts.turns["cb-1"][1].recognized == "给四分吧"


def test_scores_in_words_and_digits() -> None:
    assert [rating_in(t) for t in ["五分", "三", "4分", "两分", "十分", "不知道"]] == [
        5, 3, 4, 2, None, None,
    ]  # fmt: skip


async def test_an_unclear_answer_is_asked_again_then_let_be() -> None:
    call = CallBack(heard=["嗯那个", "不好说", "算了吧"])
    for _ in range(3):
        call.line.feed(speech_frames(600), silence_frames(600))
    result = await call.session.run()
    assert result.rating is None and call.desk.ratings == []
    said = call.said()
    assert said.count(text("utter_rating_invalid")) == 2
    assert said[-1] == text("utter_callback_goodbye_unrated") and call.line.hung_up


async def test_silence_gets_one_reminder_then_goodbye() -> None:
    call = CallBack()
    call.session.config = CallConfig(reprompt_after_s=0.5)
    # Nothing comes down the line: the quiet is counted by the clock (and the answer, fully
    # played with nobody hanging up, was heard).
    result = await call.session.run()
    said = call.said()
    assert text("utter_callback_rating_again") in said
    assert said[-1] == text("utter_callback_goodbye_unrated")
    assert result.told and result.rating is None and result.ended == CallEndReason.goodbye


async def test_key_0_hands_over_as_on_any_call() -> None:
    call = CallBack()
    call.line.feed(silence_frames(100), Dtmf("0"), silence_frames(100))
    result = await call.session.run()
    assert result.handed_over and result.ended == CallEndReason.handoff
    assert call.desk.handoffs == [""]
    assert call.said()[-2:] == [text("utter_handoff"), text("utter_voice_callback")]


async def test_asking_for_a_person_in_words_is_transferred_when_a_staff_line_is_set() -> None:
    call = CallBack(heard=["我要转人工"])
    call.session.config = CallConfig(end_silence_ms=400, handoff_uri="sip:staff@pbx")
    call.line.transfer_ok = True
    call.line.feed(speech_frames(600), silence_frames(600), Hangup())
    result = await call.session.run()
    assert result.handed_over and call.line.transfers == ["sip:staff@pbx"]
    assert call.desk.handoffs == ["我要转人工"] and result.ended == CallEndReason.handoff


async def test_a_hangup_during_the_answer_leaves_the_ticket_untold() -> None:
    call = CallBack()
    call.line.hold_playback = True  # still playing when the citizen hangs up
    call.line.feed(Hangup())
    result = await call.session.run()
    assert not result.told and call.desk.heard == 0
    assert result.ended == CallEndReason.caller_hangup


async def test_star_repeats_the_answer() -> None:
    call = CallBack()
    call.line.feed(silence_frames(100), Dtmf("*"), silence_frames(100), Dtmf("5"))
    await call.session.run()
    said = call.said()
    assert said.count("处理说明：路灯已经修好了") == 2 and call.desk.ratings == [5]


async def test_an_answered_ticket_is_read_without_asking_for_a_rating() -> None:
    script = CallbackScript(
        ticket_id=7,
        number="123456",
        phone="13800138000",
        status=Status.answered,
        says=(Say("utter_callback_intro"),),
        asks_rating=False,
    )
    call = CallBack(script)
    call.line.feed(silence_frames(100), Dtmf("4"), silence_frames(3000))
    result = await call.session.run()
    said = call.said()
    assert text("utter_callback_rate_later") in said and text("utter_callback_more") in said
    assert text("utter_callback_ask_rating") not in said
    assert result.told and result.rating is None and call.desk.ratings == []
    assert said[-1] == text("utter_callback_goodbye")


# --- the dialer, with a fake trunk ------------------------------------------------------


@dataclass
class FakeTrunk:
    """Answers each call with the next status; 200 runs the handler on a fake line that
    presses ``keys``."""

    statuses: list[int]
    keys: str = "3"
    dialed: list[str] = field(default_factory=list)

    async def __call__(
        self, target: str, handler: CallHandler, *, caller_id: str, ring_timeout: float
    ) -> DialResult:
        self.dialed.append(target)
        status = self.statuses.pop(0)
        if status == 200:
            line = FakeLine(caller=target, call_id=f"cb-{len(self.dialed)}")
            line.feed(silence_frames(100), *[Dtmf(k) for k in self.keys], silence_frames(100))
            await handler(line)
            return DialResult(200, "OK", line.call_id)
        return DialResult(status, {486: "Busy Here"}.get(status, "Nope"), "x")


def dialer_config() -> DialerConfig:
    always = CallingHours(time(0), time(23, 59, 59, 999999), ZoneInfo("Asia/Shanghai"))
    return DialerConfig(
        trunk_uri="sip:{number}@pbx.example",
        caller_id="12345",
        ring_timeout_s=5,
        poll_s=0.1,
        policy=CallbackPolicy(always, max_attempts=2, retry_gap=timedelta(0)),
    )


def closed_phone_ticket(sessions: sessionmaker[Session]) -> int:
    with unit_of_work(sessions) as s:
        ticket = tickets.file_ticket(
            s,
            NewTicket(
                category="streetlight",
                description="路灯坏了",
                channel="phone",
                district="静安",
                address="南京西路100号",
                contact_phone="13800138000",
                identity="phone:13800138000",
            ),
            actor="phone:13800138000",
        )
        for action in (TicketAction.dispatch, TicketAction.start, TicketAction.answer):
            tickets.transition(s, ticket, action, actor="李四", note="修好了")
        tickets.transition(s, ticket, TicketAction.close, actor="李四")
        return ticket.id


async def test_the_dialer_calls_records_each_attempt_and_rates(
    sessions: sessionmaker[Session],
) -> None:
    ticket_id = closed_phone_ticket(sessions)
    trunk = FakeTrunk([486, 200], keys="3")
    dialer = CallbackDialer(trunk, engines(), CONFIG, dialer_config(), sessions)
    first = await dialer.call_due()
    assert [r.outcome for r in first] == [Outcome.busy]
    second = await dialer.call_due()
    assert [(r.outcome, r.rating) for r in second] == [(Outcome.answered, 3)]
    assert trunk.dialed == ["sip:13800138000@pbx.example"] * 2
    assert await dialer.call_due() == []  # told: nothing more to call
    with unit_of_work(sessions) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.rating == 3 and not ticket.has_news
        notes = [e.note for e in ticket.events if e.action == TicketAction.callback_attempt]
        assert notes[0].startswith("busy") and "486 Busy Here" in notes[0]
        assert notes[1].startswith("answered") and "3分" in notes[1]
        assert open_handoffs(s) == []


async def test_the_dialer_gives_up_after_the_attempts(sessions: sessionmaker[Session]) -> None:
    ticket_id = closed_phone_ticket(sessions)
    trunk = FakeTrunk([480, 0])
    dialer = CallbackDialer(trunk, engines(), CONFIG, dialer_config(), sessions)
    await dialer.call_due()
    await dialer.call_due()
    assert await dialer.call_due() == []
    with unit_of_work(sessions) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.has_news and ticket.callback_attempts == 2
        notes = [e.note for e in ticket.events if e.action == TicketAction.callback_attempt]
        assert [n.split()[0] for n in notes] == ["no_answer", "failed"]
        assert "下次来电" in notes[1]


def test_call_backs_are_off_without_a_trunk() -> None:
    assert DialerConfig.from_settings(Settings()) is None
    config = DialerConfig.from_settings(Settings(callback_trunk_uri="sip:{number}@pbx.example"))
    assert config is not None and config.policy.max_attempts == 3
    assert config.target("13800138000") == "sip:13800138000@pbx.example"


@dataclass
class SlowBusyTrunk:
    """Every call rings a moment, then is busy: long enough for two dialers to overlap."""

    dialed: list[str] = field(default_factory=list)

    async def __call__(
        self, target: str, handler: CallHandler, *, caller_id: str, ring_timeout: float
    ) -> DialResult:
        self.dialed.append(target)
        await asyncio.sleep(0.3)
        return DialResult(486, "Busy Here", "x")


async def test_two_phone_processes_call_each_ticket_back_once(pg_url: str) -> None:
    migrate(pg_url)
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    ids = [closed_phone_ticket(sessions) for _ in range(4)]
    config = dialer_config()
    config = replace(config, policy=replace(config.policy, retry_gap=timedelta(hours=1)))
    trunk = SlowBusyTrunk()
    one, two = (CallbackDialer(trunk, engines(), CONFIG, config, sessions) for _ in range(2))

    calls = await asyncio.gather(one.call_due(), two.call_due())
    assert len(calls[0]) + len(calls[1]) == len(trunk.dialed) == 4  # none called twice
    with unit_of_work(sessions) as s:
        assert [s.get_one(Ticket, i).callback_attempts for i in ids] == [1] * 4
        assert s.scalars(select(Lease)).all() == []  # every claim given up once recorded
    engine.dispose()

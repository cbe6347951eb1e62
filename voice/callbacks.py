"""Call backs from the phone line (回访电话): the one process that places them.

``CallbackDialer`` runs beside the SIP server in ``liangwang phone`` when
LIANGWANG_CALLBACK_TRUNK_URI is set. Every ``poll_s`` it asks the queue
(``liangwang.complaints.callback_queue``) for the tickets due under the rules
(``liangwang.complaints.callbacks``: consent, calling hours, attempts, gaps, staff's
requests) and calls them one after another through the trunk: ringing, busy, no answer
and CANCEL are the SIP server's business (``SipServer.dial``), and an answered call is a
``CallbackSession`` on the same kind of line as an inbound call. Every attempt, however it
ended, is counted and written to the ticket's audit trail.

One call back at a time: a 2-core machine also answers inbound calls with the same
recogniser, and a queue of call backs can wait a minute.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from liangwang import leases
from liangwang.complaints import callback_queue as queue
from liangwang.complaints.callback_queue import CallbackScript, CallReport
from liangwang.complaints.callbacks import CallbackPolicy, Outcome, outcome_of_status
from liangwang.complaints.categories import Categories, load_categories
from liangwang.complaints.models import Ticket
from liangwang.db import sessions_for, unit_of_work, utcnow
from liangwang.settings import Settings
from liangwang.wording import Say, fragments, render
from voice import events as ev
from voice.callback_session import CallbackResult, CallbackSession
from voice.errors import SynthesizerError
from voice.line import CallHandler, CallLine
from voice.session import CallConfig, VoiceEngines
from voice.telephony.sip_dialer import DialResult

log = logging.getLogger(__name__)

# What every call back says, whatever the ticket: synthesised before the first one.
CALLBACK_PROMPTS = (
    "utter_callback_intro",
    "utter_callback_ask_rating",
    "utter_callback_rating_again",
    "utter_callback_rate_later",
    "utter_callback_more",
    "utter_callback_goodbye",
    "utter_callback_goodbye_unrated",
)


class Dial(Protocol):
    """Places a call and runs ``handler`` on it once answered (``SipServer.dial``)."""

    async def __call__(
        self, target: str, handler: CallHandler, *, caller_id: str, ring_timeout: float
    ) -> DialResult: ...


@dataclass(frozen=True)
class DialerConfig:
    trunk_uri: str  # sip:{number}@pbx.example
    caller_id: str
    ring_timeout_s: float
    poll_s: float
    policy: CallbackPolicy

    @classmethod
    def from_settings(cls, settings: Settings) -> DialerConfig | None:
        """None when call backs are off (no trunk configured)."""
        if not settings.callback_trunk_uri:
            return None
        return cls(
            trunk_uri=settings.callback_trunk_uri,
            caller_id=settings.callback_caller_id,
            ring_timeout_s=settings.callback_ring_timeout_s,
            poll_s=settings.callback_poll_s,
            policy=CallbackPolicy.from_settings(settings),
        )

    def target(self, phone: str) -> str:
        return self.trunk_uri.replace("{number}", phone)


class StoredCallbackDesk:
    """What one call back does to its ticket, each in its own unit of work."""

    def __init__(self, sessions: sessionmaker[Session], script: CallbackScript) -> None:
        self._sessions = sessions
        self._script = script

    def told(self) -> None:
        with unit_of_work(self._sessions) as session:
            queue.told(session, self._script.ticket_id, self._script.status)

    def rate(self, stars: int) -> bool:
        with unit_of_work(self._sessions) as session:
            return queue.rate(session, self._script.ticket_id, stars)

    def hand_over(self, last_words: str) -> None:
        with unit_of_work(self._sessions) as session:
            queue.hand_over(session, self._script.ticket_id, last_words)


class CallbackDialer:
    def __init__(
        self,
        dial: Dial,
        engines: VoiceEngines,
        call_config: CallConfig,
        config: DialerConfig,
        sessions: sessionmaker[Session],
        *,
        categories: Categories | None = None,
        on_event: Callable[[CallLine, ev.CallEvent], None] | None = None,
    ) -> None:
        self._dial = dial
        self._engines = engines
        self._call_config = call_config
        self.config = config
        self._sessions = sessions
        self._categories = categories or load_categories()
        self._on_event = on_event
        # Several phone processes may share the queue: each ticket is claimed by one.
        self._holder = leases.new_holder()

    async def run_forever(self) -> None:
        """Call back whatever is due, then look again every ``poll_s``; until cancelled."""
        await asyncio.to_thread(self._warm)
        while True:
            try:
                await self.call_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database or the trunk is down: try again later
                log.exception("call backs failed; trying again in %.0f s", self.config.poll_s)
            await asyncio.sleep(self.config.poll_s)

    def _warm(self) -> None:
        warm = getattr(self._engines.synthesizer, "warm", None)
        if callable(warm):
            try:
                warm(render(Say(name)) for name in CALLBACK_PROMPTS)
            except SynthesizerError as exc:  # a call back can still synthesise them
                log.warning("could not prepare the call-back prompts: %s", exc)

    async def call_due(self) -> list[CallReport]:
        """Call every ticket due now, one after another; each is checked again just before
        its call (the citizen may have called in meanwhile)."""
        reports = []
        tried: set[int] = set()
        while (script := await asyncio.to_thread(self._next_script, tried)) is not None:
            tried.add(script.ticket_id)
            reports.append(await self.call(script))
        return reports

    def _next_script(self, tried: set[int]) -> CallbackScript | None:
        with unit_of_work(self._sessions) as session:
            now = utcnow()
            due: list[Ticket] = queue.due(session, self.config.policy, now)
            ticket = next(
                (
                    t
                    for t in due
                    if t.id not in tried
                    and queue.claim(session, t, self.config.policy, self._holder, now)
                ),
                None,
            )
            if ticket is None:
                return None
            return queue.script_for(ticket, self._categories, fragments())

    async def call(self, script: CallbackScript) -> CallReport:
        """One attempt: dial, talk if answered, and record how it went on the ticket."""
        results: list[CallbackResult] = []

        async def talk(line: CallLine) -> None:
            listener = None
            if self._on_event is not None:
                on_event = self._on_event
                listener = lambda event: on_event(line, event)  # noqa: E731
            desk = StoredCallbackDesk(self._sessions, script)
            session = CallbackSession(
                line, self._engines, self._call_config, script, desk, on_event=listener
            )
            results.append(await session.run())

        target = self.config.target(script.phone)
        log.info("calling back ticket %s", script.number)
        dialed = await self._dial(
            target, talk, caller_id=self.config.caller_id, ring_timeout=self.config.ring_timeout_s
        )
        report = _report(dialed, results[0] if results else None)
        note = await asyncio.to_thread(self._record, script.ticket_id, report)
        log.info("call back of ticket %s: %s", script.number, note)
        return report

    def _record(self, ticket_id: int, report: CallReport) -> str:
        with unit_of_work(self._sessions) as session:
            return queue.record_attempt(
                session, ticket_id, report, policy=self.config.policy, holder=self._holder
            )


def _report(dialed: DialResult, talked: CallbackResult | None) -> CallReport:
    if not dialed.answered:
        return CallReport(outcome_of_status(dialed.status), detail=dialed.detail)
    if talked is None:  # answered, but the call could not be used (no common codec)
        return CallReport(Outcome.failed, detail=dialed.detail)
    return CallReport(
        Outcome.answered if talked.told else Outcome.hung_up,
        rating=talked.rating,
        handed_over=talked.handed_over,
    )


def start_callbacks(
    settings: Settings, dial: Dial, engines: VoiceEngines, call_config: CallConfig
) -> asyncio.Task[None] | None:
    """Start placing call backs through ``dial`` when a trunk is configured (None: off)."""
    config = DialerConfig.from_settings(settings)
    if config is None:
        return None
    sessions = sessions_for(settings.effective_database_url)
    dialer = CallbackDialer(dial, engines, call_config, config, sessions)
    log.info("call backs through %s", config.trunk_uri)
    return asyncio.create_task(dialer.run_forever(), name="callbacks")


async def stop_callbacks(task: asyncio.Task[None] | None) -> None:
    """Stop placing call backs; a call back under way is hung up."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

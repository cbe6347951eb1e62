"""Call backs (回访电话): which tickets the phone line calls back, when, and how often.

Pure rules over plain values: no database, no clock, no I/O. The queue
(``liangwang.complaints.callback_queue``) keeps their state on the ticket and the phone
line's dialer (``voice.callbacks``) asks them what is due.

- **Who.** A ticket filed on the phone whose status reached 答复 (answered) or 办结
  (closed) since the citizen was last told (``Ticket.has_news``), and who left a contact
  phone. Leaving a number *is* the consent: the intake asks "留个电话，方便部门回复您吗？"
  (on the phone: "回复就打您现在这个号码…可以吗？", where "不留" leaves none). No number, no
  call: the news waits for their next call's greeting, as it always did.
- **When.** Only within the calling hours (local time, by default 09:00–20:00 in
  Asia/Shanghai), at most ``max_attempts`` attempts for each status reached, at least
  ``retry_gap`` apart. A call that reached the citizen and read them the answer marks the
  ticket told, which ends the attempts; when the attempts are used up the news is left
  for their next call.
- **Staff.** A call staff ask for from the ticket page is due at once (or when the calling
  hours next open), whatever the gap or the attempts so far, for any ticket with a
  contact phone; the next attempt, however it goes, answers the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

from liangwang.complaints.models import Status
from liangwang.conversation import Channel
from liangwang.db import aware
from liangwang.settings import Settings

# The statuses whose news is worth a call: the department's answer, and 办结 with its 好差评.
CALL_BACK_STATUSES = frozenset({Status.answered, Status.closed})


class Outcome(StrEnum):
    """How one call back went; the first word of its audit row's note."""

    answered = "answered"  # picked up and heard the answer: the ticket is told
    hung_up = "hung_up"  # picked up, but hung up before the answer was read out
    busy = "busy"  # 486 Busy Here, 600 Busy Everywhere
    no_answer = "no_answer"  # rang out: 480, 408, our CANCEL after the ring timeout (487)
    declined = "declined"  # 603 Decline: the citizen pressed "reject"
    failed = "failed"  # no response, an unreachable trunk, any other refusal


class Wait(StrEnum):
    """Why a ticket is not called back now."""

    not_wanted = "not_wanted"  # not a phone ticket with news worth a call
    no_phone = "no_phone"  # the citizen left no number: no consent to call
    outside_hours = "outside_hours"
    too_soon = "too_soon"  # the gap after the last attempt has not passed
    exhausted = "exhausted"  # every attempt for this status is used up


@dataclass(frozen=True)
class CallingHours:
    """Local opening hours for calls: ``start`` ≤ local time < ``end``, every day."""

    start: time
    end: time
    zone: tzinfo

    def contain(self, now: datetime) -> bool:
        local = aware(now).astimezone(self.zone).time()
        return self.start <= local < self.end

    def next_opening(self, now: datetime) -> datetime:
        """``now`` when within the hours, else when they next open (in UTC)."""
        now = aware(now)
        if self.contain(now):
            return now
        local = now.astimezone(self.zone)
        opening = datetime.combine(local.date(), self.start, tzinfo=self.zone)
        if local.time() >= self.end:
            opening = datetime.combine(
                local.date() + timedelta(days=1), self.start, tzinfo=self.zone
            )
        return opening.astimezone(UTC)


@dataclass(frozen=True)
class CallbackPolicy:
    hours: CallingHours
    max_attempts: int = 3
    retry_gap: timedelta = timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> CallbackPolicy:
        return cls(
            hours=CallingHours(
                settings.callback_hours_start,
                settings.callback_hours_end,
                ZoneInfo(settings.callback_timezone),
            ),
            max_attempts=settings.callback_max_attempts,
            retry_gap=timedelta(seconds=settings.callback_retry_gap_s),
        )


@dataclass(frozen=True)
class CallbackState:
    """What the rules read from a ticket."""

    channel: str
    contact_phone: str | None
    status: str
    notified_status: str | None = None
    attempts_status: str | None = None  # the status the attempts were made for
    attempts: int = 0
    last_attempt_at: datetime | None = None
    requested_at: datetime | None = None  # staff asked for a call

    @property
    def attempts_now(self) -> int:
        """Attempts made for the current status (a new status starts again from none)."""
        return self.attempts if self.attempts_status == self.status else 0

    @property
    def staff_asked(self) -> bool:
        """Staff asked for a call that no attempt has answered yet."""
        if self.requested_at is None:
            return False
        return self.last_attempt_at is None or aware(self.requested_at) > aware(
            self.last_attempt_at
        )

    @property
    def has_news(self) -> bool:
        return self.status in CALL_BACK_STATUSES and self.notified_status != self.status


def why_not_now(state: CallbackState, policy: CallbackPolicy, now: datetime) -> Wait | None:
    """Why ``state``'s ticket is not called back at ``now``; None when it is due."""
    if not state.contact_phone:
        return Wait.no_phone
    staff = state.staff_asked
    if not staff and not (state.channel == Channel.phone and state.has_news):
        return Wait.not_wanted
    if not policy.hours.contain(now):
        return Wait.outside_hours
    if staff:
        return None
    if state.attempts_now >= policy.max_attempts:
        return Wait.exhausted
    # The gap follows any attempt, also one for the previous news: no two calls in a row.
    last = state.last_attempt_at
    if last is not None and aware(now) < aware(last) + policy.retry_gap:
        return Wait.too_soon
    return None


def is_due(state: CallbackState, policy: CallbackPolicy, now: datetime) -> bool:
    return why_not_now(state, policy, now) is None


def next_due(state: CallbackState, policy: CallbackPolicy, now: datetime) -> datetime | None:
    """When the ticket will be due if nothing changes; None: never (no consent, no news,
    attempts used up)."""
    reason = why_not_now(state, policy, now)
    if reason is None:
        return aware(now)
    if reason in (Wait.no_phone, Wait.not_wanted, Wait.exhausted):
        return None
    moment = aware(now)
    if reason is Wait.too_soon and state.last_attempt_at is not None:
        moment = aware(state.last_attempt_at) + policy.retry_gap
    return policy.hours.next_opening(moment)


@dataclass(frozen=True)
class Attempt:
    """What one finished call back changes on the ticket."""

    number: int  # 1 for the first attempt for this status
    attempts_status: str
    gave_up: bool  # not reached, and that was the last attempt: left for their next call


def after_attempt(state: CallbackState, outcome: Outcome, policy: CallbackPolicy) -> Attempt:
    number = state.attempts_now + 1
    gave_up = outcome is not Outcome.answered and number >= policy.max_attempts
    return Attempt(number=number, attempts_status=state.status, gave_up=gave_up)


def outcome_of_status(status: int) -> Outcome:
    """A final SIP response to our INVITE as an outcome (0: no response at all)."""
    if 200 <= status < 300:
        return Outcome.answered
    if status in (486, 600):
        return Outcome.busy
    if status in (408, 480, 487):
        return Outcome.no_answer
    if status == 603:
        return Outcome.declined
    return Outcome.failed

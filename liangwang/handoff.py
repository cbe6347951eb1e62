"""Hand a conversation over to a person (转人工), and the live desk that works it.

A handoff is open from the citizen's request until staff close it or hand it back. A
dispatcher claims it: from then on the bot stays silent in that conversation
(``liangwang.dialogue.StaffAwareEngine``), what the citizen writes is kept as messages for
staff, and staff replies reach the citizen in the same chat. Handing back or closing
resolves it; the bot then answers again, where the citizen is in the dialogue.

A handoff nobody claims within the wait (``HandoffPolicy``) tells the citizen honestly
when someone will reply, once, and offers to take the matter as a ticket."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from liangwang.db import Base, utcnow
from liangwang.photos import is_stored
from liangwang.settings import Settings
from liangwang.wording import Say, render

# The channels whose citizens receive staff messages in the same chat: Telegram pushes
# them, the web page asks for them. A phone caller is called back instead.
PUSHED_OR_POLLED = ("web", "telegram")
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Reason(StrEnum):
    """Why the conversation came to a person."""

    asked = "asked"  # asked for a person (转人工)
    fell_back = "fell_back"  # not understood twice, then accepted a person
    key_zero = "key_zero"  # pressed 0 on the phone
    engine_failure = "engine_failure"  # the assistant could not answer
    unfinished_draft = "unfinished_draft"  # a phone draft its caller could not prove
    call_back = "call_back"  # a call back asked for a person


class Sender(StrEnum):
    citizen = "citizen"
    staff = "staff"
    assistant = "assistant"  # the desk's own notices (no one has claimed it yet…)


class HandoffRequest(Base):
    """A conversation a citizen asked to hand over to a person (转人工); staff work the list."""

    __tablename__ = "handoff_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    last_user_text: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(30), default=Reason.asked)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    waiting_notice_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), default=None
    )
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(100), default=None)


class HandoffMessage(Base):
    """One message of a handed-over conversation: the citizen's while it is claimed, a
    staff member's reply, or the desk's notice. ``delivered_at`` is set once a channel
    that pushes (Telegram) has sent it; the web page asks for what is new instead."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoff_requests.id"), index=True)
    conversation_id: Mapped[str] = mapped_column(String(200), index=True)
    sender: Mapped[str] = mapped_column(String(20))
    author: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text)
    # A photo the citizen sent while a person held the chat (liangwang/photos.py).
    photo: Mapped[str | None] = mapped_column(String(200), default=None)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class HandoffNotAllowed(Exception):
    """Claimed by someone else, or already resolved."""


@dataclass(frozen=True)
class HandoffPolicy:
    """How long a citizen waits before being told when someone will reply, and the hours
    staff are at the desk (local time)."""

    wait: timedelta = timedelta(minutes=3)
    desk_opens: time = time(8)
    desk_closes: time = time(20)
    zone: ZoneInfo = SHANGHAI

    @classmethod
    def from_settings(cls, settings: Settings) -> HandoffPolicy:
        return cls(
            wait=timedelta(minutes=settings.handoff_wait_minutes),
            desk_opens=settings.staff_desk_opens,
            desk_closes=settings.staff_desk_closes,
            zone=ZoneInfo(settings.callback_timezone),
        )

    def desk_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone).time()
        return self.desk_opens <= local < self.desk_closes

    def waiting_notice(self, now: datetime) -> str:
        if self.desk_open(now):
            return render(Say("utter_handoff_waiting"))
        hours = {"opens": _spoken_hour(self.desk_opens), "closes": _spoken_hour(self.desk_closes)}
        return render(Say("utter_handoff_waiting_desk_closed", hours))


def _spoken_hour(at: time) -> str:
    return f"{at.hour}:{at.minute:02d}"


def request_handoff(
    session: Session,
    *,
    conversation_id: str,
    channel: str,
    last_user_text: str,
    reason: Reason = Reason.asked,
) -> HandoffRequest:
    """Mark the conversation for staff. Asking again while one is open reuses it."""
    existing = open_handoff(session, conversation_id)
    if existing is not None:
        return existing
    request = HandoffRequest(
        conversation_id=conversation_id,
        channel=channel,
        last_user_text=last_user_text,
        reason=reason,
    )
    session.add(request)
    session.flush()
    return request


def open_handoff(session: Session, conversation_id: str) -> HandoffRequest | None:
    return session.scalars(
        select(HandoffRequest).where(
            HandoffRequest.conversation_id == conversation_id,
            HandoffRequest.resolved_at.is_(None),
        )
    ).first()


def open_handoffs(session: Session) -> list[HandoffRequest]:
    """The queue, oldest first."""
    return list(
        session.scalars(
            select(HandoffRequest)
            .where(HandoffRequest.resolved_at.is_(None))
            .order_by(HandoffRequest.created_at, HandoffRequest.id)
        )
    )


def claimed(session: Session, conversation_id: str) -> HandoffRequest | None:
    """The conversation's open handoff if a person has claimed it (the bot is silent)."""
    found = open_handoff(session, conversation_id)
    return found if found is not None and found.claimed_by else None


def _open_to(handoff: HandoffRequest, username: str) -> None:
    """Refuses a resolved handoff, and one someone else holds."""
    if handoff.resolved_at is not None:
        raise HandoffNotAllowed("resolved already")
    if handoff.claimed_by not in (None, username):
        raise HandoffNotAllowed(f"claimed by {handoff.claimed_by}")


def claim(session: Session, handoff: HandoffRequest, username: str) -> None:
    _open_to(handoff, username)
    handoff.claimed_by, handoff.claimed_at = username, utcnow()


def _must_hold(handoff: HandoffRequest, username: str) -> None:
    if handoff.resolved_at is not None or handoff.claimed_by != username:
        raise HandoffNotAllowed("claim it first")


def reply(session: Session, handoff: HandoffRequest, username: str, text: str) -> HandoffMessage:
    _must_hold(handoff, username)
    return _add(session, handoff, Sender.staff, text, author=username)


def from_citizen(
    session: Session, handoff: HandoffRequest, text: str, photo: str | None = None
) -> HandoffMessage:
    """What the citizen wrote (and a stored photo they sent) while a person holds the chat."""
    message = _add(session, handoff, Sender.citizen, text)
    message.photo = photo if is_stored(photo) else None  # never a URL from outside
    return message


def resolve(session: Session, handoff: HandoffRequest, username: str, handed_back: bool) -> None:
    """Close it, or hand it back to the bot: the citizen is told which, and the bot answers
    their next message where they are in the dialogue."""
    _open_to(handoff, username)
    if handoff.channel in PUSHED_OR_POLLED:
        notice = "utter_handoff_handed_back" if handed_back else "utter_handoff_closed"
        _add(session, handoff, Sender.assistant, render(Say(notice)))
    handoff.resolved_at, handoff.resolved_by = utcnow(), username


def _add(
    session: Session, handoff: HandoffRequest, sender: Sender, text: str, author: str = ""
) -> HandoffMessage:
    message = HandoffMessage(
        handoff_id=handoff.id,
        conversation_id=handoff.conversation_id,
        sender=sender,
        author=author,
        text=text,
    )
    session.add(message)
    session.flush()
    return message


def messages(session: Session, handoff: HandoffRequest, after: int = 0) -> list[HandoffMessage]:
    """What was said at the desk in this handoff after message ``after``, in order."""
    return list(
        session.scalars(
            select(HandoffMessage)
            .where(HandoffMessage.handoff_id == handoff.id, HandoffMessage.id > after)
            .order_by(HandoffMessage.id)
        )
    )


def for_conversation(
    session: Session, conversation_id: str, limit: int = 200
) -> list[HandoffMessage]:
    """Everything said at the desk in this conversation (its latest ``limit``), in order."""
    latest = session.scalars(
        select(HandoffMessage)
        .where(HandoffMessage.conversation_id == conversation_id)
        .order_by(HandoffMessage.id.desc())
        .limit(limit)
    ).all()
    return list(reversed(latest))


def for_citizen_since(
    session: Session, conversation_id: str, after_id: int, limit: int = 50
) -> list[HandoffMessage]:
    """What staff and the desk said to this conversation after ``after_id``."""
    return list(
        session.scalars(
            select(HandoffMessage)
            .where(
                HandoffMessage.conversation_id == conversation_id,
                HandoffMessage.id > after_id,
                HandoffMessage.sender != Sender.citizen,
            )
            .order_by(HandoffMessage.id)
            .limit(limit)
        )
    )


def undelivered(session: Session, channel: str, limit: int = 100) -> list[HandoffMessage]:
    """Staff replies and notices a pushing channel has not sent yet, oldest first."""
    return list(
        session.scalars(
            select(HandoffMessage)
            .join(HandoffRequest, HandoffRequest.id == HandoffMessage.handoff_id)
            .where(
                HandoffRequest.channel == channel,
                HandoffMessage.sender != Sender.citizen,
                HandoffMessage.delivered_at.is_(None),
            )
            .order_by(HandoffMessage.id)
            .limit(limit)
        )
    )


def tell_the_unclaimed(session: Session, policy: HandoffPolicy, now: datetime | None = None) -> int:
    """Each open chat handoff nobody claimed within the wait gets the desk's notice once:
    when someone will reply, and that the assistant can take the matter as a ticket."""
    now = now or utcnow()
    waiting = session.scalars(
        select(HandoffRequest).where(
            HandoffRequest.resolved_at.is_(None),
            HandoffRequest.claimed_by.is_(None),
            HandoffRequest.waiting_notice_at.is_(None),
            HandoffRequest.created_at <= now - policy.wait,
            HandoffRequest.channel.in_(PUSHED_OR_POLLED),
        )
    ).all()
    told = 0
    for handoff in waiting:
        # Taken with a conditional update: of several web processes doing this at once,
        # only one tells each citizen.
        taken = session.execute(
            update(HandoffRequest)
            .where(HandoffRequest.id == handoff.id, HandoffRequest.waiting_notice_at.is_(None))
            .values(waiting_notice_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0) == 1:
            _add(session, handoff, Sender.assistant, policy.waiting_notice(now))
            told += 1
    return told


def as_citizen_sees(message: HandoffMessage) -> str:
    """A desk message as shown in the citizen's chat: staff replies say who wrote them."""
    if message.sender == Sender.staff:
        return render(Say("utter_channel_staff_reply", {"text": message.text}))
    return message.text

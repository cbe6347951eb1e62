"""The call-back queue, kept on the tickets themselves: which tickets are due now, a call
staff ask for, what a call back says, and what each attempt did — every attempt on the
ticket's audit trail. The rules are in ``liangwang.complaints.callbacks``; the phone line
(``voice.callbacks``) places the calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from liangwang import leases
from liangwang.complaints import tickets
from liangwang.complaints.callbacks import (
    CALL_BACK_STATUSES,
    CallbackPolicy,
    CallbackState,
    Outcome,
    after_attempt,
    is_due,
    next_due,
)
from liangwang.complaints.categories import Categories
from liangwang.complaints.models import Ticket, TicketAction
from liangwang.complaints.status import status_says
from liangwang.complaints.tickets import TransitionNotAllowed
from liangwang.complaints.validation import InvalidInput
from liangwang.conversation import Channel
from liangwang.db import utcnow
from liangwang.handoff import Reason, request_handoff
from liangwang.labels import CALLBACK_OUTCOME_NAMES, TICKET_NOTES
from liangwang.wording import Say

CALLBACK_ACTOR = "phone-callback"  # the audit trail's actor for the phone line's calls
# How long a claim on a ticket's call back lasts if the process that made it dies before
# recording the attempt: longer than ringing plus the longest call back.
CLAIM_TTL = timedelta(minutes=30)


class NoContactPhone(ValueError):
    """The citizen left no number: nobody may call them back."""


def state_of(ticket: Ticket) -> CallbackState:
    return CallbackState(
        channel=ticket.channel,
        contact_phone=ticket.contact_phone,
        status=ticket.status,
        notified_status=ticket.notified_status,
        attempts_status=ticket.callback_status,
        attempts=ticket.callback_attempts or 0,
        last_attempt_at=ticket.callback_last_at,
        requested_at=ticket.callback_requested_at,
    )


def due(session: Session, policy: CallbackPolicy, now: datetime | None = None) -> list[Ticket]:
    """Tickets to call back now, staff's requests first, then the oldest news first."""
    now = now or utcnow()
    candidates = select(Ticket).where(
        Ticket.contact_phone.is_not(None),
        or_(
            Ticket.callback_requested_at.is_not(None),
            and_(
                Ticket.channel == Channel.phone,
                Ticket.status.in_([s.value for s in CALL_BACK_STATUSES]),
                Ticket.has_news,
            ),
        ),
    )
    found = [t for t in session.scalars(candidates) if is_due(state_of(t), policy, now)]
    return sorted(found, key=lambda t: (not state_of(t).staff_asked, t.updated_at))


def _claim_name(ticket_id: int) -> str:
    return f"callback:{ticket_id}"


def claim(
    session: Session, ticket: Ticket, policy: CallbackPolicy, holder: str, now: datetime
) -> bool:
    """Claim the call back of ``ticket`` for ``holder``, one of several phone processes:
    False when another holds it, or when it is no longer due once claimed (another
    process called and recorded it since ``due`` was read). Released by ``record_attempt``.
    """
    if not leases.hold(session, _claim_name(ticket.id), holder, CLAIM_TTL, now):
        return False
    session.refresh(ticket)
    if is_due(state_of(ticket), policy, now):
        return True
    leases.release(session, _claim_name(ticket.id), holder)
    return False


def citizen(ticket: Ticket) -> str:
    """The citizen as an actor: their phone conversation id, as when they call us."""
    return Channel.phone.conversation_id(ticket.contact_phone or "")


@dataclass(frozen=True)
class CallbackScript:
    """What one call back says, taken from the ticket when the call is placed."""

    ticket_id: int
    number: str  # the ticket's number
    phone: str  # whom we call
    status: str  # the status we tell them about
    says: tuple[Say, ...]  # who is calling and why, then the answer
    asks_rating: bool  # 办结 and not rated yet: ask for 1–5


def script_for(
    ticket: Ticket, categories: Categories, fragments: Mapping[str, str]
) -> CallbackScript:
    says = [Say("utter_callback_intro"), *status_says(ticket, categories, fragments)]
    return CallbackScript(
        ticket_id=ticket.id,
        number=ticket.number,
        phone=ticket.contact_phone or "",
        status=ticket.status,
        says=tuple(says),
        asks_rating=ticket.awaiting_rating,
    )


def request(
    session: Session,
    ticket: Ticket,
    *,
    actor: str,
    policy: CallbackPolicy,
    now: datetime | None = None,
) -> datetime:
    """Staff ask for a call back now; returns when it will be placed (now, or when the
    calling hours next open). Raises ``NoContactPhone``."""
    if not ticket.contact_phone:
        raise NoContactPhone(ticket.number)
    now = now or utcnow()
    ticket.callback_requested_at = now
    when = next_due(state_of(ticket), policy, now) or now
    at = TICKET_NOTES["callback_now"]
    if when > now:
        local = when.astimezone(policy.hours.zone).strftime("%Y-%m-%d %H:%M")
        at = TICKET_NOTES["callback_at"].format(at=local)
    tickets.audit(
        ticket,
        TicketAction.callback_request,
        actor=actor,
        at=now,
        note=TICKET_NOTES["callback_requested"].format(at=at),
    )
    session.flush()
    return when


def told(session: Session, ticket_id: int, status: str) -> None:
    """The citizen heard the answer for ``status`` on a call back: that news is told."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is not None:
        ticket.notified_status = status


def rate(session: Session, ticket_id: int, stars: int) -> bool:
    """好差评 given on a call back, through the audited ``tickets.rate``. False when the
    ticket cannot take it (not 办结 any more, or an invalid score)."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        return False
    try:
        tickets.rate(session, ticket, stars, actor=citizen(ticket))
    except (TransitionNotAllowed, InvalidInput):
        return False
    return True


def hand_over(session: Session, ticket_id: int, last_words: str) -> None:
    """转人工 on a call back: listed for staff like any phone caller's request."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is not None:
        request_handoff(
            session,
            conversation_id=citizen(ticket),
            channel=Channel.phone,
            last_user_text=last_words,
            reason=Reason.call_back,
        )


@dataclass(frozen=True)
class CallReport:
    """How one attempt went, as the phone line saw it."""

    outcome: Outcome
    detail: str = ""  # e.g. the SIP response, "486 Busy Here"
    rating: int | None = None
    handed_over: bool = False


def record_attempt(
    session: Session,
    ticket_id: int,
    report: CallReport,
    *,
    policy: CallbackPolicy,
    holder: str = "",
    now: datetime | None = None,
) -> str:
    """Count the attempt and add it to the audit trail, giving up ``holder``'s claim on
    it; returns the note written."""
    leases.release(session, _claim_name(ticket_id), holder)
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        return ""
    now = now or utcnow()
    attempt = after_attempt(state_of(ticket), report.outcome, policy)
    note = TICKET_NOTES["callback_attempt"].format(
        outcome=report.outcome.value,
        attempt=attempt.number,
        name=CALLBACK_OUTCOME_NAMES[report.outcome],
    )
    if report.detail:
        note += TICKET_NOTES["callback_detail"].format(detail=report.detail)
    if report.rating is not None:
        note += TICKET_NOTES["callback_rated"].format(stars=report.rating)
    if report.handed_over:
        note += TICKET_NOTES["callback_handoff"]
    if attempt.gave_up:
        note += TICKET_NOTES["callback_gave_up"].format(attempts=attempt.number)
    ticket.callback_status = attempt.attempts_status
    ticket.callback_attempts = attempt.number
    ticket.callback_last_at = now
    tickets.audit(ticket, TicketAction.callback_attempt, actor=CALLBACK_ACTOR, at=now, note=note)
    session.flush()
    return note

"""What the Telegram channel sends unasked: ticket status changes, and what staff (or the
handoff desk) wrote to a citizen.

- One message at a time, each marked sent in its own transaction the moment it went out,
  so a later failure never makes an earlier one go twice; no transaction is held open
  while a message is on its way.
- A status push that fails (the user blocked the bot, the network) is recorded on the
  ticket and tried again after a pause that doubles each time (a minute up to a day);
  the other citizens' pushes go on meanwhile.
- Of several channel processes, the one holding the pusher's lease pushes
  (liangwang/leases.py); the others wait their turn in case it dies.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot
from telegram.error import TelegramError

from channels.telegram_sending import send_text
from liangwang import handoff, leases
from liangwang.complaints.categories import load_categories
from liangwang.complaints.models import Ticket
from liangwang.complaints.updates import pending_updates
from liangwang.conversation import Channel
from liangwang.db import unit_of_work, utcnow
from liangwang.wording import fragments, render

log = logging.getLogger(__name__)
LEASE = "telegram-pusher"
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(days=1)
HOLDER = leases.new_holder()


def retry_pause(failures: int) -> timedelta:
    doubled: timedelta = FIRST_RETRY * (2 ** max(0, min(failures - 1, 20)))
    return min(LONGEST_RETRY, doubled)


async def push_updates_once(bot: Bot, sessions: sessionmaker[Session]) -> int:
    """Tell Telegram citizens about their tickets' status changes; returns how many."""
    with sessions() as session:
        due = [
            (t.id, t.status, int(Channel.telegram.local_id(str(t.identity))), says)
            for t, says in pending_updates(
                session, Channel.telegram, load_categories(), fragments(), utcnow()
            )
        ]
    sent = 0
    for ticket_id, status, chat_id, says in due:
        try:
            await send_text(bot, chat_id, "\n".join(render(s) for s in says), "status push")
        except TelegramError as exc:
            with unit_of_work(sessions) as session:
                _failed(session.get(Ticket, ticket_id), exc)
            continue
        with unit_of_work(sessions) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is not None:  # told the status it had when the message was made
                ticket.notified_status = status
                ticket.push_failures, ticket.push_retry_at, ticket.push_error = 0, None, None
        sent += 1
    return sent


def _failed(ticket: Ticket | None, exc: TelegramError) -> None:
    if ticket is None:
        return
    ticket.push_failures += 1
    ticket.push_retry_at = utcnow() + retry_pause(ticket.push_failures)
    ticket.push_error = f"{type(exc).__name__}: {exc}"[:200]
    log.warning("status push of ticket %s failed (%s); again at %s",
                ticket.number, ticket.push_error, ticket.push_retry_at)  # fmt: skip


async def push_desk_messages_once(bot: Bot, sessions: sessionmaker[Session]) -> int:
    """Send what staff (or the handoff desk) wrote to Telegram citizens; returns how many.
    One that fails stays undelivered and is tried again next round."""
    with sessions() as session:
        waiting = [
            (m.id, int(Channel.telegram.local_id(m.conversation_id)), handoff.as_citizen_sees(m))
            for m in handoff.undelivered(session, Channel.telegram)
        ]
    sent = 0
    for message_id, chat_id, text in waiting:
        try:
            await send_text(bot, chat_id, text, "staff reply")
        except TelegramError:
            log.warning("staff reply %s not delivered yet", message_id, exc_info=True)
            continue
        with unit_of_work(sessions) as session:
            message = session.get(handoff.HandoffMessage, message_id)
            if message is not None:
                message.delivered_at = utcnow()
        sent += 1
    return sent


async def push_loop(bot: Bot, sessions: sessionmaker[Session], every_s: float) -> None:
    ttl = timedelta(seconds=3 * every_s)
    while True:
        with unit_of_work(sessions) as session:
            mine = leases.hold(session, LEASE, HOLDER, ttl)
        if mine:
            for push in (push_updates_once, push_desk_messages_once):
                try:
                    await push(bot, sessions)
                except Exception:  # keep pushing; one bad message must not stop the rest
                    log.exception("pushing to Telegram failed (%s)", push.__name__)
        await asyncio.sleep(every_s)

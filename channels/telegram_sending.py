"""Sending to Telegram with retries: a send that meets a network error is tried again
after a growing pause, and one refused with RetryAfter (flood control) waits as long as
Telegram says. A user who blocked the bot (Forbidden) is not retried: the caller decides."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol, TypeVar

from telegram import Bot, Chat, File, InlineKeyboardMarkup, Message, ReplyKeyboardMarkup
from telegram.error import NetworkError, RetryAfter

log = logging.getLogger(__name__)
T = TypeVar("T")

ATTEMPTS = 4
FIRST_PAUSE_S = 0.5  # then 1 s, 2 s
LONGEST_WAIT_S = 60.0  # a RetryAfter asking for longer is not waited out here


def _seconds(retry_after: int | float | timedelta) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else retry_after


async def with_retries(send: Callable[[], Awaitable[T]], what: str = "send") -> T:
    pause = FIRST_PAUSE_S
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await send()
        except RetryAfter as exc:
            wait = _seconds(exc.retry_after)
            if attempt == ATTEMPTS or wait > LONGEST_WAIT_S:
                raise
            log.warning("%s: Telegram asks to wait %.1f s (attempt %d)", what, wait, attempt)
            await asyncio.sleep(wait)
        except NetworkError as exc:  # (Forbidden is not one: a blocked bot is not retried)
            if attempt == ATTEMPTS:
                raise
            log.warning("%s failed (%s), trying again in %.1f s", what, exc, pause)
            await asyncio.sleep(pause)
            pause *= 2
    raise AssertionError("unreachable")


async def send_text(bot: Bot, chat_id: int, text: str, what: str) -> Message:
    """A message to a chat by its id (a push: no update to answer), with retries."""
    return await with_retries(lambda: bot.send_message(chat_id, text), what)


Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup


async def say(chat: Chat, text: str, markup: Markup | None = None) -> Message:
    """``text`` to ``chat`` (with its buttons), retried as above."""
    return await with_retries(lambda: chat.send_message(text, reply_markup=markup))


class Sent(Protocol):
    """A file a citizen sent (a photo's size, a voice note)."""

    async def get_file(self) -> File: ...


async def download(sent: Sent) -> bytes:
    """The file's bytes, fetched from the Bot API's file server (its path carries the
    token: it is never kept or logged)."""
    return bytes(await (await sent.get_file()).download_as_bytearray())

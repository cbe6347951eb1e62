"""The dialogue engine port: every channel talks to the assistant through this interface.

``RasaRestEngine`` is the real adapter (Rasa's REST webhook); ``RecordingEngine`` is the
fake for channel tests: it records what was sent and answers from a script.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from liangwang.conversation import BotMessage
from liangwang.settings import Settings

# Starts a new dialogue session (each phone call does): the only message the engine may
# rightly answer with nothing.
NEW_SESSION = "/session_start"


class DialogueError(Exception):
    """The dialogue engine could not answer (down, timed out, or replied with garbage)."""


class NothingSaid(DialogueError):
    """The engine answered a citizen's message with nothing: Rasa does, with HTTP 200 and
    an empty list, when a custom action fails. Channels apologise as for any failure,
    never leave the citizen in silence."""


def answered(turn: UserTurn, messages: list[BotMessage]) -> list[BotMessage]:
    """``messages``, or NothingSaid when there are none for a message that needs a reply."""
    if not messages and turn.text != NEW_SESSION:
        raise NothingSaid(f"no reply to a {turn.channel} message")
    return messages


class MessageTooLong(ValueError):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"message has {length} characters, the limit is {limit}")
        self.length = length
        self.limit = limit


@dataclass(frozen=True)
class UserTurn:
    conversation_id: str
    text: str
    channel: str
    metadata: dict[str, Any] = field(default_factory=dict)


class DialogueEngine(ABC):
    @abstractmethod
    async def send(self, turn: UserTurn) -> list[BotMessage]:
        """Deliver one user message and return the assistant's replies in order."""

    async def aclose(self) -> None:  # noqa: B027  (optional hook for adapters that hold connections)
        pass


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def without_control_characters(text: str) -> str:
    """What a citizen typed, without control characters (a NUL cannot even be stored in
    PostgreSQL text); line breaks and tabs stay."""
    return _CONTROL.sub("", text)


# A "\ud800" escape in a request's JSON decodes to a lone surrogate, which UTF-8 cannot
# encode: neither the engine's request nor a reply quoting it could be sent.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def readable(text: str) -> str:
    """What a citizen sent, as every channel passes it on: a lone surrogate becomes U+FFFD
    (as bytes that are not UTF-8 become), control characters go, and so do the spaces
    around it. Empty: nothing was said."""
    return without_control_characters(_LONE_SURROGATE.sub("\ufffd", text)).strip()


def check_length(text: str, limit: int) -> None:
    if len(text) > limit:
        raise MessageTooLong(len(text), limit)


class RasaRestEngine(DialogueEngine):
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        max_chars: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport)
        self._max_chars = max_chars

    @classmethod
    def from_settings(cls, settings: Settings) -> RasaRestEngine:
        return cls(
            settings.rasa_url,
            timeout_s=settings.turn_timeout_s,
            max_chars=settings.max_message_chars,
        )

    async def send(self, turn: UserTurn) -> list[BotMessage]:
        check_length(turn.text, self._max_chars)
        payload = {
            "sender": turn.conversation_id,
            "message": without_control_characters(turn.text),
            # Rasa's REST channel records input_channel from the URL name ("rest"); we
            # keep our own channel name in metadata so staff see where a citizen came from.
            "metadata": {"channel": turn.channel, **turn.metadata},
        }
        try:
            response = await self._client.post("/webhooks/rest/webhook", json=payload)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DialogueError(f"Rasa did not answer: {exc!r}") from exc
        if not isinstance(body, list):
            raise DialogueError(f"unexpected reply from Rasa: {body!r}")
        return answered(turn, [to_message(item) for item in body if isinstance(item, dict)])

    async def aclose(self) -> None:
        await self._client.aclose()


def to_message(item: dict[str, Any]) -> BotMessage:
    """A message of Rasa's REST reply, typed."""
    custom = item.get("custom")
    return BotMessage(
        text=item.get("text"),
        buttons=list(item.get("buttons") or []),
        image=item.get("image"),
        custom=custom if isinstance(custom, dict) else {},
    )


class RecordingEngine(DialogueEngine):
    """Fake engine: records every turn; answers with ``reply(turn)`` (default: echo)."""

    def __init__(self, reply: Callable[[UserTurn], list[BotMessage]] | None = None) -> None:
        self.turns: list[UserTurn] = []
        self._reply = reply or (lambda turn: [BotMessage(text=turn.text)])

    async def send(self, turn: UserTurn) -> list[BotMessage]:
        self.turns.append(turn)
        return answered(turn, self._reply(turn))

"""Voice on Telegram, through the speech port (liangwang.speech): a voice note checked
against the limits before it is fetched, heard, and each reply spoken as a voice note;
a user's choice of spoken replies (/voice) kept in the database."""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker
from telegram import Audio, Chat, Voice

from channels.telegram_sending import download, say, with_retries
from liangwang import voice_replies
from liangwang.db import unit_of_work
from liangwang.speech import Heard, Speech, SpeechUnavailable, UnreadableRecording
from liangwang.wording import Say, render

log = logging.getLogger(__name__)


class VoiceNotes:
    def __init__(
        self,
        speech: Speech,
        sessions: sessionmaker[Session] | None,  # where /voice choices are kept
        max_bytes: int,
        max_seconds: float,
    ) -> None:
        self.speech = speech
        self._sessions = sessions
        self._max_bytes = max_bytes
        self._max_seconds = max_seconds

    def wanted(self, user: str) -> bool:
        """Whether ``user`` asked for every reply spoken (blocking: a worker thread's)."""
        if self._sessions is None or not self.speech.available:
            return False
        with unit_of_work(self._sessions) as session:
            return voice_replies.wanted(session, user)

    async def toggle(self, user: str) -> bool | None:
        """Spoken replies on if off, off if on; None when voice cannot be had here."""
        sessions = self._sessions
        if sessions is None or not self.speech.available:
            return None

        def flip() -> bool:
            with unit_of_work(sessions) as session:
                return voice_replies.toggle(session, user)

        return await asyncio.to_thread(flip)

    async def speak(self, chat: Chat, texts: list[str]) -> None:
        """Each reply as a voice note, after the texts (which alone carry buttons): the
        first is heard while the next is made."""
        for text in texts:
            try:
                note = await self.speech.speak_voice_note([text])
            except SpeechUnavailable:
                log.warning("a voice reply could not be made; it was sent as text only")
                return
            await with_retries(functools.partial(chat.send_voice, voice=note))

    async def hear(self, chat: Chat, user: str, recording: Voice | Audio) -> Heard | None:
        """What the recording says, or None once the citizen was told why not."""
        if not self.speech.available:
            await say(chat, render(Say("utter_channel_voice_unavailable")))
            return None
        duration = recording.duration  # seconds; a timedelta in later versions of the library
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else duration
        too_long = (seconds or 0) > self._max_seconds or (
            recording.file_size or 0
        ) > self._max_bytes
        if too_long:
            limit = str(int(self._max_seconds))
            await say(chat, render(Say("utter_channel_voice_too_long", {"seconds": limit})))
            return None
        try:
            content = await download(recording)
            heard = await self.speech.hear_recording(user, content[: self._max_bytes])
        except UnreadableRecording as exc:
            log.info("a voice note could not be heard: %s", exc)
            await say(chat, render(Say("utter_channel_voice_unreadable")))
            return None
        except SpeechUnavailable:
            log.exception("speech recognition is not available")
            await say(chat, render(Say("utter_channel_voice_unavailable")))
            return None
        if not heard.anything:
            await say(chat, render(Say("utter_channel_not_heard")))
            return None
        return heard

"""The dialogue engine, silent where a person holds the conversation.

Every chat channel sends its turns through this decorator: while staff have claimed a
handoff, what the citizen writes is kept for them (``liangwang.handoff``) and the bot
says nothing; once they hand back or close it, turns reach the engine again, and the
dialogue goes on where it was."""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import Session, sessionmaker

from liangwang.conversation import BotMessage
from liangwang.db import unit_of_work
from liangwang.dialogue import DialogueEngine, UserTurn
from liangwang.handoff import claimed, from_citizen


class StaffAwareEngine(DialogueEngine):
    def __init__(self, inner: DialogueEngine, sessions: sessionmaker[Session]) -> None:
        self.inner = inner
        self.sessions = sessions

    def _kept_for_staff(self, turn: UserTurn) -> bool:
        with unit_of_work(self.sessions) as session:
            held = claimed(session, turn.conversation_id)
            if held is None:
                return False
            photo = turn.metadata.get("media_url")
            from_citizen(session, held, turn.text, photo if isinstance(photo, str) else None)
            return True

    async def send(self, turn: UserTurn) -> list[BotMessage]:
        if await asyncio.to_thread(self._kept_for_staff, turn):
            return []
        return await self.inner.send(turn)

    async def aclose(self) -> None:
        await self.inner.aclose()

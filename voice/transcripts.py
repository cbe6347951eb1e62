"""The real transcript recorder: WAV files under the recordings folder, rows in the DB."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from liangwang.db import unit_of_work, utcnow
from liangwang.transcripts import Call, CallTurn
from voice.audio import Audio
from voice.ports import TurnRecord

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class StoredTranscripts:
    def __init__(self, sessions: sessionmaker[Session], recordings_dir: Path) -> None:
        self._sessions = sessions
        self._dir = recordings_dir

    def folder(self, call_id: str) -> Path:
        # Call-IDs come from the network: never let one name a path outside the folder.
        return self._dir / (_UNSAFE.sub("_", call_id)[:120] or "call")

    def start_call(self, call_id: str, caller: str, line: str) -> None:
        with unit_of_work(self._sessions) as session:
            session.add(Call(call_id=call_id, caller=caller, line=line))

    def add_turn(self, call_id: str, turn: TurnRecord) -> None:
        caller_file = self._save(call_id, f"{turn.index:03d}-caller.wav", turn.caller_audio)
        reply_file = self._save(call_id, f"{turn.index:03d}-reply.wav", turn.reply_audio)
        with unit_of_work(self._sessions) as session:
            call = self._call(session, call_id)
            call.turns.append(
                CallTurn(
                    index=turn.index,
                    recognized=turn.recognized,
                    confidence=turn.confidence,
                    keys=turn.keys,
                    reply="\n".join(turn.reply),
                    caller_audio=caller_file,
                    reply_audio=reply_file,
                    latency_ms=turn.latency_ms,
                )
            )

    def end_call(self, call_id: str, reason: str) -> None:
        with unit_of_work(self._sessions) as session:
            call = self._call(session, call_id)
            call.ended_at, call.end_reason = utcnow(), reason

    def _call(self, session: Session, call_id: str) -> Call:
        return session.scalars(select(Call).where(Call.call_id == call_id)).one()

    def _save(self, call_id: str, name: str, audio: Audio | None) -> str | None:
        if audio is None or not audio.pcm:
            return None
        folder = self.folder(call_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(audio.to_wav())
        return f"{folder.name}/{name}"

"""The real transcript recorder: WAV files under the recordings folder, rows in the DB."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from liangwang.db import unit_of_work, utcnow
from liangwang.transcripts import Call, CallTurn
from voice.audio import Audio
from voice.ports import TurnRecord


class StoredTranscripts:
    """Each call is a row, found by the line's call id while the call lasts; its WAVs are
    filed under the row's database id. A call id comes from the network: it never names a
    path, and one that comes again (a PBX reusing Call-IDs) starts a new call, never
    overwrites an earlier one's recordings."""

    def __init__(self, sessions: sessionmaker[Session], recordings_dir: Path) -> None:
        self._sessions = sessions
        self._dir = recordings_dir
        self._current: dict[str, int] = {}  # call id → row id, for calls in progress

    def folder(self, call_id: str) -> Path:
        return self._dir / str(self._current[call_id])

    def start_call(self, call_id: str, caller: str, line: str) -> None:
        with unit_of_work(self._sessions) as session:
            call = Call(call_id=call_id, caller=caller, line=line)
            session.add(call)
            session.flush()
            self._current[call_id] = call.id

    def add_turn(self, call_id: str, turn: TurnRecord) -> None:
        caller_file = self._save(call_id, f"{turn.index:03d}-caller.wav", turn.caller_audio)
        reply_file = self._save(call_id, f"{turn.index:03d}-reply.wav", turn.reply_audio)
        with unit_of_work(self._sessions) as session:
            call = session.get_one(Call, self._current[call_id])
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
            call = session.get_one(Call, self._current.pop(call_id))
            call.ended_at, call.end_reason = utcnow(), reason

    def _save(self, call_id: str, name: str, audio: Audio | None) -> str | None:
        if audio is None or not audio.pcm:
            return None
        folder = self.folder(call_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(audio.to_wav())
        return f"{folder.name}/{name}"

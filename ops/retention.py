"""The retention job: personal data is kept only as long as its setting says.

Removed when older than their ``LIANGWANG_RETENTION_*_DAYS``:
- call recordings (WAV files): the transcript row keeps its words, its audio reference
  is cleared;
- conversations in Rasa's SQL tracker store (its ``events`` rows): Rasa keeps them
  forever otherwise;
- photos sent with complaints (the ticket keeps that there was one);
- the speech cache's WAVs (only the domain's fixed sentences: made again when needed);
- unfinished complaints (drafts) nobody has added to since;
- Telegram users' choice of spoken replies, unchanged as long as a conversation is kept;
- conversations in the review tables (with the conversations' days).

``liangwang run`` starts it as a service that purges once at start and then daily;
``python -m ops.retention --once`` purges once. Where several copies run (the scaled
profile, several machines), the one holding the lease purges (liangwang/leases.py); the
others take over if it stops renewing it.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from liangwang import leases, voice_replies
from liangwang.complaints.models import ComplaintDraft, Ticket
from liangwang.db import make_engine, sessions_for, unit_of_work, utcnow
from liangwang.photos import PREFIX as PHOTO_PREFIX
from liangwang.photos import PhotoStore
from liangwang.review import ingest as review_ingest
from liangwang.settings import Settings, load_settings
from liangwang.transcripts import Call, CallTurn

log = logging.getLogger(__name__)
EVERY_S = 24 * 3600
LEASE = "retention"
# Renewed at every daily purge; lapses half a day after a missed one.
LEASE_TTL = timedelta(seconds=EVERY_S * 1.5)


@dataclass(frozen=True)
class Purged:
    recordings: int = 0  # WAV files
    conversation_events: int = 0  # tracker store rows
    photos: int = 0
    speech_files: int = 0
    drafts: int = 0
    voice_choices: int = 0
    review_turns: int = 0


def purge(
    settings: Settings,
    now: datetime | None = None,
    sessions: sessionmaker[Session] | None = None,
) -> Purged:
    now = now or utcnow()
    sessions = sessions or sessions_for(settings.effective_database_url)
    return Purged(
        recordings=_recordings(
            settings, sessions, now - timedelta(days=settings.retention_recordings_days)
        ),
        conversation_events=_conversations(
            settings, now - timedelta(days=settings.retention_conversations_days)
        ),
        photos=_photos(settings, sessions, now - timedelta(days=settings.retention_photos_days)),
        speech_files=_older_files(
            settings.tts_cache_dir, now - timedelta(days=settings.retention_speech_cache_days)
        ),
        drafts=_drafts(sessions, now - timedelta(days=settings.retention_drafts_days)),
        voice_choices=_voice_choices(
            sessions, now - timedelta(days=settings.retention_conversations_days)
        ),
        review_turns=_review(sessions, now - timedelta(days=settings.retention_conversations_days)),
    )


def purge_if_mine(
    settings: Settings, sessions: sessionmaker[Session], holder: str, now: datetime | None = None
) -> Purged | None:
    """Purge if ``holder`` holds (or takes) the retention lease; None when another does."""
    now = now or utcnow()
    with unit_of_work(sessions) as session:
        mine = leases.hold(session, LEASE, holder, LEASE_TTL, now)
    return purge(settings, now, sessions) if mine else None


def _recordings(settings: Settings, sessions: sessionmaker[Session], before: datetime) -> int:
    removed = 0
    with unit_of_work(sessions) as session:
        old = select(CallTurn).join(Call).where(Call.started_at < before)
        for turn in session.scalars(old):
            for side in ("caller_audio", "reply_audio"):
                name = getattr(turn, side)
                if name:
                    removed += _remove(settings.recordings_dir / name)
                    setattr(turn, side, None)
    return removed


def _conversations(settings: Settings, before: datetime) -> int:
    engine = make_engine(settings.effective_tracker_store_url)
    try:
        if not inspect(engine).has_table("events"):
            return 0  # Rasa has not run yet
        with engine.begin() as connection:
            deleted = connection.execute(
                text("DELETE FROM events WHERE timestamp < :before"),
                {"before": before.timestamp()},
            )
            return int(deleted.rowcount or 0)
    finally:
        engine.dispose()


def _review(sessions: sessionmaker[Session], before: datetime) -> int:
    with unit_of_work(sessions) as session:
        return review_ingest.forget_before(session, before)


def _photos(settings: Settings, sessions: sessionmaker[Session], before: datetime) -> int:
    store, removed = PhotoStore.from_settings(settings), 0
    with unit_of_work(sessions) as session:
        old = select(Ticket).where(
            Ticket.requested_at < before, Ticket.media_url.startswith(PHOTO_PREFIX)
        )
        for ticket in session.scalars(old):
            kept = store.file_of(ticket.media_url)
            removed += _remove(kept) if kept is not None else 0
            ticket.media_url = None
    return removed


def _drafts(sessions: sessionmaker[Session], before: datetime) -> int:
    with unit_of_work(sessions) as session:
        deleted = session.execute(delete(ComplaintDraft).where(ComplaintDraft.updated_at < before))
        return int(getattr(deleted, "rowcount", 0) or 0)


def _voice_choices(sessions: sessionmaker[Session], before: datetime) -> int:
    with unit_of_work(sessions) as session:
        return voice_replies.forget_older_than(session, before)


def _older_files(folder: Path, before: datetime) -> int:
    if not folder.exists():
        return 0
    cutoff = before.timestamp()
    return sum(_remove(p) for p in folder.rglob("*") if p.is_file() and p.stat().st_mtime < cutoff)


def _remove(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--once", action="store_true", help="purge once and exit")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    sessions = sessions_for(settings.effective_database_url)
    if args.once:
        log.info("retention: %s", purge(settings, sessions=sessions))
        return
    holder = leases.new_holder()
    while True:
        try:
            purged = purge_if_mine(settings, sessions, holder)
            log.info("retention: %s", purged or "another copy holds the lease")
        except Exception:  # a failed purge is tried again tomorrow; the stack goes on
            log.exception("retention: the purge failed")
        time.sleep(EVERY_S)


if __name__ == "__main__":
    main()

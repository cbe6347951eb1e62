"""Personal data is kept only as long as its retention setting says: old recordings,
conversations, photos, speech cache files and drafts are removed; newer ones and the words of a
transcript stay."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from liangwang import voice_replies
from liangwang.complaints import tickets
from liangwang.complaints.desk import save_draft
from liangwang.complaints.models import ComplaintDraft, Ticket
from liangwang.complaints.tickets import NewTicket
from liangwang.db import migrate, sessions_for, unit_of_work, utcnow
from liangwang.settings import Settings
from liangwang.transcripts import Call, CallTurn
from ops.retention import purge, purge_if_mine
from ops.stack import build_stack

# The columns of Rasa's SQL tracker store's table that we read or purge by.
TRACKER_EVENTS = (
    "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT, "
    "type_name TEXT, timestamp FLOAT, data TEXT)"
)


def test_old_personal_data_is_removed_and_recent_data_kept(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = Settings(database_url=db_url, data_dir=tmp_path / "var")
    now = utcnow()
    old, recent = now - timedelta(days=100), now - timedelta(days=10)

    # Two calls with a recording each: one 100 days old (past the 90 days), one recent.
    with unit_of_work(sessions) as s:
        for pk, started in ((1, old), (2, recent)):
            folder = settings.recordings_dir / str(pk)
            folder.mkdir(parents=True)
            (folder / "001-caller.wav").write_bytes(b"RIFF")
            call = Call(id=pk, call_id=f"c{pk}", caller="13800000000", line="sip")
            call.started_at = started
            call.turns.append(
                CallTurn(
                    index=1,
                    recognized="路灯坏了",
                    keys="",
                    reply="好的",
                    caller_audio=f"{pk}/001-caller.wav",
                    reply_audio=None,
                )
            )
            s.add(call)
    # Photos with two tickets: one filed 400 days ago (past the 365 days), one recent.
    photos = settings.data_dir / "photos"
    photos.mkdir(parents=True)
    with unit_of_work(sessions) as s:
        for name, filed in (("a" * 32, now - timedelta(days=400)), ("b" * 32, recent)):
            (photos / f"{name}.jpg").write_bytes(b"jpg")
            tickets.file_ticket(
                s,
                NewTicket(
                    category="streetlight",
                    description="路灯坏了",
                    channel="telegram",
                    district="杨浦",
                    identity="telegram-1",
                    media_url=f"photos/{name}.jpg",
                ),
                actor="telegram-1",
                now=filed,
            )
    # Rasa's tracker store: one event 400 days old, one recent.
    tracker = create_engine(settings.effective_tracker_store_url)
    with tracker.begin() as c:
        c.execute(text(TRACKER_EVENTS))
        for ts in ((now - timedelta(days=400)).timestamp(), recent.timestamp()):
            c.execute(
                text(
                    "INSERT INTO events (sender_id, type_name, timestamp, data) "
                    "VALUES ('web-1', 'user', :ts, '{}')"
                ),
                {"ts": ts},
            )
    # The speech cache: one file untouched for 70 days (past the 60), one fresh.
    cache = settings.tts_cache_dir / "ab"
    cache.mkdir(parents=True)
    (cache / "stale.wav").write_bytes(b"RIFF")
    (cache / "fresh.wav").write_bytes(b"RIFF")
    seventy_days_ago = (now - timedelta(days=70)).timestamp()
    os.utime(cache / "stale.wav", (seventy_days_ago, seventy_days_ago))

    purged = purge(settings, now)

    assert (purged.recordings, purged.photos, purged.conversation_events, purged.speech_files) == (
        1,
        1,
        1,
        1,
    )
    assert not (settings.recordings_dir / "1" / "001-caller.wav").exists()
    assert (settings.recordings_dir / "2" / "001-caller.wav").exists()
    with sessions() as s:
        turns = {t.call_pk: t for t in s.query(CallTurn)}
        assert turns[1].caller_audio is None and turns[1].recognized == "路灯坏了"  # words stay
        assert turns[2].caller_audio == "2/001-caller.wav"
        media = sorted(str(t.media_url) for t in s.query(Ticket))
    assert media == ["None", f"photos/{'b' * 32}.jpg"]
    assert sorted(p.name for p in photos.iterdir()) == [f"{'b' * 32}.jpg"]
    with tracker.begin() as c:
        assert c.execute(text("SELECT count(*) FROM events")).scalar() == 1
    assert sorted(p.name for p in cache.iterdir()) == ["fresh.wav"]
    tracker.dispose()


def test_the_stack_runs_the_retention_job(tmp_path: Path) -> None:
    stack = build_stack(Settings(phone_enabled=False), tmp_path / "model.tar.gz")
    [job] = [p for p in stack.processes if p.name == "retention"]
    assert job.argv[-1] == "ops.retention"


def test_drafts_untouched_past_their_days_are_removed(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = Settings(database_url=db_url, data_dir=tmp_path / "var")
    settings.data_dir.mkdir()
    now = utcnow()
    with unit_of_work(sessions) as s:
        save_draft(s, "phone:1", "phone", {"step": "district", "description": "路灯坏了"})
        save_draft(s, "web-2", "web", {"step": "address", "description": "井盖没了"})
        s.flush()
        stale = s.get(ComplaintDraft, "phone:1")
        assert stale is not None
        stale.updated_at = now - timedelta(days=91)  # past the 90 days
    assert purge(settings, now).drafts == 1
    with sessions() as s:
        assert [d.identity for d in s.query(ComplaintDraft)] == ["web-2"]


def test_a_choice_of_spoken_replies_unchanged_past_the_conversations_days_is_forgotten(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = Settings(database_url=db_url, data_dir=tmp_path / "var")
    settings.data_dir.mkdir()
    now = utcnow()
    with unit_of_work(sessions) as s:
        assert voice_replies.toggle(s, "telegram:1") and voice_replies.toggle(s, "telegram:2")
        s.flush()
        old = s.get(voice_replies.VoiceReplies, "telegram:1")
        assert old is not None
        old.changed_at = now - timedelta(days=366)  # past the 365 days of a conversation
    assert purge(settings, now).voice_choices == 1
    with sessions() as s:
        assert not voice_replies.wanted(s, "telegram:1") and voice_replies.wanted(s, "telegram:2")


def test_reviewed_conversations_go_with_the_conversations_days(
    db_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    import json

    from liangwang.review.ingest import ingest_all
    from liangwang.review.models import ReviewConversation, ReviewTurn

    settings = Settings(database_url=db_url, data_dir=tmp_path / "var")
    settings.data_dir.mkdir()
    now = utcnow()
    tracker_store = create_engine(settings.effective_tracker_store_url)
    with tracker_store.begin() as c:  # the SQL tracker store's table, as Rasa makes it
        c.execute(text(TRACKER_EVENTS))
        for n, (sender, days_ago) in enumerate((("web-old", 400), ("web-new", 1)), start=1):
            at = (now - timedelta(days=days_ago)).timestamp()
            event = {"event": "user", "text": "路灯坏了", "timestamp": at}
            c.execute(
                text(
                    "INSERT INTO events (id, sender_id, type_name, timestamp, data) "
                    "VALUES (:i, :s, 'user', :t, :d)"
                ),
                {"i": n, "s": sender, "t": at, "d": json.dumps(event)},
            )
    assert ingest_all(tracker_store, sessions) == 2
    assert purge(settings, now).review_turns == 1
    with sessions() as s:
        assert [t.conversation_id for t in s.query(ReviewTurn)] == ["web-new"]
        assert [c.conversation_id for c in s.query(ReviewConversation)] == ["web-new"]
    with tracker_store.connect() as c:  # the conversation itself, with the same days
        assert c.execute(text("SELECT sender_id FROM events")).scalars().all() == ["web-new"]
    tracker_store.dispose()


def test_of_several_copies_only_the_lease_holder_purges(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    migrate(settings.effective_database_url)
    sessions = sessions_for(settings.effective_database_url)
    now = utcnow()
    assert purge_if_mine(settings, sessions, "copy-a", now) is not None
    assert purge_if_mine(settings, sessions, "copy-b", now + timedelta(hours=1)) is None
    assert purge_if_mine(settings, sessions, "copy-a", now + timedelta(days=1)) is not None
    # The holder stopped: once its lease lapses, another copy takes over.
    later = now + timedelta(days=2, hours=13)
    assert purge_if_mine(settings, sessions, "copy-b", later) is not None

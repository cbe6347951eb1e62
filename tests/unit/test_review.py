"""Conversation review (liangwang/review/): Rasa's own SQL tracker store saves the
conversations, our ingestion reads their events through the one translation layer (nothing
lost across restarts, nothing twice), and Chinese full-text search finds what was said, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from liangwang.db import make_engine, make_session_factory, migrate, unit_of_work
from liangwang.review import listing, segment
from liangwang.review.ingest import conversation, ingest_all, keep
from liangwang.review.models import ReviewTurn
from liangwang.review.rasa_events import translate
from liangwang.review.search import matching_turns
from liangwang.settings import Settings
from ops.rasa_engine import BOT_DIR
from tests.rasa_python import run_in_rasa

# Rasa's own tracker store, configured by bot/endpoints.yml with the environment our
# settings make, saving the conversations whose events are given on stdin (one JSON object
# a line, each naming its conversation), each as Rasa saves a tracker after a turn.
SAVE = f"""
import asyncio, json, sys
from rasa.core.tracker_store import create_tracker_store
from rasa.core.utils import read_endpoints_from_path
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

async def main():
    endpoints = read_endpoints_from_path({str(BOT_DIR / "endpoints.yml")!r})
    store = create_tracker_store(endpoints.tracker_store, Domain.empty())
    print(type(store).__name__)
    conversations = {{}}
    for line in sys.stdin:
        event = json.loads(line)
        conversations.setdefault(event.pop("sender_id"), []).append(event)
    for sender, events in conversations.items():
        known = await store.retrieve(sender)
        before = [e.as_dict() for e in known.events] if known else []
        await store.save(DialogueStateTracker.from_dict(sender, before + events))

asyncio.run(main())
"""


def rasa_saves(settings: Settings, events: list[dict[str, Any]]) -> str:
    """A Rasa process saving ``events`` to their conversations through its configured
    tracker store, then ending."""
    lines = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)
    return run_in_rasa(settings, SAVE, lines)


def said(sender: str, text: str, at: float, **nlu: Any) -> dict[str, Any]:
    intent = {"name": nlu.get("intent", "report_problem"), "confidence": nlu.get("conf", 0.93)}
    parse = {"intent": intent, "entities": nlu.get("entities", []), "text": text}
    metadata = {"channel": nlu.get("channel", "web"), **nlu.get("metadata", {})}
    return {
        "sender_id": sender, "event": "user", "timestamp": at, "text": text,
        "parse_data": parse, "metadata": metadata,
    }  # fmt: skip


def answered(sender: str, text: str, at: float) -> dict[str, Any]:
    return {"sender_id": sender, "event": "bot", "timestamp": at, "text": text, "data": {}}


def ran(sender: str, action: str, at: float) -> dict[str, Any]:
    return {"sender_id": sender, "event": "action", "timestamp": at, "name": action}


T0 = 1_780_000_000.0
LAMP = [
    said("web-a1", "小区门口的路灯坏了，我电话13912345678", T0),
    answered("web-a1", "是路灯的问题，对吗？", T0 + 1),
    ran("web-a1", "action_listen", T0 + 1.5),  # Rasa's bookkeeping: not a turn
]
CARD = [
    said("telegram-7", "我想办张敬老卡", T0 + 10, intent="ask_service_guide", channel="telegram"),
    answered("telegram-7", "上海市敬老卡申领。", T0 + 11),
]
MISHEARD = [
    said("phone:13800138000", "嗯那个", T0 + 20, intent="nlu_fallback", conf=0.31,
         channel="phone", metadata={"confidence": 0.42, "call_id": "c1"}),
    ran("phone:13800138000", "action_fallback_chain", T0 + 21),
    said("phone:13800138000", "转人工", T0 + 30, intent="handoff", channel="phone"),
    ran("phone:13800138000", "action_handoff", T0 + 31),
]  # fmt: skip


@pytest.fixture
def rasa_settings(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "var")
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # as `liangwang run` makes it
    return settings


def _ingest(settings: Settings, url: str) -> int:
    tracker_store = create_engine(settings.effective_tracker_store_url)
    engine = make_engine(url)
    try:
        return ingest_all(tracker_store, make_session_factory(engine))
    finally:
        tracker_store.dispose()
        engine.dispose()


def test_rasa_saves_and_nothing_is_lost_or_doubled_across_restarts(
    rasa_settings: Settings, db_url: str, sessions: sessionmaker[Session]
) -> None:
    assert rasa_saves(rasa_settings, LAMP[:2]).startswith("LeanSQLTrackerStore")
    assert _ingest(rasa_settings, db_url) == 2
    assert _ingest(rasa_settings, db_url) == 0  # read again: nothing new, nothing twice
    # A new Rasa process, the same tracker store: the lamp conversation goes on, two more
    # begin; and a new process of ours reads only what is new.
    rasa_saves(rasa_settings, [*LAMP[2:], *CARD, *MISHEARD])
    assert _ingest(rasa_settings, db_url) == 7
    with sessions() as s:
        turns = list(s.scalars(select(ReviewTurn).order_by(ReviewTurn.event_id)))
        assert [t.kind for t in turns] == ["user", "bot", "user", "bot", "user", "action",
                                           "user", "action"]  # fmt: skip
        assert len({t.event_id for t in turns}) == len(turns)
        phone = conversation(s, "phone:13800138000")
        assert phone is not None and phone.channel == "phone"
        assert phone.fell_back and phone.handed_over and phone.citizen_turns == 2
        assert phone.lowest_confidence == pytest.approx(0.31)
        web = conversation(s, "web-a1")
        assert web is not None and not web.fell_back and web.citizen_turns == 1


def test_the_translation_keeps_what_a_reviewer_reads_and_skips_the_rest() -> None:
    found = {"entity": "district", "value": "静安区", "start": 0, "end": 3, "extractor": "x"}
    event = said("web-x", "路灯坏了", T0, entities=[found])
    turn = translate("web-x", json.dumps(event))
    assert turn is not None and turn.intent == "report_problem"
    assert turn.confidence == pytest.approx(0.93)
    assert turn.detail == {"entities": [{"entity": "district", "value": "静安区",
                                         "start": 0, "end": 3}]}  # fmt: skip
    assert translate("web-x", "{not json") is None
    assert translate("web-x", json.dumps(ran("web-x", "action_listen", T0))) is None
    slot = {"event": "slot", "timestamp": T0, "name": "district", "value": "静安区"}
    assert translate("web-x", json.dumps(slot)) is not None


def _store(sessions: sessionmaker[Session], events: list[dict[str, Any]]) -> None:
    """Events as the tracker store would hold them, ingested (without a Rasa process)."""
    translated = [(n, translate(e["sender_id"], json.dumps(e))) for n, e in enumerate(events, 1)]
    with unit_of_work(sessions) as s:
        keep(s, [(n, turn) for n, turn in translated if turn is not None])


def _statements_to_store(sessions: sessionmaker[Session], conversations: int) -> int:
    """SQL statements run to store one batch of a lamp reported in each of ``conversations``
    conversations, two of them already known from an earlier batch."""
    _store(sessions, [e | {"sender_id": f"web-{n}"} for n in range(2) for e in LAMP])
    batch = [e | {"sender_id": f"web-{n}"} for n in range(conversations) for e in LAMP]
    translated = [(100 + n, translate(e["sender_id"], json.dumps(e))) for n, e in enumerate(batch)]
    engine = sessions.kw["bind"]
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with unit_of_work(sessions) as s:
        keep(s, [(n, turn) for n, turn in translated if turn is not None])
    return len(statements)


def test_a_batch_costs_the_same_statements_however_many_conversations_it_holds(
    tmp_path: Path,
) -> None:
    # Ingestion reads a batch of the tracker store's events at a time, across every
    # conversation in progress: its cost must not grow a query per conversation.
    counts = []
    for conversations in (3, 30):
        migrate(url := f"sqlite:///{tmp_path / f'{conversations}.db'}")
        engine = make_engine(url)
        counts.append(_statements_to_store(make_session_factory(engine), conversations))
        with Session(engine) as s:
            assert s.scalar(select(func.count(ReviewTurn.id))) == 2 * 2 + conversations * 2
        engine.dispose()
    assert counts[0] == counts[1]


def _search_finds_what_was_said(sessions: sessionmaker[Session]) -> None:
    _store(sessions, [*LAMP, *CARD, *MISHEARD])
    with sessions() as s:
        for words, conversation in (("路灯", "web-a1"), ("敬老卡", "telegram-7")):
            found = listing.conversations(s, listing.Filters(words=words))
            assert [f.conversation.conversation_id for f in found] == [conversation], words
        assert matching_turns(s, "没说过的话") == []
        assert matching_turns(s, "，。") == []  # punctuation alone searches for nothing
        assert listing.conversations(s, listing.Filters(fell_back=True))[0].conversation
        only_phone = listing.conversations(s, listing.Filters(channel="phone"))
        assert [f.conversation.conversation_id for f in only_phone] == ["phone:13800138000"]


def test_chinese_search_on_sqlite(sessions: sessionmaker[Session]) -> None:
    _search_finds_what_was_said(sessions)


def test_chinese_search_and_the_migrations_on_postgresql(pg_url: str) -> None:
    migrate(pg_url)  # every migration, on the PostgreSQL the scaled profile uses
    engine = make_engine(pg_url)
    try:
        _search_finds_what_was_said(make_session_factory(engine))
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_turns_read_from_the_old_event_broker_stay_and_never_collide(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Migration 0015: review read Rasa's event broker before, the tracker store now. A
    turn read from the broker keeps its place (and stays searchable) under a number the
    tracker store never gives, so reading the tracker store from its start collides with
    nothing."""
    from alembic import command
    from sqlalchemy import text

    from liangwang.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
    command.upgrade(alembic_config(url), "0014")
    engine = make_engine(url)
    try:
        with engine.begin() as c:
            for broker_id, said in ((1, "路灯坏了"), (2, "我想办张敬老卡")):
                c.execute(
                    text(
                        "INSERT INTO review_turns (broker_id, conversation_id, at, kind, "
                        "text, words, detail) VALUES (:b, 'web-a1', :at, 'user', :t, :w, '')"
                    ),
                    {
                        "b": broker_id,
                        "at": "2026-11-01 10:00:00+00:00",
                        "t": said,
                        "w": segment.indexed(said),
                    },
                )
            c.execute(text("INSERT INTO review_ingest_cursor VALUES ('rasa-sql-broker', 2)"))
        migrate(url)
        _store(make_session_factory(engine), LAMP)  # read anew: the tracker store's 1, 2…
        with make_session_factory(engine)() as s:
            turns = list(s.scalars(select(ReviewTurn).order_by(ReviewTurn.event_id)))
            assert [t.text for t in turns[:2]] == ["路灯坏了", "我想办张敬老卡"]  # order kept
            assert [t.event_id for t in turns[2:]] == [1, 2]
            assert len(matching_turns(s, "敬老卡")) == 1
            assert s.execute(text("SELECT count(*) FROM review_ingest_cursor")).scalar() == 0
    finally:
        engine.dispose()

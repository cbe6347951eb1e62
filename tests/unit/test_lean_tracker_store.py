"""bot/lean_tracker_store.py in the real Rasa engine: the same conversations saved through
Rasa's SQLTrackerStore and through ours leave the same rows and are read back as the same
trackers, across a new session, on SQLite and on PostgreSQL; and it builds no ORM objects
for events, which is what it is for."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text

from liangwang.db import with_postgres_driver
from liangwang.settings import Settings
from ops.harness import postgres_database
from tests.rasa_python import run_in_rasa

SCRIPT = """
import asyncio, json, sys
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from lean_tracker_store import LeanSQLTrackerStore

domain = Domain.from_yaml('''
intents: [report_problem, affirm]
slots:
  district: {type: text, mappings: [{type: custom}]}
''')
kind = sys.argv[1]
store = (LeanSQLTrackerStore if kind == "lean" else SQLTrackerStore)(
    domain=domain, host=sys.argv[2])
built = []
original_init = store.SQLEvent.__init__
store.SQLEvent.__init__ = lambda self, **kw: (built.append(1), original_init(self, **kw))[1]
origin = 1_700_000_000.0

def said(text, intent, at):
    parse = {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}
    return UserUttered(text, parse["intent"], [], parse_data=parse, timestamp=at)

async def main():
    seen = []
    tracker = DialogueStateTracker("citizen-1", domain.slots)
    turns = [
        [ActionExecuted("action_session_start", timestamp=origin),
         SessionStarted(timestamp=origin + 0.1),
         ActionExecuted("action_listen", timestamp=origin + 0.2)],
        [said("路灯坏了", "report_problem", origin + 1),
         BotUttered("在哪个区？", timestamp=origin + 1.1),
         ActionExecuted("action_listen", timestamp=origin + 1.2)],
        [said("杨浦区", "affirm", origin + 2),
         SlotSet("district", "杨浦区", timestamp=origin + 2.1),
         ActionExecuted("action_listen", timestamp=origin + 2.2)],
        # A new session an hour later: only its events are read back by default.
        [ActionExecuted("action_session_start", timestamp=origin + 3600),
         SessionStarted(timestamp=origin + 3600.1), said("你好", "affirm", origin + 3601)],
    ]
    for events in turns:
        for event in events:
            tracker.update(event)
        await store.save(tracker)
        tracker = await store.retrieve("citizen-1")
        seen.append(tracker.current_state(EventVerbosity.ALL))
    full = await store.retrieve_full_tracker("citizen-1")
    seen.append(full.current_state(EventVerbosity.ALL))
    print(json.dumps({"seen": seen, "orm_events": len(built)}))
    await store.save(tracker)  # nothing new: nothing written

asyncio.run(main())
"""

ROWS = (
    "SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events ORDER BY id"
)


def _saved(kind: str, url: str) -> tuple[dict[str, object], list[tuple[object, ...]]]:
    """What the store of ``kind`` read back, and the rows it left at ``url``, in order."""
    out = run_in_rasa(Settings(), SCRIPT, args=(kind, with_postgres_driver(url, "psycopg2")))
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(text(ROWS))]
    engine.dispose()
    return result, rows


def _both(urls: tuple[str, str]) -> None:
    (rasas, rasa_rows), (ours, our_rows) = _saved("rasa", urls[0]), _saved("lean", urls[1])
    assert ours["seen"] == rasas["seen"]
    assert our_rows == rasa_rows
    assert len(our_rows) == 12
    # Read back: the new session from its SessionStarted on; the full tracker: every event.
    seen = ours["seen"]
    assert isinstance(seen, list)
    assert len(seen[-2]["events"]) == 2 and len(seen[-1]["events"]) == 12
    # What the store is for: Rasa's builds an ORM object per event written, ours none.
    assert rasas["orm_events"] == 12 and ours["orm_events"] == 0


def test_same_rows_and_trackers_as_rasas_store_on_sqlite(tmp_path: Path) -> None:
    _both((f"sqlite:///{tmp_path / 'rasa.db'}", f"sqlite:///{tmp_path / 'lean.db'}"))


def test_same_rows_and_trackers_as_rasas_store_on_postgresql() -> None:
    with postgres_database() as rasas, postgres_database() as ours:
        _both((rasas, ours))


# A disk that takes 0.3 s to commit: does the event loop go on serving meanwhile?
SLOW_DISK_SCRIPT = """
import asyncio, json, sys, time
from sqlalchemy import event
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from lean_tracker_store import LeanSQLTrackerStore

kind, path = sys.argv[1:3]
domain = Domain.from_yaml("intents: [greet]")
store = (LeanSQLTrackerStore if kind == "lean" else SQLTrackerStore)(
    domain=domain, dialect="sqlite", db=path)
ticks, served_meanwhile = [], []

@event.listens_for(store.engine, "commit")
def slow_disk(connection):
    before = len(ticks)
    time.sleep(0.3)
    served_meanwhile.append(len(ticks) > before)

async def main():
    async def other_conversations():
        while True:
            await asyncio.sleep(0.01)
            ticks.append(1)
    others = asyncio.create_task(other_conversations())
    await asyncio.sleep(0.05)
    tracker = DialogueStateTracker("citizen-1", domain.slots)
    tracker.update(UserUttered("你好", {"name": "greet", "confidence": 1.0}))
    await store.save(tracker)
    saved = await store.retrieve("citizen-1")
    others.cancel()
    print(json.dumps({"served_meanwhile": served_meanwhile, "events": len(saved.events)}))

asyncio.run(main())
"""


def _while_committing(kind: str, tmp_path: Path) -> dict[str, object]:
    out = run_in_rasa(Settings(), SLOW_DISK_SCRIPT, args=(kind, str(tmp_path / f"{kind}.db")))
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def test_the_engine_serves_other_conversations_while_a_turn_is_written(tmp_path: Path) -> None:
    ours = _while_committing("lean", tmp_path)
    assert ours["served_meanwhile"] == [True] and ours["events"] == 1


def test_rasas_store_holds_every_conversation_while_it_writes(tmp_path: Path) -> None:
    rasas = _while_committing("rasa", tmp_path)
    assert rasas["served_meanwhile"] == [False] and rasas["events"] == 1

"""bot/rasa_start.py: the engine validates each action result against a schema checked once,
rejects a bad result as before, and refuses a Rasa version it was not written for."""

from __future__ import annotations

import json

from liangwang.settings import Settings
from tests.rasa_python import run_in_rasa

SCRIPT = """
import json, runpy, sys
import jsonschema, rasa
from rasa.core.actions.action import RemoteAction

start = runpy.run_path("bot/rasa_start.py")
checks = []
for cls in set(jsonschema.validators._VALIDATORS.values()):
    original = cls.check_schema.__func__
    cls.check_schema = classmethod(
        lambda c, s, _o=original: (checks.append(1), _o(c, s))[1])
{before}
action = RemoteAction("action_anything", None)
good = {{"events": [{{"event": "slot", "name": "service", "value": "x"}}], "responses": []}}
results = [action._validate_action_result(good) for _ in range(20)]
try:
    action._validate_action_result({{"events": [{{"event": 5}}]}})
    rejected = ""
except jsonschema.ValidationError as error:
    rejected = error.message
print(json.dumps({{"valid": results, "schema_checks": len(checks), "rejected": rejected}}))
"""


def _run(before: str, script: str = SCRIPT) -> dict[str, object]:
    """``script`` run in Rasa with ``before`` in it; what its last line printed."""
    out = run_in_rasa(Settings(), script.format(before=before))
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def test_the_schema_is_checked_once_and_each_result_still_validated() -> None:
    seen = _run('start["install_action_result_validator"]()')
    assert seen["valid"] == [True] * 20
    # Once, when installed: none per result.
    assert seen["schema_checks"] == 1
    assert "Failed to validate Action server response" in str(seen["rejected"])


def test_without_it_the_engine_checks_the_schema_for_every_result() -> None:
    # The measurement above can fail: Rasa's own method re-checks the schema each time.
    seen = _run("")
    assert seen["schema_checks"] == 21
    assert "Failed to validate Action server response" in str(seen["rejected"])


def test_another_rasa_version_refuses_to_start() -> None:
    out = run_in_rasa(
        Settings(),
        """
import runpy, rasa
start = runpy.run_path("bot/rasa_start.py")
rasa.__version__ = "3.7.0"
try:
    start["install_action_result_validator"]()
except SystemExit as stop:
    print("refused:", stop)
""",
    )
    assert "refused: bot/rasa_start.py is written for Rasa 3.6.21, found 3.7.0" in out


WAL_SCRIPT = """
import runpy, tempfile, os
start = runpy.run_path("bot/rasa_start.py")
{before}
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
folder = tempfile.mkdtemp()
store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=os.path.join(folder, "t.db"))
with store.engine.connect() as one:
    mode = one.exec_driver_sql("PRAGMA journal_mode").scalar()
    first = one.connection.dbapi_connection
with store.engine.connect() as two:
    kept = two.connection.dbapi_connection is first
print("journal", mode, "kept", kept)
"""


def test_the_engines_sqlite_files_are_written_ahead_and_their_connections_kept() -> None:
    out = run_in_rasa(Settings(), WAL_SCRIPT.format(before='start["open_sqlite_in_wal_mode"]()'))
    assert "journal wal kept True" in out


def test_without_it_rasa_opens_sqlite_in_rollback_mode_for_every_session() -> None:
    out = run_in_rasa(Settings(), WAL_SCRIPT.format(before=""))
    assert "journal delete kept False" in out


# Rasa's tracker store survives the collision itself, but only by logging the error and
# sleeping five seconds before trying again: a replica late to serve, and an error in the
# log at every scaled start.
# What the tracker store logs when it loses the race, depending on where it lost it.
COLLISION_SIGNS = ("Could not create tables", "IntegrityError", "UniqueViolation")
# The race is made certain rather than left to the scheduler: each replica, once it has
# looked for the table, waits (two seconds at most) until all have looked. Without a lock
# all six find no table and all create it; with one, the replica holding it waits alone,
# then creates the table the others find.
RACE_SCRIPT = """
import logging, runpy, sys, threading
logging.basicConfig(stream=sys.stdout, level=logging.WARNING)
start = runpy.run_path("bot/rasa_start.py")
{before}
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.dialects.postgresql.base import PGDialect
go, looked, failed = threading.Barrier(6), threading.Barrier(6, timeout=2), []
has_table = PGDialect.has_table

def has_table_once_all_looked(self, *args, **kwargs):
    found = has_table(self, *args, **kwargs)
    try:
        looked.wait()
    except threading.BrokenBarrierError:
        pass
    return found

PGDialect.has_table = has_table_once_all_looked

def replica():
    go.wait()
    try:
        SQLTrackerStore(dialect="postgresql", host="127.0.0.1", port=5432, db="{db}",
                        username="postgres")
    except Exception as error:
        failed.append(type(error).__name__)

threads = [threading.Thread(target=replica) for _ in range(6)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print("failed", failed)
"""


def test_replicas_starting_at_once_on_a_new_database_create_the_tables_once(
    pg_url: str,
) -> None:
    script = RACE_SCRIPT.format(
        before='start["create_tables_one_replica_at_a_time"]()', db=pg_url.rsplit("/", 1)[1]
    )
    out = run_in_rasa(Settings(), script)
    assert "failed []" in out
    assert not any(sign in out for sign in COLLISION_SIGNS)


def test_without_it_replicas_starting_at_once_collide(pg_url: str) -> None:
    out = run_in_rasa(Settings(), RACE_SCRIPT.format(before="", db=pg_url.rsplit("/", 1)[1]))
    assert any(sign in out for sign in COLLISION_SIGNS)


EVENTS_SCRIPT = """
import json, runpy
import rasa.shared.utils.common as common
from rasa.shared.core.events import Event, UserUttered, deserialise_events
start = runpy.run_path("bot/rasa_start.py")
names = sorted({{c.type_name for c in common.all_subclasses(Event)}})
rasa_says = {{n: Event.resolve_by_type(n).__name__ for n in names}}
{before}
walks = []
walk = common.all_subclasses
common.all_subclasses = lambda cls: (walks.append(cls is Event), walk(cls))[1]
ours = {{n: Event.resolve_by_type(n).__name__ for n in names}}
said = {{"intent": {{"name": "report_problem", "confidence": 0.9}}, "entities": []}}
turn = [{{"event": "user", "text": "路灯坏了", "parse_data": said}},
        {{"event": "action", "name": "action_listen"}}, {{"event": "bot", "text": "好的"}},
        {{"event": "slot", "name": "a", "value": 1}}]
events = deserialise_events(turn * 100)
try:
    Event.resolve_by_type("no_such_event")
    unknown = "found"
except ValueError:
    unknown = "ValueError"
print(json.dumps({{"same": ours == rasa_says, "walks": sum(walks), "events": len(events),
                  "unknown": unknown, "topic": Event.resolve_by_type("topic"),
                  "default": Event.resolve_by_type("nope", UserUttered).__name__}}))
"""


def test_event_classes_are_found_once_per_name_with_rasas_answers() -> None:
    result = _run('start["remember_event_types"]()', EVENTS_SCRIPT)
    assert result["same"] and result["events"] == 400
    # Each name found once (its first time, for the comparison above, or in the turn's
    # events), and nothing more for 400 events; unknown names answered as Rasa does.
    assert result["walks"] <= 40
    assert result["unknown"] == "ValueError" and result["topic"] is None
    assert result["default"] == "UserUttered"


def test_without_it_every_event_walks_all_event_classes() -> None:
    assert _run("", EVENTS_SCRIPT)["walks"] >= 400


KINDS_SCRIPT = """
import json, runpy
import jsonschema
from rasa.core.actions.action import RemoteAction
start = runpy.run_path("bot/rasa_start.py")
schema = RemoteAction.action_response_format_spec()
whole = jsonschema.validators.validator_for(schema)(schema)
by_kind = start["validity_by_event_kind"](schema, type(whole))
slot = {"event": "slot", "name": "service", "value": "敬老卡", "timestamp": None}
said = {"event": "bot", "text": "好的", "metadata": {}}
results = [
    {}, {"events": []}, {"events": [slot, said]}, {"responses": [{"text": "好"}]},
    {"events": [slot, said] * 10, "responses": [{"text": "好"}]},
    {"events": [{"event": "action", "name": "x", "confidence": 0.5, "policy": None}]},
    {"events": [{"event": "user", "text": "你好", "parse_data": {}, "input_channel": None}]},
    {"events": [{"event": "restart"}, {"event": "session_started"}]},
    # Not valid: unknown kind, missing or wrong fields, wrong shapes.
    {"events": [{"event": "no_such_kind"}]}, {"events": [{"event": "slot", "name": "x"}]},
    {"events": [{"event": "slot", "name": 5, "value": 1}]}, {"events": [{"name": "x"}]},
    {"events": [{"event": 5}]}, {"events": [slot, {"event": "bot", "timestamp": "now"}]},
    {"events": [{"event": "action", "confidence": "high"}]}, {"events": "slot"},
    {"events": [slot, "slot"]}, {"responses": ["好"]}, {"responses": {}}, [], "ok", None,
    {"events": [{"event": "user", "text": 5}]},
]
same = [by_kind(result) == whole.is_valid(result) for result in results]
errors = []
init = jsonschema.exceptions.ValidationError.__init__
jsonschema.exceptions.ValidationError.__init__ = (
    lambda self, *a, **k: (errors.append(1), init(self, *a, **k))[1])
by_kind({"events": [slot, said] * 10})
made_by_kind = len(errors)
whole.is_valid({"events": [slot, said] * 10})
print(json.dumps({"same": same, "valid": sum(whole.is_valid(r) for r in results),
                  "errors_by_kind": made_by_kind, "errors_whole": len(errors) - made_by_kind}))
"""


def test_each_event_is_checked_against_its_own_kind_with_the_whole_schemas_answer() -> None:
    seen = json.loads(run_in_rasa(Settings(), KINDS_SCRIPT).strip().splitlines()[-1])
    assert seen["same"] == [True] * 23 and seen["valid"] == 8
    # For 20 valid events the whole schema fails every other kind first (22 errors made
    # and dropped per event); checked by kind, none.
    assert seen["errors_by_kind"] == 0
    assert seen["errors_whole"] >= 20 * 22

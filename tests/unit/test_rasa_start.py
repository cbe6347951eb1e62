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


def _run(before: str) -> dict[str, object]:
    out = run_in_rasa(Settings(), SCRIPT.format(before=before))
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


RACE_SCRIPT = """
import runpy, threading
start = runpy.run_path("bot/rasa_start.py")
{before}
from rasa.core.brokers.sql import SQLEventBroker
go, failed = threading.Barrier(6), []

def replica():
    go.wait()
    try:
        SQLEventBroker(dialect="postgresql", host="127.0.0.1", port=5432, db="{db}",
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
    assert "failed []" in run_in_rasa(Settings(), script)


def test_without_it_replicas_starting_at_once_collide(pg_url: str) -> None:
    out = run_in_rasa(Settings(), RACE_SCRIPT.format(before="", db=pg_url.rsplit("/", 1)[1]))
    assert "IntegrityError" in out or "ProgrammingError" in out

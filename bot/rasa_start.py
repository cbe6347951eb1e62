"""Starts the Rasa engine as its own ``rasa`` command does, after a few changes at start-up.

Run by the Rasa environment's Python (``python bot/rasa_start.py run …``), never imported by
our application. Rasa 3.6 checks every custom action's result against its response schema
with ``jsonschema.validate``, which checks the schema itself against the JSON Schema
meta-schema before each use: under load that re-check was about a third of the engine's
time. Here the schema is checked once and its validator kept; each result is still
validated against the same schema and a bad one fails with the same error as before.

The change replaces a private method, so it is pinned to the Rasa version in our lock file:
another version refuses to start (tests/unit/test_rasa_start.py checks both behaviours).

Each event read back from the tracker store finds its class by walking every subclass of
``Event`` anew (``Event.resolve_by_type``): a tenth of the engine's time under load. The
class found for a name is remembered; a name not found is looked up again each time, as
before, so the answer is always the one Rasa would give.

On the embedded default the tracker store is an SQLite file, which Rasa opens in SQLite's
rollback-journal mode: each of the several commits of a turn then syncs the disk more than
once, and readers (the staff app reading events) wait for writers. It is opened in
write-ahead-log mode instead, as our own SQLite database is (liangwang/db.py): still synced
at every commit, once.

In the scaled profile several replicas start at once on a new PostgreSQL database, and
Rasa's tracker store creates its table without minding a replica doing the same (the
losers log the error and wait five seconds): tables are created under an advisory lock,
one replica after another, the later ones finding them there. Connections to PostgreSQL are
checked before use, so a restarted server costs no failed turn once it is back.

How the engine calls the action server is changed in bot/action_calls.py: the domain sent
by its digest, connections kept, JSON written faster. The trained graph is run without dask
(bot/graph_runner.py), DIET is loaded without tracing a training step
(bot/prediction_load.py), and it calls its traced TensorFlow graph directly
(bot/traced_prediction.py).
"""

from __future__ import annotations

import sys
from typing import Any

import action_calls

PINNED_RASA = "3.6.21"
TABLES_LOCK = 0x6C77_7462  # any number the replicas agree on ("lwtb")


def install_action_result_validator() -> None:
    import jsonschema
    import rasa
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    if rasa.__version__ != PINNED_RASA:
        raise SystemExit(
            f"bot/rasa_start.py is written for Rasa {PINNED_RASA}, found {rasa.__version__}: "
            "check RemoteAction._validate_action_result and update the pin"
        )
    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    is_valid = validity_by_event_kind(schema, validator_class)

    def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        if is_valid(result):
            return True
        # What jsonschema.validate raises, without checking the schema again.
        error = jsonschema.exceptions.best_match(validator.iter_errors(result))
        if error is None:
            return True
        error.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error

    RemoteAction._validate_action_result = validate_action_result


def validity_by_event_kind(schema: dict[str, Any], validator_class: Any) -> Any:
    """Whether an action result is valid, each event checked against its own kind only.

    Rasa's schema lets an event be ``oneOf`` 23 kinds, each naming its ``event`` by a
    constant; jsonschema tries every kind on every event (a twentieth of the engine's time
    under load). Since the constants differ, an event is valid for exactly one kind iff it
    is valid for the kind its ``event`` names: the same answer. Were the schema ever not
    shaped so, the whole schema answers instead.
    """
    events = schema["properties"]["events"]
    common = _without(events["items"], "oneOf")
    kinds = events["items"].get("oneOf", [])
    names = [kind.get("properties", {}).get("event", {}).get("const") for kind in kinds]
    distinct = len(set(names)) == len(names) and all(isinstance(name, str) for name in names)
    if not kinds or not distinct:
        return validator_class(schema).is_valid
    # The result with its events' list checked, but not each event in it.
    outer = validator_class(
        {**schema, "properties": {**schema["properties"], "events": _without(events, "items")}}
    )
    event = validator_class(common)
    of_kind = {name: validator_class(kind) for name, kind in zip(names, kinds, strict=True)}

    def is_valid(result: Any) -> bool:
        if not outer.is_valid(result):
            return False
        for item in result.get("events", []):
            if not event.is_valid(item):
                return False
            kind = of_kind.get(item["event"])
            if kind is None or not kind.is_valid(item):
                return False
        return True

    return is_valid


def _without(schema: dict[str, Any], keyword: str) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != keyword}


def remember_event_types() -> None:
    from rasa.shared.core.events import Event

    resolve_by_type = Event.resolve_by_type
    found: dict[str, type[Event]] = {}

    def resolve_remembering(type_name: str, default: type[Event] | None = None) -> Any:
        if type_name in found:
            return found[type_name]
        try:
            cls = resolve_by_type(type_name)
        except ValueError:
            cls = None
        if cls is None:  # unknown: Rasa's own answer (the default, None or its error)
            return resolve_by_type(type_name, default)
        found[type_name] = cls
        return cls

    Event.resolve_by_type = staticmethod(resolve_remembering)  # type: ignore[method-assign]


def open_sqlite_in_wal_mode() -> None:
    import sqlalchemy
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.url import make_url
    from sqlalchemy.pool import SingletonThreadPool
    from sqlite_wal import turn_to_wal

    create_engine = sqlalchemy.create_engine

    def create_engine_keeping_sqlite_connections(url: Any, **kwargs: Any) -> Engine:
        # SQLAlchemy 1.4 opens a file's SQLite connection anew for every session; a turn
        # has several. Keep one per thread (Rasa's stores are used from its event loop).
        backend = make_url(url).get_backend_name()
        if backend == "sqlite":
            kwargs.setdefault("poolclass", SingletonThreadPool)
        elif backend == "postgresql":
            kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    sqlalchemy.create_engine = create_engine_keeping_sqlite_connections

    @event.listens_for(Engine, "connect")
    def _wal(dbapi_connection: Any, _record: Any) -> None:
        if type(dbapi_connection).__module__ != "sqlite3":
            return
        dbapi_connection.execute("PRAGMA busy_timeout=30000")
        turn_to_wal(dbapi_connection, timeout_s=30)


def create_tables_one_replica_at_a_time() -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import Engine
    from sqlalchemy.sql.schema import MetaData

    create_all = MetaData.create_all

    def create_all_under_lock(
        self: MetaData, bind: Any = None, tables: Any = None, checkfirst: bool = True
    ) -> None:
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            with bind.begin() as connection:
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                connection.execute(lock, {"key": TABLES_LOCK})
                create_all(self, connection, tables, checkfirst)
            return
        create_all(self, bind, tables, checkfirst)

    MetaData.create_all = create_all_under_lock  # type: ignore[method-assign]


def main() -> None:
    # Our stores, named in bot/endpoints.yml, imported here so that a broken one stops the
    # start: Rasa would replace a tracker store it cannot import by one in memory.
    import lean_tracker_store  # noqa: F401
    import sqlite_lock_store  # noqa: F401

    install_action_result_validator()  # first: it refuses another Rasa version
    action_calls.install()
    import graph_runner  # after the pin check: it subclasses a part of Rasa 3.6
    import prediction_load
    import traced_prediction

    graph_runner.install()
    prediction_load.install()
    traced_prediction.install()
    remember_event_types()
    open_sqlite_in_wal_mode()
    create_tables_one_replica_at_a_time()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()

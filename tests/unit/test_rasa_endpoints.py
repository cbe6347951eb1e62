"""bot/endpoints.yml, read by the real Rasa engine with the environment our settings make:
SQL tracker store, in-memory locks for one Rasa process, a lock file for several, Redis locks
when configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from liangwang.settings import Settings
from ops.rasa_engine import BOT_DIR
from tests.rasa_python import run_in_rasa

PROBE = f"""
from rasa.core.utils import read_endpoints_from_path
from rasa.core.lock_store import LockStore
endpoints = read_endpoints_from_path({str(BOT_DIR / "endpoints.yml")!r})
store = LockStore.create(endpoints.lock_store)
print(type(store).__name__, endpoints.tracker_store.url, endpoints.action.url)
print("action headers", sorted(endpoints.action.headers.items()))
if hasattr(store, "red"):
    print("redis ping", store.red.ping())
"""


def probe(settings: Settings) -> str:
    return run_in_rasa(settings, PROBE)


def test_embedded_default() -> None:
    settings = Settings()
    out = probe(settings)
    assert out.startswith(
        f"InMemoryLockStore {settings.effective_tracker_store_url} {settings.action_url}"
    )


def test_replicas_of_one_machine_lock_through_a_shared_file(tmp_path: Path) -> None:
    settings = Settings(rasa_replicas=2, data_dir=tmp_path)
    out = probe(settings)
    assert out.startswith("SQLiteLockStore")
    assert (tmp_path / "locks.db").exists()


def test_conversations_are_kept_in_the_lean_sql_store(tmp_path: Path) -> None:
    # Rasa would put a tracker store it cannot load in memory, silently.
    settings = Settings(data_dir=tmp_path)
    out = run_in_rasa(
        settings,
        PROBE.split("store = ")[0]
        + "from rasa.core.tracker_store import TrackerStore\n"
        + "print(type(TrackerStore.create(endpoints.tracker_store)).__name__)",
    )
    assert out.strip() == "LeanSQLTrackerStore"
    assert (tmp_path / "tracker.db").exists()


def test_rasa_sends_the_action_servers_secret_with_every_action_call() -> None:
    out = probe(Settings(action_secret="shared-with-the-action-server"))
    assert "action headers [('X-Liangwang-Action-Secret', 'shared-with-the-action-server')]" in out


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/3"])
def test_redis_lock_store_connects(url: str) -> None:
    out = probe(Settings(lock_store_url=url))
    assert out.startswith("RedisLockStore") and "redis ping True" in out


def test_the_lock_stores_user_password_and_tls_are_kept() -> None:
    # rediss:// is Redis over TLS; a password may hold characters the URL escapes.
    url = "rediss://locker:p%40ss%2Fword@redis.internal:6390/2"
    out = run_in_rasa(
        Settings(lock_store_url=url),
        PROBE.split("if hasattr")[0]
        + """
pool = store.red.connection_pool
kw = pool.connection_kwargs
print("redis", pool.connection_class.__name__, kw["host"], kw["port"], kw["db"],
      kw["username"], kw["password"])
""",
    )
    assert "redis SSLConnection redis.internal 6390 2 locker p@ss/word" in out


def test_a_plain_redis_url_has_no_password_and_no_tls() -> None:
    out = run_in_rasa(
        Settings(lock_store_url="redis://127.0.0.1:6379/3"),
        PROBE.split("if hasattr")[0]
        + """
kw = store.red.connection_pool.connection_kwargs
print("redis", store.red.connection_pool.connection_class.__name__, bool(kw["password"]))
""",
    )
    assert "redis Connection False" in out

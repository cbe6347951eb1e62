"""bot/sqlite_lock_store.py in the real Rasa engine: two Rasa processes of one machine never
hold one conversation's lock at once, a lock left by a dead process expires, and the file
keeps only the conversations being answered."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from liangwang.settings import Settings
from tests.rasa_python import run_in_rasa, start_in_rasa

# One replica: takes the lock of one conversation again and again, and notes in a shared
# log when it starts and ends its turn, sleeping in between as a turn would.
REPLICA = """
import asyncio, os, sys
from rasa.core.lock_store import InMemoryLockStore
from rasa.utils.endpoints import EndpointConfig
from sqlite_lock_store import SQLiteLockStore

kind, url, log, turns = sys.argv[1:5]
store = SQLiteLockStore(EndpointConfig(url=url)) if kind == "sqlite" else InMemoryLockStore()

def note(what):
    with open(log, "a") as f:
        f.write(f"{what} {os.getpid()}\\n")

async def main():
    for _ in range(int(turns)):
        async with store.lock("citizen-1", wait_time_in_seconds=0.005):
            note("in")
            await asyncio.sleep(0.01)
            note("out")
        await asyncio.sleep(0)

asyncio.run(main())
"""

# A replica that dies holding a ticket, and one that then takes the lock.
LIFETIME_S = 6
DIES_HOLDING = """
import os, sys, time
from rasa.utils.endpoints import EndpointConfig
from sqlite_lock_store import SQLiteLockStore
store = SQLiteLockStore(EndpointConfig(url=sys.argv[1]))
store.issue_ticket("citizen-2", lock_lifetime=float(sys.argv[2]))
print(time.time() + float(sys.argv[2]), flush=True)
os._exit(9)
"""
TAKES_OVER = """
import asyncio, sys, time
from rasa.utils.endpoints import EndpointConfig
from sqlite_lock_store import SQLiteLockStore
store = SQLiteLockStore(EndpointConfig(url=sys.argv[1]))
async def main():
    async with store.lock("citizen-2", wait_time_in_seconds=0.1):
        print(time.time())
asyncio.run(main())
"""


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out


def _two_replicas_take_turns(kind: str, tmp_path: Path) -> list[str]:
    url, log = f"sqlite:///{tmp_path / 'locks.db'}", tmp_path / "turns.log"
    replicas = [start_in_rasa(Settings(), REPLICA, kind, url, str(log), "25") for _ in range(2)]
    for replica in replicas:
        _finish(replica)
    return log.read_text().split("\n")[:-1]


def _overlaps(lines: list[str]) -> int:
    """How often one replica started its turn while the other was in one."""
    inside, overlaps = 0, 0
    for line in lines:
        inside += 1 if line.startswith("in") else -1
        overlaps += inside > 1
    return overlaps


def test_two_processes_never_hold_one_conversation_at_once(tmp_path: Path) -> None:
    lines = _two_replicas_take_turns("sqlite", tmp_path)
    assert len(lines) == 100
    assert _overlaps(lines) == 0
    # Both served: each in its turn.
    assert len({line.split()[1] for line in lines}) == 2
    # Nothing is left behind when every turn is served.
    with sqlite3.connect(tmp_path / "locks.db") as db:
        assert db.execute("SELECT count(*) FROM locks").fetchone()[0] == 0


def test_locks_in_memory_do_not_hold_across_processes(tmp_path: Path) -> None:
    # What the test above can catch: Rasa's in-memory locks, one per process.
    assert _overlaps(_two_replicas_take_turns("memory", tmp_path)) > 0


def test_a_lock_left_by_a_dead_replica_expires_and_is_swept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'locks.db'}"
    dead = start_in_rasa(Settings(), DIES_HOLDING, url, str(LIFETIME_S))
    expires = float(dead.communicate(timeout=120)[0])
    assert dead.returncode == 9
    taken = float(_finish(start_in_rasa(Settings(), TAKES_OVER, url)))
    # Not before the dead replica's ticket ran out, and soon after.
    assert expires <= taken <= expires + 2
    with sqlite3.connect(tmp_path / "locks.db") as db:
        assert db.execute("SELECT count(*) FROM locks").fetchone()[0] == 0


# Replicas starting together on a new lock file, again and again: each prints the
# errors it met opening the store.
OPEN_TOGETHER = """
import sys, threading
from rasa.utils.endpoints import EndpointConfig
from sqlite_lock_store import SQLiteLockStore

folder, rounds, at_once = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
errors = []

def replica(url, ready):
    ready.wait()
    try:
        SQLiteLockStore(EndpointConfig(url=url))
    except Exception as error:
        errors.append(str(error))

for n in range(rounds):
    ready = threading.Barrier(at_once)
    url = f"sqlite:///{folder}/locks-{n}.db"
    replicas = [threading.Thread(target=replica, args=(url, ready)) for _ in range(at_once)]
    for r in replicas:
        r.start()
    for r in replicas:
        r.join()
print(errors)
"""


def test_replicas_opening_a_new_lock_file_together_all_open_it(tmp_path: Path) -> None:
    # Turning the new file to WAL needs it to itself; SQLite answers "database is locked"
    # at once to the others (seen once as a replica failing to start). Before they tried
    # again, about fifteen of the six hundred openings here failed.
    out = run_in_rasa(Settings(), OPEN_TOGETHER, args=(str(tmp_path), "100", "6"))
    assert out.strip().splitlines()[-1] == "[]"

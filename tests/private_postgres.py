"""A PostgreSQL server of a test's own, from the machine's PostgreSQL binaries, that the
test may stop and start again (the machine's shared server is never restarted by a test).

PostgreSQL refuses to run as root: where the tests run as root, the server runs as the
``postgres`` user the Debian package made."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ops.harness import free_port


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL's server binaries are not installed")
    return found[-1].parent


@dataclass
class PrivatePostgres:
    home: Path
    port: int

    @property
    def url(self) -> str:
        """The server's URL, without a database (as ops.harness.postgres_database takes)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def _run(self, *argv: str) -> None:
        command = [str(_bin_dir() / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        # Not captured: the server pg_ctl starts would hold the pipes open forever.
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=self.home)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.home / "server.log")
        self._run("pg_ctl", "-D", str(self.home / "data"), "-l", log, "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every connection at once, as a restart does; ``immediate`` is a
        crash."""
        self._run("pg_ctl", "-D", str(self.home / "data"), "-m", mode, "-w", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    # Not under pytest's own temporary directory: the postgres user cannot enter it.
    home = Path(tempfile.mkdtemp(prefix="lw-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    server = PrivatePostgres(home, free_port())
    server._run("initdb", "-D", str(home / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test
            server.stop("immediate")
        shutil.rmtree(home, ignore_errors=True)

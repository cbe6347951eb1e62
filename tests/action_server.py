"""Our real action server (``python -m ops.action_server``) on a free loopback port, for
tests that call it as Rasa does (the ``action_server`` fixture in tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from liangwang.settings import PROJECT_ROOT
from ops.harness import free_port, wait_answering

# The secret the fixture's action server wants with every call.
ACTION_SECRET = "s3cret-for-this-test"


@contextmanager
def running_action_server(data_dir: Path, db_url: str, secret: str) -> Iterator[str]:
    """Its URL while it runs on ``db_url``, answering calls that carry ``secret``."""
    port = free_port()
    env = {
        **os.environ,
        "LIANGWANG_DATABASE_URL": db_url,
        "LIANGWANG_ACTION_PORT": str(port),
        "LIANGWANG_ACTION_SECRET": secret,
        "LIANGWANG_DATA_DIR": str(data_dir),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.action_server"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(f"{url}/health", timeout_s=60, proc=process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)

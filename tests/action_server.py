"""Our real action server (``python -m ops.action_server``) on a free loopback port, for
tests that call it as Rasa does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from liangwang.settings import PROJECT_ROOT
from ops.harness import free_port


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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the action server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)

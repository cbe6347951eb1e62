"""Quiet start: the terminal shows state lines and what matters; log files keep everything.

The sample lines are what the Rasa engine, the action server and the web app printed while
`liangwang run` started (paths shortened).
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
from pathlib import Path

import pytest

from liangwang.settings import Settings
from ops import supervisor as supervisor_module
from ops.stack import ProcessSpec, build_stack
from ops.supervisor import QuietFilter, supervise

SITE = "/srv/app/.venv-rasa/lib/python3.10/site-packages"

NOISE = [
    # Deprecation warnings raised in installed packages, with the lines printed under them.
    f"{SITE}/rasa/shared/utils/validation.py:134: DeprecationWarning: pkg_resources is "
    "deprecated as an API. See https://setuptools.pypa.io/en/latest/pkg_resources.html",
    "  import pkg_resources",
    f"{SITE}/pkg_resources/__init__.py:3117: DeprecationWarning: Deprecated call to "
    "`pkg_resources.declare_namespace('mpl_toolkits')`.",
    "Implementing implicit namespace packages (as specified in PEP 420) is preferred to "
    "`pkg_resources.declare_namespace`.",
    "  declare_namespace(pkg)",
    f"{SITE}/sanic_cors/extension.py:39: DeprecationWarning: distutils Version classes are "
    "deprecated. Use packaging.version instead.",
    "  SANIC_VERSION = LooseVersion(sanic_version)",
    f"{SITE}/tensorflow/lite/python/util.py:52: DeprecationWarning: jax.xla_computation is "
    "deprecated. Please use the AOT APIs.",
    "  from jax import xla_computation as _xla_computation",
    f"{SITE}/matplotlib/fontconfig_pattern.py:66: PyparsingDeprecationWarning: "
    "'setParseAction' deprecated - use 'set_parse_action'",
    "  ).setParseAction(self._family)",
    f"\x1b[93m{SITE}/rasa/utils/common.py:1: FutureWarning: will change\x1b[0m",
    # A known warning of another category, with its multi-line message.
    f"{SITE}/rasa_sdk/utils.py:306: UserWarning: Your versions of rasa and rasa_sdk might "
    "not be compatible. You are currently running rasa version 3.6.21 and rasa_sdk 3.21.1.",
    "To ensure compatibility use the same version for both, modulo the last number.",
    "  warnings.warn(",
    # Records at INFO level.
    "2026-11-29 17:52:31 INFO     alembic.runtime.plugins  - setup plugin alembic.autogenerate",
    "2026-11-29 17:52:32 INFO     rasa_sdk.executor  - Registered function for 'action_greet'.",
    "2026-11-29 17:52:35 INFO     root  - Starting Rasa server on http://127.0.0.1:5005",
    "INFO:     Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)",
    'INFO httpx: HTTP Request: POST https://api.telegram.org/bot/getUpdates "HTTP/1.1 200 OK"',
    # Known chatter.
    "Building prefix dict from the default dictionary ...",
    "Loading model from cache /tmp/jieba.cache",
    "Loading model cost 0.502 seconds.",
    "Prefix dict has been built successfully.",
    "2026-11-29 17:52:35.123456: I tensorflow/core/platform/cpu_feature_guard.cc:182] "
    "This TensorFlow binary is optimized to use available CPU instructions",
    "W0000 00:00:1732900000.123456   1234 cuda_executor.cc:1] Could not find cuda drivers",
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "2026-11-29 17:52:35 WARNING  absl  - No GPU/TPU found, falling back to CPU.",
    "Matplotlib is building the font cache; this may take a moment.",
    "",
]

SHOWN = [
    "hello from child",
    "2026-11-29 17:52:35 WARNING  rasa.core.agent  - Could not load the model",
    "2026-11-29 17:52:35 ERROR    rasa.core.actions.action  - Failed to run custom action",
    "ERROR:    [Errno 98] address already in use",
    "Traceback (most recent call last):",
    '  File "/srv/app/actions/complaints.py", line 3, in <module>',
    "ModuleNotFoundError: No module named 'liangwang.intake'",
    # Warnings about our own code, and warnings other than deprecations, stay visible.
    "/srv/app/actions/services.py:12: DeprecationWarning: use guide.steps",
    "  steps = old_steps()",
    f"{SITE}/rasa/shared/utils/io.py:100: UserWarning: Action 'x' is not in the domain.",
]


def shown(lines: list[str]) -> list[str]:
    quiet = QuietFilter()
    return [line for line in lines if quiet.shows(line)]


def test_dependency_noise_is_hidden() -> None:
    assert shown(NOISE) == []


def test_errors_tracebacks_and_our_own_warnings_are_shown() -> None:
    assert shown(SHOWN) == SHOWN


def test_a_hidden_warning_does_not_swallow_what_follows_it() -> None:
    # Rasa prints warnings without a source line; the next entry must still be judged alone.
    lines = [
        f"{SITE}/rasa/x.py:1: DeprecationWarning: old",
        "Traceback (most recent call last):",
        f"{SITE}/rasa/x.py:1: DeprecationWarning: old",
        "2026-11-29 17:52:35 ERROR    rasa  - broken",
        f"{SITE}/rasa/x.py:1: FutureWarning: old",
        "  source line",
        "hello from child",
    ]
    assert shown(lines) == [lines[1], lines[3], lines[6]]


def test_every_service_keeps_its_log_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        telegram_token="123:abc",
        phone_enabled=False,
    )
    for spec in build_stack(settings, tmp_path / "model.tar.gz").processes:
        assert spec.log_file == tmp_path / "logs" / f"{spec.name}.log"


NOISY_CHILD = f"""
import sys, time
print({NOISE[0]!r}); print({NOISE[1]!r})
print("2026-11-29 17:52:32 INFO     rasa_sdk.endpoint  - Starting action endpoint server...")
print("hello from child", flush=True)
time.sleep(60)
"""


async def test_noise_goes_to_the_log_file_only(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "noisy.log"
    spec = ProcessSpec(
        name="noisy",
        argv=[sys.executable, "-c", NOISY_CHILD],
        health_url="",
        cwd=tmp_path,
        log_file=log,
    )
    out = io.StringIO()

    async def stop_when_said_hello() -> None:
        while "hello from child" not in out.getvalue():
            await asyncio.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    def on_ready(_elapsed: float) -> None:
        asyncio.get_running_loop().create_task(stop_when_said_hello())

    assert await supervise([spec], on_ready=on_ready, out=out) == 0
    terminal = [line.split(" | ", 1)[1] for line in out.getvalue().splitlines()]
    # The working directory is tmp_path (see conftest), so the path is shown relative to it.
    assert terminal[0].startswith("started (pid ") and terminal[0].endswith("log: logs/noisy.log")
    assert terminal[1:] == [
        "ready / 就绪",
        "hello from child",
        "stopping",
    ]
    kept = log.read_text(encoding="utf-8")
    for line in ("DeprecationWarning", "import pkg_resources", "Starting action endpoint"):
        assert line in kept
    assert "hello from child" in kept and "ready / 就绪" in kept


async def test_log_files_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor_module, "LOG_MAX_BYTES", 4096)
    log = tmp_path / "chatty.log"
    spec = ProcessSpec(
        name="chatty",
        argv=[
            sys.executable,
            "-c",
            "import time\nfor i in range(2000): print('INFO: line', i)\n"
            "print('all said', flush=True); time.sleep(60)",
        ],
        health_url="",
        cwd=tmp_path,
        log_file=log,
        ready_line="all said",
    )

    def on_ready(_elapsed: float) -> None:
        asyncio.get_running_loop().call_later(0.1, os.kill, os.getpid(), signal.SIGTERM)

    out = io.StringIO()
    assert await supervise([spec], out=out, on_ready=on_ready) == 0
    files = sorted(tmp_path.glob("chatty.log*"))
    assert [f.name for f in files] == ["chatty.log", "chatty.log.1", "chatty.log.2"]
    assert all(f.stat().st_size <= 4096 for f in files)
    assert "INFO: line" not in out.getvalue()
    assert "log: chatty.log" in out.getvalue()  # where the full output is

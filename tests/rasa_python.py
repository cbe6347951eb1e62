"""A script run by the Rasa environment's Python, with the environment our settings make
for Rasa (bot/endpoints.yml reads it) and bot/ on its path as ``bot/rasa_start.py`` has it
(our stores): what the real engine does with our configuration."""

from __future__ import annotations

import subprocess

from liangwang.settings import PROJECT_ROOT, Settings
from ops.rasa_engine import rasa_env_with_bot


def _command(settings: Settings, script: str, args: tuple[str, ...]) -> list[str]:
    return [str(settings.rasa_venv / "bin" / "python"), "-c", script, *args]


def _env(settings: Settings) -> dict[str, str]:
    return rasa_env_with_bot(settings)


def run_in_rasa(
    settings: Settings, script: str, stdin: str = "", args: tuple[str, ...] = ()
) -> str:
    done = subprocess.run(
        _command(settings, script, args),
        input=stdin,
        env=_env(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def start_in_rasa(settings: Settings, script: str, *args: str) -> subprocess.Popen[str]:
    """``script`` started, not awaited (for several at once); its output piped."""
    return subprocess.Popen(
        _command(settings, script, args),
        env=_env(settings),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

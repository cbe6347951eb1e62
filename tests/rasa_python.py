"""A script run by the Rasa environment's Python, with the environment our settings make
for Rasa (bot/endpoints.yml reads it): what the real engine does with our configuration."""

from __future__ import annotations

import subprocess

from liangwang.settings import PROJECT_ROOT, Settings
from ops.rasa_engine import rasa_env


def run_in_rasa(
    settings: Settings, script: str, stdin: str = "", args: tuple[str, ...] = ()
) -> str:
    done = subprocess.run(
        [str(settings.rasa_venv / "bin" / "python"), "-c", script, *args],
        input=stdin,
        env=rasa_env(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout

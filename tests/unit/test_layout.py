"""The layout stays a place a newcomer can find their room in: no module grows into a hub."""

from __future__ import annotations

from liangwang.settings import PROJECT_ROOT

PACKAGES = ("liangwang", "actions", "backoffice", "channels", "voice", "ops")
MAX_LINES = 500


def test_no_module_over_500_lines() -> None:
    too_long = {
        path.relative_to(PROJECT_ROOT).as_posix(): lines
        for package in PACKAGES
        for path in (PROJECT_ROOT / package).rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}

"""``liangwang doctor`` on the phone line's speech model."""

from __future__ import annotations

from pathlib import Path

from liangwang.settings import Settings
from ops.doctor import check_speech_model
from voice.model_install import verify_vosk_ko


def test_a_missing_speech_model_is_reported_with_its_fix(tmp_path: Path) -> None:
    check = check_speech_model(Settings(vosk_model=tmp_path / "nothing-here"))
    assert not check.ok
    assert "LIANGWANG_VOSK_MODEL" in check.en and check.fix == "liangwang models fetch vosk-cn"


def test_a_usable_model_or_a_disabled_line_is_fine() -> None:
    assert check_speech_model(Settings(vosk_model=verify_vosk_ko())).ok
    assert check_speech_model(Settings(phone_enabled=False)).ok

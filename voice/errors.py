"""Typed errors of the voice pipeline. Each carries a stable ``code`` for logs and tests."""

from __future__ import annotations


class PipelineError(Exception):
    code = "pipeline-error"


class AudioFormatError(PipelineError, ValueError):
    """Audio that cannot be used: empty, not WAV, wrong sample width or rate."""

    code = "bad-audio"


class RecognizerError(PipelineError):
    """The speech-to-text engine failed or crashed."""

    code = "stt-failed"


class SynthesizerError(PipelineError):
    """The text-to-speech engine failed, hung or produced no audio."""

    code = "tts-failed"


class ModelMissing(PipelineError):
    """A configured model is absent or corrupt; the message names the setting and the fix."""

    code = "model-missing"

    def __init__(self, what: str, *, setting: str, fix: str) -> None:
        super().__init__(f"{what}. Setting: {setting}. Fix: {fix}")
        self.setting = setting
        self.fix = fix

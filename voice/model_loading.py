"""Loading a speech model into its engine once per process, for the engine adapters.

A loaded model is read-only and shared by every call; what each call needs of its own (a
recogniser, a decode) the adapter makes from it. A folder that lacks the files every model
of its engine has, or that the engine cannot load, raises ``ModelMissing`` naming the
engine's setting and the command that fixes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

from liangwang.settings import SttEngine
from voice.errors import ModelMissing
from voice.model_specs import DEFAULT_SPECS, ENGINE_LAYOUTS

M = TypeVar("M")


class SharedModels(Generic[M]):
    """One engine's loaded models, keyed by resolved folder and the load's own options."""

    def __init__(self, engine: SttEngine, name: str) -> None:
        self.engine = engine
        self.name = name  # the engine as messages name it: "Vosk", "Whisper"
        self._models: dict[tuple[Hashable, ...], M] = {}
        self._lock = threading.Lock()

    def get(self, folder: Path, load: Callable[[Path], M], *options: Hashable) -> M:
        """The model in ``folder`` loaded with ``options``: ``load(folder)`` the first time
        (with the folder resolved), the same object afterwards."""
        resolved = folder.resolve()
        key = (resolved, *options)
        with self._lock:
            if key in self._models:
                return self._models[key]
            spec = DEFAULT_SPECS[self.engine]
            layout = ENGINE_LAYOUTS[self.engine]
            missing = [name for name in layout if not (resolved / name).is_file()]
            if missing:
                raise ModelMissing(
                    f"{self.name} model at {resolved} is missing or incomplete "
                    f"(no {', '.join(missing)})",
                    setting=spec.setting,
                    fix=spec.fix,
                )
            try:
                model = load(resolved)
            except Exception as exc:  # engines raise bare or varied exceptions on a bad folder
                raise ModelMissing(
                    f"{self.name} model at {resolved} could not be loaded ({exc}); "
                    "it may be corrupt",
                    setting=spec.setting,
                    fix=spec.fix,
                ) from exc
            self._models[key] = model
            return model

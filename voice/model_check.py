"""Whether the speech models are where the settings say and intact: presence, sizes and
sha256 checksums, the status table's rows, and the check services make at start-up."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from liangwang.settings import Settings, SttEngine, TtsEngine
from voice.errors import ModelMissing
from voice.model_specs import (
    DEFAULT_SPECS,
    KOKORO_ZH,
    VOSK_KO,
    VOSK_KO_PREFIX,
    ExpectedFile,
    ModelSpec,
)

CHUNK = 1 << 20  # 1 MiB: large enough to stream fast, small enough to never matter in RAM

# --- where files are, what they should be -------------------------------------------------

# What an operator is told about a speech model, in English and Chinese.
PROBLEMS = {
    "not_installed": "not installed / 未安装",
    "missing": "incomplete: {file} is missing / 文件缺失",
    "wrong_size": "corrupt: {file} has {size} bytes, expected {expected} / 已损坏",
    "checksum": "corrupt: {file} checksum differs / 校验失败",
}
CUSTOM_MODEL_TITLE = "自选模型 / custom {engine} model"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record_hex(value: str) -> str:
    """RECORD stores digests as unpadded urlsafe base64; we compare hex."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()


def vosk_ko_files() -> tuple[Path, tuple[ExpectedFile, ...]] | None:
    """The Korean model's folder and its files' RECORD checksums, or None if not installed."""
    try:
        dist = metadata.distribution(VOSK_KO.package or "")
    except metadata.PackageNotFoundError:
        return None
    expected = tuple(
        ExpectedFile(str(entry)[len(VOSK_KO_PREFIX) :], record_hex(entry.hash.value), entry.size)
        for entry in dist.files or ()
        if str(entry).startswith(VOSK_KO_PREFIX)
        and entry.hash is not None
        and entry.hash.mode == "sha256"
        and entry.size is not None
    )
    folder = Path(str(dist.locate_file(VOSK_KO_PREFIX.rstrip("/"))))
    return folder, expected


def expected_files(spec: ModelSpec) -> tuple[ExpectedFile, ...]:
    if spec.package is not None:
        found = vosk_ko_files() if spec.key == VOSK_KO.key else None
        return found[1] if found else ()
    return spec.files


# --- checking ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelStatus:
    key: str
    title: str
    setting: str
    path: Path
    # the engine chosen by LIANGWANG_STT_ENGINE uses it, or (the voice) LIANGWANG_TTS_ENGINE
    # would use it; the voice is never required: without it the line speaks with espeak
    configured: bool
    installed: bool  # the folder exists
    verified: bool  # every recorded checksum was computed and matched
    problem: str | None  # why it cannot be used; None when usable
    fix: str

    @property
    def usable(self) -> bool:
        return self.installed and self.problem is None


def check(
    spec: ModelSpec, path: Path, *, deep: bool = True, configured: bool = False
) -> ModelStatus:
    """Is the model at ``path`` complete? ``deep`` also hashes every file with a recorded
    checksum (a second or two); otherwise sizes are compared, which catches truncation."""

    def result(installed: bool, verified: bool, problem: str | None) -> ModelStatus:
        return ModelStatus(
            key=spec.key,
            title=spec.title,
            setting=spec.setting,
            path=path,
            configured=configured,
            installed=installed,
            verified=verified,
            problem=problem,
            fix=spec.fix,
        )

    if not path.is_dir():
        return result(False, False, PROBLEMS["not_installed"])
    for name in spec.layout:
        if not (path / name).is_file():
            return result(True, False, PROBLEMS["missing"].format(file=name))
    expected = expected_files(spec)
    for item in expected:
        file = path / item.path
        if not file.is_file():
            return result(True, False, PROBLEMS["missing"].format(file=item.path))
        size = file.stat().st_size
        if size != item.size:
            return result(
                True,
                False,
                PROBLEMS["wrong_size"].format(file=item.path, size=size, expected=item.size),
            )
    if deep:
        for item in expected:
            if sha256_of(path / item.path) != item.sha256:
                return result(True, False, PROBLEMS["checksum"].format(file=item.path))
    return result(True, deep and bool(expected), None)


def custom_spec(base: ModelSpec) -> ModelSpec:
    """A model folder the operator chose (e.g. the large Mandarin Vosk model): we know its
    layout but not its checksums, so it is checked for completeness only."""
    return ModelSpec(
        key=f"{base.engine.value}-custom",
        engine=base.engine,
        title=CUSTOM_MODEL_TITLE.format(engine=base.engine.value),
        setting=base.setting,
        dirname=base.dirname,
        fix=f"point {base.setting} at a complete model folder, or unset it and run {base.fix}",
        layout=base.layout,
    )


def spec_for(engine: SttEngine, path: Path) -> ModelSpec:
    """Which model a configured folder holds: a known one (checked against its checksums)
    or, for a differently named folder that exists, the operator's own."""
    if engine is SttEngine.vosk:
        ko = vosk_ko_files()
        if ko is not None and _same(path, ko[0]):
            return VOSK_KO
    base = DEFAULT_SPECS[engine]
    if path.name == base.dirname or not path.exists():
        return base
    return custom_spec(base)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def configured_path(settings: Settings, engine: SttEngine) -> Path:
    return settings.vosk_model if engine is SttEngine.vosk else settings.whisper_model


def status(settings: Settings, *, deep: bool = True) -> list[ModelStatus]:
    """Every speech model this installation knows about; the configured ones are marked."""
    rows: list[ModelStatus] = []
    for engine in (SttEngine.vosk, SttEngine.whisper):
        path = configured_path(settings, engine)
        spec = spec_for(engine, path)
        rows.append(check(spec, path, deep=deep, configured=engine is settings.stt_engine))
    if not any(row.key == VOSK_KO.key for row in rows):
        ko = vosk_ko_files()
        path = ko[0] if ko else Path(VOSK_KO.dirname)
        rows.append(check(VOSK_KO, path, deep=deep))
    rows.append(voice_status(settings, deep=deep))
    return rows


def voice_status(settings: Settings, *, deep: bool = False) -> ModelStatus:
    """The Kokoro voice at ``LIANGWANG_KOKORO_MODEL``; configured unless espeak was chosen."""
    configured = settings.tts_engine is not TtsEngine.espeak
    return check(KOKORO_ZH, settings.kokoro_model, deep=deep, configured=configured)


def require(settings: Settings, *, deep: bool = False) -> tuple[ModelSpec, Path]:
    """The configured engine's model, or ``ModelMissing`` naming the setting and the fix.

    Quick by default (presence and sizes): services call this at start-up."""
    engine = settings.stt_engine
    path = configured_path(settings, engine)
    spec = spec_for(engine, path)
    found = check(spec, path, deep=deep, configured=True)
    if found.problem is not None:
        raise ModelMissing(
            f"{spec.title} at {path}: {found.problem}", setting=spec.setting, fix=spec.fix
        )
    return spec, path

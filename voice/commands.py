"""``liangwang phone`` (answer calls) and ``liangwang call`` (one call from a recording or
the microphone)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from liangwang.settings import load_settings
from voice import events as ev
from voice.audio import Audio
from voice.errors import AudioFormatError, ModelMissing


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    phone = sub.add_parser(
        "phone", help="接听电话：SIP 和 AudioSocket / answer calls (SIP and AudioSocket)"
    )
    phone.set_defaults(func=cmd_phone)

    call = sub.add_parser(
        "call",
        help="用录音或麦克风打一通电话 / one call from a recording or the microphone",
        description="把录音当作来电人说的话，逐轮打印识别结果和助手的回答。"
        " / Play a recording as the caller and print each turn.",
    )
    source = call.add_mutually_exclusive_group(required=True)
    source.add_argument("wav", nargs="?", type=Path, help="来电录音 WAV / caller recording")
    source.add_argument("--mic", action="store_true", help="用麦克风和扬声器 / microphone")
    call.add_argument("--caller", default="", help="来电号码 / caller number (identity)")
    call.add_argument("--out", type=Path, help="把助手的回答存成 WAV / save replies as WAV")
    call.set_defaults(func=cmd_call)


def print_event(event: ev.CallEvent) -> None:
    if isinstance(event, ev.Recognized):
        print(f"来电：{event.text or '（没听清）'}  [{event.confidence:.2f}]", flush=True)
    elif isinstance(event, ev.KeysEntered):
        print(f"按键：{event.keys}", flush=True)
    elif isinstance(event, ev.Spoke):
        for text in event.texts:
            print(f"助手：{text}", flush=True)
    elif isinstance(event, ev.PipelineFailed):
        print(f"（出错：{event.code}）", flush=True)
    elif isinstance(event, ev.CallEnded):
        print(f"（通话结束：{event.reason}）", flush=True)


def cmd_call(args: argparse.Namespace) -> int:
    from voice.app import build_engines, call_config
    from voice.session import CallSession

    settings = load_settings()
    if args.mic:
        from voice.microphone import run_microphone_call

        return run_microphone_call(settings, caller=args.caller, on_event=print_event)
    try:
        recording = Audio.from_wav(args.wav)
        from voice.file_line import FileLine

        line = FileLine(recording, caller=args.caller)
    except (OSError, AudioFormatError) as exc:
        print(f"无法读取录音 / cannot read the recording {args.wav}: {exc}")
        return 2
    try:
        engines = build_engines(settings)
    except ModelMissing as exc:
        print(f"语音模型不可用 / speech model unavailable: {exc}")
        return 1

    async def run() -> None:
        try:
            await CallSession(line, engines, call_config(settings), on_event=print_event).run()
        finally:
            await engines.dialogue.aclose()

    asyncio.run(run())
    if args.out:
        args.out.write_bytes(line.reply_audio().to_wav())
        print(f"回答已保存 / replies saved: {args.out}")
    return 0


def cmd_phone(args: argparse.Namespace) -> int:
    from voice.app import build_engines, serve_phone

    settings = load_settings()
    try:
        engines = build_engines(settings)
    except ModelMissing as exc:
        print(f"电话线路无法启动 / the phone line cannot start: {exc}")
        return 1
    asyncio.run(serve_phone(settings, engines))
    return 0

"""``liangwang``: one command for every operator task. Help is in Chinese and English."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence

from liangwang.conversation import BotMessage
from liangwang.db import migrate
from liangwang.dialogue import (
    DialogueError,
    MessageTooLong,
    NothingSaid,
    RasaRestEngine,
    UserTurn,
)
from liangwang.settings import Settings, load_settings
from ops import catalog_commands, staff_commands
from ops.catalog_commands import seed_sample_catalog_if_empty
from voice import commands as voice_commands
from voice import model_commands

TRAINING_STARTS = "正在训练对话模型，需要几分钟 / training the model (minutes); log: {log}"


def _print_replies(replies: list[BotMessage]) -> None:
    if not replies:
        print("助手：（没有回答 / no reply）")
    for message in replies:
        if message.text:
            print(f"助手：{message.text}")
        for button in message.buttons:
            print(f"      [{button.get('title')}]")


async def _chat(settings: Settings, once: str | None, conversation_id: str) -> int:
    engine = RasaRestEngine.from_settings(settings)
    try:
        if once is not None:
            _print_replies(await engine.send(UserTurn(conversation_id, once, "cli")))
            return 0
        print("已连接助手。输入 /退出 或按 Ctrl-D 结束。/ Connected. Type /quit or Ctrl-D to end.")
        while True:
            try:
                text = input("您：").strip()
            except EOFError:
                print()
                return 0
            if text in ("/退出", "/quit"):
                return 0
            if not text:
                continue
            try:
                _print_replies(await engine.send(UserTurn(conversation_id, text, "cli")))
            except MessageTooLong as exc:
                print(f"消息太长：最多 {exc.limit} 个字 / too long ({exc.length} > {exc.limit})")
            except NothingSaid:
                print("助手这次没有回答，请再发一次。/ No answer this time; please send it again.")
    except DialogueError as exc:
        print(
            f"连不上助手，请先运行 make run。/ Cannot reach the assistant at {settings.rasa_url}; "
            f"start it with `make run`. ({exc})",
            file=sys.stderr,
        )
        return 2
    finally:
        await engine.aclose()


def cmd_chat(args: argparse.Namespace) -> int:
    settings = load_settings()
    return asyncio.run(_chat(settings, args.once, args.conversation or f"cli-{uuid.uuid4().hex}"))


def cmd_train(args: argparse.Namespace) -> int:
    from ops.rasa_engine import train

    settings = load_settings()
    started = time.monotonic()
    path, trained = train(settings, force=args.force)
    if trained:
        print(f"训练完成 / trained {path.name} in {time.monotonic() - started:.1f} s")
    else:
        print(f"模型已是最新，无需训练 / model up to date: {path.name}")
    return 0


def cmd_validate(_args: argparse.Namespace) -> int:
    from ops.rasa_engine import validate

    return validate(load_settings())


def cmd_test_dialogue(_args: argparse.Namespace) -> int:
    from ops.rasa_engine import test_stories, train

    settings = load_settings()
    model, _ = train(settings)
    return test_stories(settings, model)


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    settings = load_settings()
    migrate(settings.effective_database_url)
    print("数据库已是最新结构 / database schema is up to date")
    return 0


def cmd_doctor(_args: argparse.Namespace) -> int:
    from ops.doctor import run_checks

    checks = run_checks(load_settings())
    for check in checks:
        print(check.render())
    return 0 if all(c.ok for c in checks) else 1


def cmd_run(args: argparse.Namespace) -> int:
    from ops.rasa_engine import train
    from ops.stack import build_stack, with_start_secrets
    from ops.supervisor import supervise

    started = time.monotonic()
    settings = with_start_secrets(load_settings())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.data_dir.chmod(0o700)  # citizens' words, numbers and recordings: ours alone
    # Rasa's training output (hundreds of lines of warnings and progress bars) goes to a
    # log file: the terminal shows one line for it, and where to look if it fails.
    train_log = settings.data_dir / "logs" / "train.log"
    train_log.parent.mkdir(parents=True, exist_ok=True)
    try:
        model, trained = train(
            settings,
            log=train_log,
            on_start=lambda: print(TRAINING_STARTS.format(log=train_log), flush=True),
        )
    except subprocess.CalledProcessError:
        print(f"训练失败 / training failed; see {train_log}", file=sys.stderr)
        return 1
    print(("训练完成 / trained " if trained else "模型已是最新 / model up to date: ") + model.name)
    migrate(settings.effective_database_url)
    seed_sample_catalog_if_empty(settings)
    stack = build_stack(settings, model)
    for line in stack.skipped:
        print(line)

    def on_ready(_elapsed: float) -> None:
        total = time.monotonic() - started
        print(
            f"\n全部就绪，用时 {total:.1f} 秒 / all services ready in {total:.1f} s\n"
            f"  网页聊天 / web chat:      {settings.web_url}/\n"
            f"  后台 / back office:       {settings.staff_url}/staff/\n"
            f"  Rasa REST:                {settings.rasa_url}/webhooks/rest/webhook\n"
            f"  终端聊天 / terminal chat: liangwang chat\n"
            "按 Ctrl-C 停止 / press Ctrl-C to stop\n",
            flush=True,
        )

    return asyncio.run(supervise(stack.processes, on_ready=on_ready))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liangwang",
        description="两网通办智能助手的运维命令 / operator commands of liangwang-assist",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="命令/command")

    run = sub.add_parser("run", help="启动整套服务 / start the whole stack (Rasa, actions, web)")
    run.set_defaults(func=cmd_run)

    chat = sub.add_parser("chat", help="在终端里和助手对话 / chat with the running assistant")
    chat.add_argument("--once", metavar="文字/TEXT", help="只发一句话并打印回答 / send one message")
    chat.add_argument("--conversation", metavar="ID", help="会话编号 / conversation id to continue")
    chat.set_defaults(func=cmd_chat)

    train = sub.add_parser("train", help="需要时训练对话模型 / train the model if inputs changed")
    train.add_argument(
        "--force", action="store_true", help="强制重新训练 / train even if up to date"
    )
    train.set_defaults(func=cmd_train)

    validate = sub.add_parser("validate", help="检查训练数据 / rasa data validate")
    validate.set_defaults(func=cmd_validate)

    test_dialogue = sub.add_parser(
        "test-dialogue", help="运行对话测试故事 / rasa test on tests/dialogue"
    )
    test_dialogue.set_defaults(func=cmd_test_dialogue)

    doctor = sub.add_parser("doctor", help="检查环境、模型、数据库和端口 / check the installation")
    doctor.set_defaults(func=cmd_doctor)

    catalog_commands.add_parser(sub)
    staff_commands.add_parser(sub)
    model_commands.add_parser(sub)
    voice_commands.add_parser(sub)

    db = sub.add_parser("db", help="数据库 / database")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="命令/command")
    upgrade = db_sub.add_parser(
        "upgrade", help="创建或升级数据库结构 / create or migrate the schema"
    )
    upgrade.set_defaults(func=cmd_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())

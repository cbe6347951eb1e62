"""``liangwang staff create|disable|reset-password``: staff accounts from the command line
(the first administrator has no one to create it in the back office). The password is
asked for twice without echo, or read from standard input with ``--password-stdin``
(for scripts); it never appears on the command line, where other users could see it."""

from __future__ import annotations

import argparse
import getpass
import sys

from liangwang.db import migrate, sessions_for, unit_of_work
from liangwang.settings import load_settings
from liangwang.staff import accounts
from liangwang.staff.models import Role
from liangwang.staff.passwords import WeakPassword

ACTOR = "cli"  # who the staff audit trail says acted


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("密码 / password: ")
    if getpass.getpass("再输一次 / again: ") != first:
        raise accounts.AccountError("两次不一样 / the passwords differ")
    return first


def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    migrate(settings.effective_database_url)
    try:
        password = _password(args) if args.staff_command != "disable" else ""
        with unit_of_work(sessions_for(settings.effective_database_url)) as session:
            if args.staff_command == "create":
                accounts.create(session, args.username, password, Role(args.role), args.name)
            elif args.staff_command == "disable":
                accounts.disable(session, args.username)
            else:
                accounts.reset_password(session, args.username, password)
            accounts.record(session, ACTOR, f"cli_{args.staff_command}", args.username)
    except (accounts.AccountError, WeakPassword) as exc:
        print(f"没有完成 / not done: {exc}", file=sys.stderr)
        return 1
    print(f"完成 / done: {args.staff_command} {args.username}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    staff = sub.add_parser("staff", help="后台工作人员账号 / staff accounts")
    ssub = staff.add_subparsers(dest="staff_command", required=True, metavar="命令/command")

    create = ssub.add_parser("create", help="新建账号 / create an account")
    create.add_argument("username")
    create.add_argument(
        "--role",
        choices=[r.value for r in Role],
        required=True,
        help="reviewer 审阅员, dispatcher 派单员, admin 管理员",
    )
    create.add_argument("--name", default="", help="显示的姓名 / display name")

    ssub.add_parser("disable", help="停用账号 / disable an account").add_argument("username")
    reset = ssub.add_parser("reset-password", help="重设密码 / set a new password")
    reset.add_argument("username")
    for command in (create, reset):
        command.add_argument(
            "--password-stdin", action="store_true", help="从标准输入读密码 / read it from stdin"
        )
    staff.set_defaults(func=_run)

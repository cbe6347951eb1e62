"""``liangwang doctor``: check environments, model, database and ports; say what is wrong."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass

import httpx
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from liangwang.db import alembic_config, make_engine
from liangwang.settings import Settings, TtsEngine
from ops.rasa_engine import model_path, rasa_bin


@dataclass(frozen=True)
class Check:
    ok: bool
    zh: str
    en: str
    fix: str = ""

    def render(self) -> str:
        mark = "✔" if self.ok else "✘"
        line = f"{mark} {self.zh} / {self.en}"
        return line + (f"\n    → {self.fix}" if self.fix and not self.ok else "")


def check_rasa_env(settings: Settings) -> Check:
    binary = rasa_bin(settings)
    if not binary.exists():
        return Check(
            False,
            "Rasa 环境未安装",
            f"Rasa environment missing ({binary})",
            "运行 make setup / run `make setup` (needs Python 3.10)",
        )
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=120, check=True
        ).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        return Check(
            False,
            "Rasa 无法启动",
            f"Rasa does not start: {exc}",
            "删除 .venv-rasa 后运行 make setup / delete .venv-rasa and run `make setup`",
        )
    version = next(
        (ln.split(":")[-1].strip() for ln in out.splitlines() if ln.startswith("Rasa Version")), "?"
    )
    return Check(
        version == "3.6.21",
        f"Rasa 版本 {version}",
        f"Rasa version {version}",
        "运行 make setup / run `make setup`",
    )


def check_model(settings: Settings) -> Check:
    path = model_path(settings)
    return Check(
        path.exists(),
        "对话模型已是最新",
        f"model up to date ({path.name})",
        "运行 liangwang train / run `liangwang train`",
    )


def check_speech_model(settings: Settings) -> Check:
    """The phone line's recogniser model (optional: without it the line is skipped)."""
    from voice.errors import ModelMissing
    from voice.model_check import require

    if not settings.phone_enabled:
        return Check(True, "电话线路已关闭（可选）", "phone line disabled (optional)")
    try:
        spec, path = require(settings)
    except ModelMissing as exc:
        return Check(False, "语音识别模型不可用", f"speech model unusable: {exc}", exc.fix)
    return Check(True, f"语音识别模型可用：{spec.title}", f"speech model usable ({path.name})")


def check_voice(settings: Settings) -> Check:
    """The phone line's voice: Kokoro when wanted, else espeak by choice. A missing Kokoro
    voice is reported (the line falls back to robotic espeak) with the command that fixes it."""
    from voice.model_check import voice_status

    if not settings.phone_enabled:
        return Check(True, "电话线路已关闭，无需语音合成", "no voice needed: phone line disabled")
    if settings.tts_engine is TtsEngine.espeak:
        return Check(
            True, "语音合成：espeak（已选择）", "voice: espeak (LIANGWANG_TTS_ENGINE=espeak)"
        )
    found = voice_status(settings)
    if found.problem is not None:
        return Check(
            False,
            "Kokoro 语音不可用，电话将用 espeak 说话",
            f"Kokoro voice unusable, the phone line speaks with espeak: {found.problem} "
            f"({found.setting}={found.path})",
            found.fix,
        )
    return Check(
        True,
        f"语音合成：Kokoro，音色 {settings.tts_speaker.value}",
        f"voice: Kokoro, speaker {settings.tts_speaker.value} ({found.path.name})",
    )


def check_database(settings: Settings) -> Check:
    url = settings.effective_database_url
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        engine.dispose()
    except SQLAlchemyError as exc:
        return Check(
            False,
            "数据库连不上",
            f"database unreachable: {exc.__class__.__name__}",
            "检查 LIANGWANG_DATABASE_URL / check LIANGWANG_DATABASE_URL",
        )
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    return Check(
        current == head,
        f"数据库结构版本 {current}",
        f"database schema at {current}",
        "运行 liangwang db upgrade / run `liangwang db upgrade`",
    )


def check_port(name: str, host: str, port: int, health_url: str) -> Check:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        in_use = sock.connect_ex((host, port)) == 0
    if not in_use:
        return Check(True, f"{name} 端口 {port} 空闲", f"{name} port {port} free")
    try:
        ours = httpx.get(health_url, timeout=2.0).status_code < 500
    except httpx.HTTPError:
        ours = False
    if ours:
        return Check(True, f"{name} 正在 {port} 端口运行", f"{name} running on port {port}")
    return Check(
        False,
        f"{name} 端口 {port} 被别的程序占用",
        f"{name} port {port} taken by another program",
        "关掉那个程序，或换个端口（见 .env.example）/ stop it or choose another port",
    )


def run_checks(settings: Settings) -> list[Check]:
    checks = [
        check_rasa_env(settings),
        check_model(settings),
        check_speech_model(settings),
        check_voice(settings),
        check_database(settings),
        check_port(
            "Rasa",
            settings.rasa_host,
            settings.rasa_port,
            f"{settings.rasa_url}/webhooks/rest/",
        ),
        check_port(
            "actions",
            settings.action_host,
            settings.action_port,
            settings.action_health_url,
        ),
        check_port("web", settings.host, settings.web_port, f"{settings.web_url}/healthz"),
        check_port(
            "staff", settings.staff_host, settings.staff_port, f"{settings.staff_url}/healthz"
        ),
    ]
    if settings.telegram_token is None:
        checks.append(Check(True, "未设置 Telegram（可选）", "Telegram not configured (optional)"))
    return checks

"""The processes that make up the stack, derived from settings. No process is started here."""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import SecretStr

from liangwang.settings import PROJECT_ROOT, Settings
from ops.load_balancer import pools
from ops.rasa_engine import BOT_DIR, action_secret_env, rasa_env
from ops.sip_proxy import LINE_UP_MARK, LineProcess, line_processes

# What the phone line prints once SIP and AudioSocket listen (voice.app.PHONE_LINE_READY).
PHONE_READY_MARK = "phone line ready"


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    health_url: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = PROJECT_ROOT
    # Everything the process prints, kept in full (the terminal shows only what matters).
    log_file: Path | None = None
    # For a process with no HTTP health check: it is ready once it prints a line holding
    # this text (the phone line, once SIP and AudioSocket listen). Empty: ready at once.
    ready_line: str = ""


@dataclass(frozen=True)
class Stack:
    processes: list[ProcessSpec]
    # One line per optional part that was left out, saying why and how to turn it on.
    skipped: list[str]


def log_file(settings: Settings, name: str) -> Path:
    return settings.data_dir / "logs" / f"{name}.log"


def rasa_spec(
    settings: Settings, model: Path, name: str = "rasa", port: int | None = None
) -> ProcessSpec:
    """The Rasa engine; ``port``: a replica's own, behind the load balancer."""
    port = settings.rasa_port if port is None else port
    return ProcessSpec(
        name=name,
        # Rasa's own command, after a start-up change of ours (bot/rasa_start.py).
        argv=[
            str(settings.rasa_venv / "bin" / "python"),
            str(BOT_DIR / "rasa_start.py"),
            "run",
            "--model",
            str(model),
            "--endpoints",
            str(BOT_DIR / "endpoints.yml"),
            "--credentials",
            str(BOT_DIR / "credentials.yml"),
            "--interface",
            settings.rasa_host,
            "--port",
            str(port),
        ],
        health_url=f"http://{settings.rasa_host}:{port}/webhooks/rest/",
        env=rasa_env(settings),
        log_file=log_file(settings, name),
    )


def with_start_secrets(settings: Settings) -> Settings:
    """``settings`` with the secrets the processes of one start share: the one Rasa and the
    action server share, and the key of the web page's spoken replies; each the configured
    one, or a new one for this start of the stack."""
    made = {
        name: SecretStr(secrets.token_urlsafe(32))
        for name in ("action_secret", "speech_link_secret")
        if getattr(settings, name) is None
    }
    return settings.model_copy(update=made) if made else settings


def app_env(settings: Settings) -> dict[str, str]:
    # Children read the same LIANGWANG_* variables, so they see the settings we validated.
    link = settings.speech_link_secret
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        **action_secret_env(settings),
        "LIANGWANG_SPEECH_LINK_SECRET": link.get_secret_value() if link else "",
    }


def app_process(
    settings: Settings, name: str, argv: list[str], health_url: str, ready_line: str = ""
) -> ProcessSpec:
    """One of our own processes, run with this Python in the application environment
    (``health_url`` and ``ready_line`` empty: healthy while it runs)."""
    return ProcessSpec(
        name=name,
        argv=[sys.executable, "-m", *argv],
        health_url=health_url,
        env=app_env(settings),
        log_file=log_file(settings, name),
        ready_line=ready_line,
    )


def action_server_spec(
    settings: Settings, name: str = "actions", port: int | None = None
) -> ProcessSpec:
    """The action server; ``port``: a replica's own, behind the load balancer."""
    port = settings.action_port if port is None else port
    spec = app_process(
        settings, name, ["ops.action_server"], f"http://{settings.action_host}:{port}/health"
    )
    return replace(spec, env={**spec.env, "LIANGWANG_ACTION_PORT": str(port)})


def balancer_spec(settings: Settings) -> ProcessSpec:
    # Healthy once a Rasa replica answers through it.
    return app_process(
        settings, "balancer", ["ops.load_balancer"], f"{settings.rasa_url}/webhooks/rest/"
    )


def engine_specs(settings: Settings, model: Path) -> list[ProcessSpec]:
    """The action servers and Rasa processes: one of each, or replicas behind HAProxy."""
    if not settings.balanced:
        return [action_server_spec(settings), rasa_spec(settings, model)]
    rasa, actions = pools(settings)
    return [
        *(
            action_server_spec(settings, f"actions-{i}", port)
            for i, port in enumerate(actions.replica_ports, start=1)
        ),
        *(
            rasa_spec(settings, model, f"rasa-{i}", port)
            for i, port in enumerate(rasa.replica_ports, start=1)
        ),
        balancer_spec(settings),
    ]


def web_spec(settings: Settings) -> ProcessSpec:
    # With the speech engines wired in (press-to-talk, spoken replies).
    factory = "ops.web_apps:citizen_app"
    return _uvicorn(settings, "web", factory, settings.host, settings.web_port)


def staff_spec(settings: Settings) -> ProcessSpec:
    factory = "backoffice.app:create_staff_app"
    return _uvicorn(settings, "staff", factory, settings.staff_host, settings.staff_port)


# Largest WebSocket message (press-to-talk sends a tenth of a second, 3.2 KB, at a time).
WS_MAX_BYTES = 64 * 1024


def _uvicorn(settings: Settings, name: str, factory: str, host: str, port: int) -> ProcessSpec:
    return app_process(
        settings,
        name,
        [
            "uvicorn",
            factory,
            "--factory",
            "--ws-max-size",
            str(WS_MAX_BYTES),
            "--host",
            host,
            "--port",
            str(port),
            "--no-access-log",
            # A citizen's address (rate limits) comes from X-Forwarded-For only when the
            # request came through one of our proxies.
            "--proxy-headers",
            "--forwarded-allow-ips",
            settings.trusted_proxies,
        ],
        f"http://{host}:{port}/healthz",
    )


def telegram_spec(settings: Settings) -> ProcessSpec:
    return app_process(settings, "telegram", ["ops.telegram_bot"], health_url="")


def retention_spec(settings: Settings) -> ProcessSpec:
    return app_process(settings, "retention", ["ops.retention"], health_url="")


def phone_spec(
    settings: Settings, name: str = "phone", line: LineProcess | None = None
) -> ProcessSpec:
    """A phone-line process; ``line``: where one of several listens, behind Kamailio."""
    # Loading the speech models and preparing the call prompts takes a while (the natural
    # voice makes them on a first start): ready when it says it listens.
    spec = app_process(
        settings, name, ["ops.cli", "phone"], health_url="", ready_line=PHONE_READY_MARK
    )
    return spec if line is None else replace(spec, env={**spec.env, **line.env()})


def phone_specs(settings: Settings) -> list[ProcessSpec]:
    """The phone line: one process, or several behind Kamailio (ops/sip_proxy.py)."""
    if settings.phone_processes == 1:
        return [phone_spec(settings)]
    lines = [
        phone_spec(settings, f"phone-{i}", line)
        for i, line in enumerate(line_processes(settings), start=1)
    ]
    # Ready once Kamailio says a phone process answered its probe: a call gets through.
    proxy = app_process(
        settings, "sip-proxy", ["ops.sip_proxy"], health_url="", ready_line=LINE_UP_MARK
    )
    return [*lines, proxy]


def phone_unavailable(settings: Settings) -> str | None:
    """Why the phone line cannot start here (one line with the fix), or None."""
    if not settings.phone_enabled:
        return "跳过电话线路：LIANGWANG_PHONE_ENABLED=false / skipping the phone line: disabled"
    from voice.errors import ModelMissing
    from voice.model_check import require

    try:
        require(settings)
    except ModelMissing as exc:
        return f"跳过电话线路：语音模型不可用 / skipping the phone line: {exc}"
    return None


def build_stack(settings: Settings, model: Path) -> Stack:
    processes = [
        *engine_specs(settings, model),
        web_spec(settings),
        staff_spec(settings),
        retention_spec(settings),
    ]
    skipped: list[str] = []
    if settings.telegram_token is not None:
        processes.append(telegram_spec(settings))
    else:
        skipped.append(
            "跳过 Telegram：未设置 LIANGWANG_TELEGRAM_TOKEN / "
            "skipping Telegram: LIANGWANG_TELEGRAM_TOKEN is not set"
        )
    why_not = phone_unavailable(settings)
    if why_not is None:
        processes += phone_specs(settings)
    else:
        skipped.append(why_not)
    return Stack(processes=processes, skipped=skipped)

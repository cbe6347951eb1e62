"""Typed settings, read from environment variables (prefix ``LIANGWANG_``) and ``.env``.

Every setting is listed with its default in ``.env.example``. Settings are validated when a
process starts, so a bad value stops it with a message naming the variable.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

Port = Annotated[int, Field(ge=1, le=65535)]


class Profile(StrEnum):
    embedded = "embedded"  # one machine, SQLite files, everything under one supervisor
    scaled = "scaled"  # PostgreSQL + Redis lock store, several replicas


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LIANGWANG_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
    )

    profile: Profile = Profile.embedded
    data_dir: Path = Field(default=PROJECT_ROOT / "var", description="SQLite files, logs, caches")
    models_dir: Path = PROJECT_ROOT / "models"
    rasa_venv: Path = PROJECT_ROOT / ".venv-rasa"

    # Our own data (tickets, catalog, transcripts, handoffs). Empty: SQLite in data_dir.
    database_url: str = ""
    # Rasa's tracker store (conversations). Empty: SQLite in data_dir.
    tracker_store_url: str = ""
    # Rasa lock store; empty keeps locks in memory (one Rasa process). redis://… for replicas.
    lock_store_url: str = ""

    host: str = "127.0.0.1"
    rasa_port: Port = 5005
    action_port: Port = 5055
    web_port: Port = 8000

    telegram_token: SecretStr | None = None
    # Where python-telegram-bot sends Bot API calls; override only to use a local stand-in.
    telegram_api_url: str = "https://api.telegram.org/bot"

    # Open311 API keys allowed to file requests (comma-separated). Empty: nobody may POST.
    open311_api_keys: SecretStr = SecretStr("")

    # Longest message a citizen may send in one turn (characters).
    max_message_chars: Annotated[int, Field(ge=10, le=20000)] = 4000
    # Seconds to wait for one dialogue turn from Rasa before apologising.
    turn_timeout_s: Annotated[float, Field(gt=0, le=120)] = 15.0

    @model_validator(mode="after")
    def _scaled_needs_real_stores(self) -> Settings:
        if self.profile is Profile.scaled:
            missing = [
                name
                for name, value in (
                    ("LIANGWANG_DATABASE_URL", self.database_url),
                    ("LIANGWANG_TRACKER_STORE_URL", self.tracker_store_url),
                    ("LIANGWANG_LOCK_STORE_URL", self.lock_store_url),
                )
                if not value
            ]
            if missing:
                raise ValueError("scaled profile needs " + ", ".join(missing))
        return self

    @cached_property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'liangwang.db'}"

    @cached_property
    def effective_tracker_store_url(self) -> str:
        return self.tracker_store_url or f"sqlite:///{self.data_dir.resolve() / 'tracker.db'}"

    @property
    def open311_keys(self) -> frozenset[str]:
        raw = self.open311_api_keys.get_secret_value()
        return frozenset(k.strip() for k in raw.split(",") if k.strip())

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.host}:{self.action_port}/webhook"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"


class SettingsError(SystemExit):
    """Raised at start-up when a setting is invalid; the message names the variable."""


def load_settings() -> Settings:
    """Read and validate settings, turning a validation error into a readable exit."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = ["配置有误 / invalid settings:"]
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            var = f"LIANGWANG_{loc.upper()}" if loc else "(settings)"
            lines.append(f"  {var}: {err['msg']}")
        raise SettingsError("\n".join(lines)) from None

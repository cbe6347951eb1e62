"""Typed settings, read from environment variables (prefix ``LIANGWANG_``) and ``.env``.

Every setting is listed with its default in ``.env.example``. Settings are validated when a
process starts, so a bad value stops it with a message naming the variable.
"""

from __future__ import annotations

import re
from datetime import time
from enum import StrEnum
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Several phone processes share the RTP range out: each needs room for a few calls.
MIN_RTP_SHARE = 4

Port = Annotated[int, Field(ge=1, le=65535)]


class Profile(StrEnum):
    embedded = "embedded"  # one machine, SQLite files, everything under one supervisor
    scaled = "scaled"  # PostgreSQL + Redis lock store, several replicas


class SttEngine(StrEnum):
    vosk = "vosk"  # the default: streaming Kaldi models (official Mandarin model via fetch)
    whisper = "whisper"  # faster-whisper with Whisper base from the package registry


class TtsEngine(StrEnum):
    auto = "auto"  # kokoro when its model is installed and loads, else espeak
    kokoro = "kokoro"  # Kokoro-82M: a natural voice, about 0.5-1 CPU-s per second of speech
    espeak = "espeak"  # espeak-ng through pyttsx3: robotic but light (the low-resource choice)


class TtsSpeaker(StrEnum):
    """Kokoro's Mandarin speakers (zf_ female, zm_ male). zf_xiaoxiao is the default: Whisper
    transcribes her best after a telephone line (character error rate 0.19)."""

    zf_xiaobei = "zf_xiaobei"
    zf_xiaoni = "zf_xiaoni"
    zf_xiaoxiao = "zf_xiaoxiao"
    zf_xiaoyi = "zf_xiaoyi"
    zm_yunjian = "zm_yunjian"
    zm_yunxi = "zm_yunxi"
    zm_yunxia = "zm_yunxia"
    zm_yunyang = "zm_yunyang"


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
    # Where call recordings and complaint photos are kept: a directory every replica
    # reaches (shared storage) when several machines serve. Empty: in data_dir.
    shared_dir: Path | None = None
    models_dir: Path = PROJECT_ROOT / "models"
    rasa_venv: Path = PROJECT_ROOT / ".venv-rasa"

    # Our own data (tickets, catalog, transcripts, handoffs). Empty: SQLite in data_dir.
    database_url: str = ""
    # Rasa's tracker store (conversations). Empty: SQLite in data_dir.
    tracker_store_url: str = ""
    # Rasa lock store: redis://… (or rediss://) when Rasa replicas run on several machines.
    # Empty: in memory for one Rasa process; an SQLite file in data_dir shared by the
    # replicas of one machine (bot/sqlite_lock_store.py).
    lock_store_url: str = ""
    # How often the staff app reads the tracker store's new events into the review tables
    # (seconds).
    review_ingest_every_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    # Where an administrator writes the reviewers' corrections as NLU training data: a
    # file under nlu_data/ is trained on at the next start (and is meant to be committed).
    review_export_file: Path = PROJECT_ROOT / "nlu_data" / "reviewed.yml"

    # Where citizens reach the web chat, the catalog search and Open311.
    host: str = "127.0.0.1"
    # Where staff reach the back office (tickets, handoffs, calls, citizens' numbers): its
    # own listener, so exposing the citizen web above never exposes it.
    staff_host: str = "127.0.0.1"
    # Where the phone line listens (SIP, RTP, AudioSocket): the PBX's side, apart from the
    # web's, so taking calls from a PBX opens nothing else.
    phone_host: str = "127.0.0.1"
    # Rasa and the action server are reached only by our own processes: loopback, or a
    # private address in the scaled profile, never what LIANGWANG_HOST opens to callers.
    rasa_host: str = "127.0.0.1"
    action_host: str = "127.0.0.1"
    rasa_port: Port = 5005
    action_port: Port = 5055
    # How many Rasa processes and action servers serve. More than one: HAProxy listens on
    # LIANGWANG_RASA_PORT and LIANGWANG_ACTION_PORT and the replicas on the ports after
    # each (ops/load_balancer.py). 0: one on the embedded default, two in the scaled profile.
    rasa_replicas: Annotated[int, Field(ge=0, le=16)] = 0
    action_replicas: Annotated[int, Field(ge=0, le=16)] = 0
    web_port: Port = 8000
    staff_port: Port = 8001
    # Sent by Rasa with every action call; the action server answers nothing without it.
    # Empty: `liangwang run` makes a new one for each start.
    action_secret: SecretStr | None = None

    telegram_token: SecretStr | None = None
    # Messages a minute one Telegram user may send (a third of them at once); past it the
    # user is asked, once, to slow down.
    telegram_messages_per_minute: Annotated[int, Field(ge=1, le=10_000)] = 20
    # Where python-telegram-bot sends Bot API calls; override only to use a local stand-in.
    telegram_api_url: str = "https://api.telegram.org/bot"
    # Where files (photos citizens send) are downloaded from; beside the base URL above.
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    # Webhook mode instead of long polling: the public HTTPS address Telegram posts updates
    # to (a TLS proxy in front forwards it to the host and port below), and the secret it
    # sends with each (1–256 of A-Z, a-z, 0-9, _ and -); a request without it gets 403.
    telegram_webhook_url: str = ""
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_host: str = "127.0.0.1"
    telegram_webhook_port: Port = 8443
    # Largest photo kept with a complaint; a larger one is taken at a smaller size.
    max_photo_bytes: Annotated[int, Field(ge=10_000, le=20_000_000)] = 5_000_000
    # Longest voice note heard (seconds), and the largest file taken for one (bytes): a
    # Telegram voice note is about 4 KB a second. Press-to-talk on the web page stops here
    # too. Longer ones are refused with a request to split them.
    voice_note_max_s: Annotated[float, Field(ge=5, le=600)] = 120.0
    max_voice_note_bytes: Annotated[int, Field(ge=10_000, le=20_000_000)] = 2_000_000
    # Spoken replies offered on the web page are links signed with this key, so the page
    # cannot be used to make our voice say anything else. Empty: `liangwang run` makes a
    # new one for each start (every web process of that start shares it).
    speech_link_secret: SecretStr | None = None

    # Open311 API keys allowed to file requests (comma-separated). Empty: nobody may POST.
    open311_api_keys: SecretStr = SecretStr("")

    # Host names the web app answers to (comma-separated; "*" for any). Requests naming
    # another host are refused, so pages elsewhere cannot reach us by DNS rebinding.
    allowed_hosts: str = "127.0.0.1,localhost,::1"
    # Proxies (load balancers) whose X-Forwarded-For names the citizen's address,
    # comma-separated; requests from anywhere else are taken by their own address.
    trusted_proxies: str = "127.0.0.1"
    # Largest request body the web app reads (bytes); and a catalog file an administrator
    # uploads in the back office (the sample catalog is about 170 KB).
    max_request_bytes: Annotated[int, Field(ge=1024, le=10_000_000)] = 64 * 1024
    max_catalog_bytes: Annotated[int, Field(ge=1024, le=50_000_000)] = 5_000_000
    # Requests a minute on the web chat, the catalog search and Open311 POST, per client
    # address; and chat messages a minute per web conversation.
    rate_limit_per_address: Annotated[int, Field(ge=1, le=100_000)] = 60
    rate_limit_per_conversation: Annotated[int, Field(ge=1, le=10_000)] = 20
    # How long personal data is kept (days), then removed by the retention job: call
    # recordings (the transcript's words stay with the call), conversations in Rasa's
    # tracker store, photos sent with complaints, the speech cache (the domain's fixed
    # sentences, made again when needed; it never holds a caller's words), and unfinished
    # complaints (drafts) not taken up again since they were last added to.
    retention_recordings_days: Annotated[int, Field(ge=1, le=3650)] = 90
    retention_conversations_days: Annotated[int, Field(ge=1, le=3650)] = 365
    retention_photos_days: Annotated[int, Field(ge=1, le=3650)] = 365
    retention_speech_cache_days: Annotated[int, Field(ge=1, le=3650)] = 60
    retention_drafts_days: Annotated[int, Field(ge=1, le=3650)] = 90
    # Staff sign-in: wrong passwords in a row before the account is locked, and for how
    # long; a session ends when unused this long, and after a shift whatever happens.
    staff_max_failed_sign_ins: Annotated[int, Field(ge=1, le=100)] = 5
    staff_lockout_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 15
    staff_idle_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    staff_session_hours: Annotated[int, Field(ge=1, le=72)] = 12
    # Sign-in attempts a minute from one address: far more than a person mistyping needs,
    # far too few to guess passwords, whichever accounts are tried.
    staff_sign_ins_per_minute: Annotated[int, Field(ge=1, le=100_000)] = 10
    # The live handoff desk: minutes a citizen waits for someone to take their chat before
    # being told when staff will reply, and the desk's hours (local, callback_timezone).
    handoff_wait_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 3
    staff_desk_opens: time = time(8, 0)
    staff_desk_closes: time = time(20, 0)
    # Staff reach the back office over HTTPS (a TLS proxy in front): cookies are then
    # sent only over TLS. Requests that arrive as https set it too.
    staff_behind_tls: bool = False
    # Longest message a citizen may send in one turn (characters).
    max_message_chars: Annotated[int, Field(ge=10, le=20000)] = 4000
    # Seconds to wait for one dialogue turn from Rasa before apologising.
    turn_timeout_s: Annotated[float, Field(gt=0, le=120)] = 15.0

    # --- voice and the phone line -------------------------------------------------------
    # Start the phone line (SIP + AudioSocket) with `liangwang run` when its model is there.
    phone_enabled: bool = True
    stt_engine: SttEngine = SttEngine.vosk
    vosk_model: Path = PROJECT_ROOT / "models" / "vosk-model-small-cn-0.22"
    whisper_model: Path = PROJECT_ROOT / "models" / "whisper-base"
    # Greedy (1) by default, from the figures in docs/benchmarks.md: on the spoken held-out
    # requests and complaints beam 5 hears about one point of character error rate better
    # for three quarters more decoding after each turn ("Understanding"); on the phone line's
    # short test questions it gains more (16.7 % → 12.0 %) but the reply p95 grows from
    # 0.8 s to 1.1 s, and it turns a test caller's 路灯 into 路都 (a road complaint).
    whisper_beam_size: Annotated[int, Field(ge=1, le=10)] = 1
    # Speech synthesis: which engine, which Kokoro speaker, and the Kokoro model's speed
    # input for callers who ask for slower speech (1.0 is its normal pace, about 2.8
    # syllables a second; 0.8 makes a reply about 1.25 times as long).
    tts_engine: TtsEngine = TtsEngine.auto
    tts_speaker: TtsSpeaker = TtsSpeaker.zf_xiaoxiao
    tts_slow_speed: Annotated[float, Field(ge=0.5, lt=1.0)] = 0.8
    kokoro_model: Path = PROJECT_ROOT / "models" / "kokoro-v1.0-zh"
    # Between calls the phone line makes every fixed sentence and the catalog's replies
    # into the speech cache (a low-priority process; with Kokoro a core for many minutes
    # after a first start). Off: only the call prompts are made at start, the rest when
    # first said. Phone processes of one machine share the cache: the first prepares it.
    tts_prepare_in_background: bool = True
    # Where spoken replies are kept once made (WAVs named by a digest of the voice and the
    # text, so copies never disagree). Empty: in data_dir. Stacks of one machine may share
    # one, and make each sentence once.
    speech_cache_dir: Path | None = None
    sip_port: Port = 5060
    # Address put into SDP for our RTP; empty: the address SIP is bound to.
    sip_public_host: str = ""
    # The PBXs and trunks calls come from (addresses or networks, comma-separated). SIP from
    # anywhere else is dropped unanswered. Default: this machine only.
    sip_trusted_peers: str = "127.0.0.0/8,::1"
    rtp_port_min: Port = 10000
    rtp_port_max: Port = 10199
    # How many phone-line processes answer calls. More than one: Kamailio listens on
    # LIANGWANG_SIP_PORT and the processes on the ports after it, each with its share of
    # the RTP range (ops/sip_proxy.py). 0: one on the embedded default, two when scaled.
    phone_replicas: Annotated[int, Field(ge=0, le=16)] = 0
    audiosocket_port: Port = 9092
    # Silence that ends a caller's turn. Older callers pause mid-sentence: be patient.
    voice_end_silence_ms: Annotated[int, Field(ge=300, le=5000)] = 1000
    # Once the words so far are recognised: a finished request ends after the quick
    # silence, words that promise more (嗯, 然后, 但是…) wait the hesitant one. Answers to
    # confirmations, descriptions, addresses and numbers never end before the default.
    voice_quick_end_silence_ms: Annotated[int, Field(ge=300, le=5000)] = 600
    voice_hesitant_end_silence_ms: Annotated[int, Field(ge=300, le=10000)] = 2000
    # Recognised words below this confidence count as not heard: the caller is asked again.
    voice_min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.2
    # Silence after our prompt before a gentle reprompt (twice, then a person is offered).
    voice_reprompt_after_s: Annotated[float, Field(ge=2, le=60)] = 8.0
    # Longest single caller turn; endless line noise cannot hold the call.
    voice_max_turn_s: Annotated[float, Field(ge=5, le=120)] = 30.0
    # Seconds between keypad presses before a number typed without # is taken as complete.
    voice_digit_timeout_s: Annotated[float, Field(ge=1, le=15)] = 3.0
    # SIP URI of the staff line for "转人工" (REFER). Empty: staff call the citizen back.
    voice_handoff_uri: str = ""

    # --- call backs (回访电话: liangwang/complaints/callbacks.py) ---------------------------
    # Where the phone line calls a citizen back when their phone complaint is answered or
    # closed: a SIP URI of the trunk or PBX with {number} for the number they left, e.g.
    # sip:{number}@pbx.example. Empty: no call backs (news waits for their next call).
    callback_trunk_uri: str = ""
    # Who we are on the citizen's phone (the From user; a trunk may replace it).
    callback_caller_id: str = "12345"
    # Calling hours, local time in callback_timezone: no call back outside them.
    callback_hours_start: time = time(9, 0)
    callback_hours_end: time = time(20, 0)
    callback_timezone: str = "Asia/Shanghai"
    # Attempts for each news (答复, 办结) before it is left for the citizen's next call.
    callback_max_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    # Seconds between two attempts for the same news (busy, no answer, failure).
    callback_retry_gap_s: Annotated[float, Field(ge=1, le=7 * 86400)] = 3600.0
    # Seconds a call back may ring before we give up (CANCEL).
    callback_ring_timeout_s: Annotated[float, Field(ge=1, le=180)] = 45.0
    # How often the phone line looks for call backs that are due (seconds).
    callback_poll_s: Annotated[float, Field(gt=0, le=600)] = 15.0

    @property
    def sip_trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(ip_network(part, strict=False) for part in _items(self.sip_trusted_peers))

    @model_validator(mode="after")
    def _trusted_peers_parse(self) -> Settings:
        try:
            self.sip_trusted_networks  # noqa: B018  (parsed here so a typo stops start-up)
        except ValueError as exc:
            raise ValueError(f"LIANGWANG_SIP_TRUSTED_PEERS: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _webhook_has_its_secret(self) -> Settings:
        if not self.telegram_webhook_url:
            return self
        secret = (
            self.telegram_webhook_secret.get_secret_value() if self.telegram_webhook_secret else ""
        )
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ValueError(
                "LIANGWANG_TELEGRAM_WEBHOOK_URL needs LIANGWANG_TELEGRAM_WEBHOOK_SECRET: "
                "1-256 of A-Z, a-z, 0-9, _ and -"
            )
        return self

    @model_validator(mode="after")
    def _patience_in_order(self) -> Settings:
        if not (
            self.voice_quick_end_silence_ms
            <= self.voice_end_silence_ms
            <= self.voice_hesitant_end_silence_ms
        ):
            raise ValueError(
                "need LIANGWANG_VOICE_QUICK_END_SILENCE_MS <= LIANGWANG_VOICE_END_SILENCE_MS "
                "<= LIANGWANG_VOICE_HESITANT_END_SILENCE_MS"
            )
        return self

    @model_validator(mode="after")
    def _callback_settings_usable(self) -> Settings:
        try:
            ZoneInfo(self.callback_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"LIANGWANG_CALLBACK_TIMEZONE: unknown time zone {self.callback_timezone!r}"
            raise ValueError(msg) from None
        if self.callback_hours_start >= self.callback_hours_end:
            raise ValueError("LIANGWANG_CALLBACK_HOURS_START must be before ..._HOURS_END")
        uri = self.callback_trunk_uri
        if uri and (not uri.startswith(("sip:", "sips:")) or "{number}" not in uri):
            raise ValueError("LIANGWANG_CALLBACK_TRUNK_URI must be a sip: URI with {number}")
        return self

    @model_validator(mode="after")
    def _rtp_range_is_a_range(self) -> Settings:
        if self.rtp_port_min > self.rtp_port_max:
            raise ValueError("LIANGWANG_RTP_PORT_MIN must not exceed LIANGWANG_RTP_PORT_MAX")
        share = (self.rtp_port_max - self.rtp_port_min + 1) // self.phone_processes
        if self.phone_processes > 1 and share < MIN_RTP_SHARE:
            raise ValueError(
                f"the RTP range gives each phone process fewer than {MIN_RTP_SHARE} ports"
            )
        return self

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

    @property
    def recordings_dir(self) -> Path:
        """Call audio (caller and assistant, per turn) for the staff transcripts."""
        return (self.shared_dir or self.data_dir) / "calls"

    @property
    def tts_cache_dir(self) -> Path:
        return self.speech_cache_dir or self.data_dir / "tts-cache"

    @cached_property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.resolve() / 'liangwang.db'}"

    @cached_property
    def effective_tracker_store_url(self) -> str:
        return self.tracker_store_url or f"sqlite:///{self.data_dir.resolve() / 'tracker.db'}"

    @property
    def allowed_host_list(self) -> list[str]:
        return _items(self.allowed_hosts)

    @property
    def photos_dir(self) -> Path:
        return (self.shared_dir or self.data_dir) / "photos"

    @property
    def open311_keys(self) -> frozenset[str]:
        return frozenset(_items(self.open311_api_keys.get_secret_value()))

    @property
    def lock_file_url(self) -> str:
        """Where the Rasa replicas of one machine share their locks (no Redis named)."""
        return f"sqlite:///{self.data_dir.resolve() / 'locks.db'}"

    @property
    def rasa_processes(self) -> int:
        return self.rasa_replicas or (2 if self.profile is Profile.scaled else 1)

    @property
    def action_processes(self) -> int:
        return self.action_replicas or (2 if self.profile is Profile.scaled else 1)

    @property
    def phone_processes(self) -> int:
        return self.phone_replicas or (2 if self.profile is Profile.scaled else 1)

    @property
    def balanced(self) -> bool:
        """Whether HAProxy stands in front of the Rasa replicas and the action servers."""
        return self.rasa_processes > 1 or self.action_processes > 1

    @property
    def rasa_url(self) -> str:
        return f"http://{self.rasa_host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.action_host}:{self.action_port}/webhook"

    @property
    def action_health_url(self) -> str:
        return f"http://{self.action_host}:{self.action_port}/health"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    @property
    def staff_url(self) -> str:
        return f"http://{self.staff_host}:{self.staff_port}"


def _items(text: str) -> list[str]:
    """The items of a comma-separated setting, without blanks."""
    return [item.strip() for item in text.split(",") if item.strip()]


class SettingsError(SystemExit):
    """Raised at start-up when a setting is invalid; the message names the variable."""


INVALID_SETTINGS = "配置有误 / invalid settings:"


def load_settings() -> Settings:
    """Read and validate settings, turning a validation error into a readable exit."""
    try:
        return Settings()
    except ValidationError as exc:
        lines = [INVALID_SETTINGS]
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            var = f"LIANGWANG_{loc.upper()}" if loc else "(settings)"
            lines.append(f"  {var}: {err['msg']}")
        raise SettingsError("\n".join(lines)) from None

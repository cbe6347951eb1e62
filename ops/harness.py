"""Start the real stack (`liangwang run`) as a child process on free ports in a private data
directory, and talk to it: used by the end-to-end tests and the benchmarks. The scaled
profile runs on this machine's PostgreSQL and Redis, in databases made for the run."""

from __future__ import annotations

import functools
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from liangwang.settings import PROJECT_ROOT
from ops.staff_client import StaffBrowser

READY_MARK = "all services ready"
STAFF_USER, STAFF_PASSWORD = "e2e-admin", "e2e-staff-password"
LIANGWANG = str(Path(sys.executable).parent / "liangwang")
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


# Test stacks listen on ports from here up to the kernel's ephemeral range.
LISTEN_PORTS_FROM = 10000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


@functools.cache
def ephemeral_floor() -> int:
    """The lowest port the kernel hands to outgoing connections (Linux's default if the
    setting cannot be read)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_candidate() -> int:
    """A port below the ephemeral range, not yet checked free. A port from that range can
    be handed to any outgoing connection (the load balancer's health checks, a client)
    before the service given it binds it: Rasa binds only after loading its model, and
    once found its port taken that way."""
    return random.randrange(LISTEN_PORTS_FROM, max(ephemeral_floor(), LISTEN_PORTS_FROM + 1000))


def _bindable(port: int, *, udp: bool, tcp: bool) -> bool:
    kinds = ([socket.SOCK_DGRAM] if udp else []) + ([socket.SOCK_STREAM] if tcp else [])
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port(*, tcp: bool = True, udp: bool = False, pair: bool = False) -> int:
    """A port below the ephemeral range (see _port_candidate) free now for TCP (and/or
    UDP); with ``pair``, port + 1 as well. A tiny race remains until the child binds it,
    which the drivers' start-up checks turn into a clear error."""
    for _ in range(200):
        port = _port_candidate()
        if all(_bindable(p, udp=udp, tcp=tcp) for p in ([port, port + 1] if pair else [port])):
            return port
    raise RuntimeError("no free port found")


# A balanced service's replicas listen on the ports after its own (ops/load_balancer.py),
# as do the phone processes behind the SIP proxy (ops/sip_proxy.py).
REPLICA_PORTS = 4
RTP_PORTS = 41  # enough for the calls a test places at once, shared by the phone processes
# The stacks' speech cache, one for all of them: each fixed sentence is made once (about a
# minute of Kokoro for the call prompts), not at every stack's start. Entries are named by
# the voice and the text, so no stack can find another's sentence wrong.
SPEECH_CACHE = PROJECT_ROOT / "var" / "stacks-speech-cache"


def free_port_block(
    size: int, taken: set[int], kind: socket.SocketKind = socket.SOCK_STREAM
) -> int:
    """A free port whose ``size - 1`` next ports are free too (TCP, or UDP with ``kind``
    SOCK_DGRAM), none of them in ``taken`` (to which they are added): the replicas must
    not meet another service's port."""
    while True:
        base = free_port()
        block = range(base, base + size)
        if block.stop > 65536 or taken.intersection(block):
            continue
        sockets = [socket.socket(socket.AF_INET, kind) for _ in block]
        try:
            for port, s in zip(block, sockets, strict=True):
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        taken.update(block)
        return base


@dataclass
class RunningStack:
    data_dir: Path
    env: dict[str, str]
    rasa_url: str
    web_url: str
    staff_url: str
    sip_port: int = 0  # 0: the phone line is off
    audiosocket_port: int = 0
    log: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    _http: httpx.Client | None = None
    _staff_made: bool = False
    _staff: StaffBrowser | None = None

    def start(self, timeout_s: float = 900) -> float:
        """Start and wait for readiness; returns seconds from launch to ready."""
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [LIANGWANG, "run"],
            env=self.env,
            cwd=self.data_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.log.append(line.rstrip())
                if READY_MARK in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout_s
        while not ready.wait(0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("stack did not start:\n" + "\n".join(self.log[-60:]))
        return time.monotonic() - started

    def process(self, *markers: str) -> int:
        """The pid of the stack's process whose command line holds every one of
        ``markers`` (the supervisor's children and theirs)."""
        assert self.proc is not None
        for pid in _descendants(self.proc.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if all(marker in cmdline for marker in markers):
                return pid
        raise LookupError(markers)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        return self.proc.wait(timeout=60)

    def say(
        self, conversation_id: str, text: str, metadata: dict[str, str] | None = None
    ) -> list[dict[str, object]]:
        """One turn through Rasa's REST webhook; ``metadata`` as a channel sends it (the
        phone line's channel, caller and call id, say)."""
        # One client for all calls: building a client (and its TLS context) per request
        # would add tens of milliseconds to every measured turn.
        if self._http is None:
            self._http = httpx.Client(timeout=30)
        message: dict[str, object] = {"sender": conversation_id, "message": text}
        if metadata:
            message["metadata"] = metadata
        reply = self._http.post(f"{self.rasa_url}/webhooks/rest/webhook", json=message)
        reply.raise_for_status()
        body: list[dict[str, object]] = reply.json()
        return body

    def staff(self, timeout_s: float = 30) -> StaffBrowser:
        """An administrator signed in to the back office: the account made once, with the
        real command (``liangwang staff create``), and one session kept for every use
        (signing in again each time would meet the per-address sign-in limit)."""
        if self._staff is not None:
            return self._staff
        if not self._staff_made:
            subprocess.run(
                [LIANGWANG, "staff", "create", STAFF_USER, "--role", "admin", "--password-stdin"],
                input=STAFF_PASSWORD + "\n",
                env=self.env,
                cwd=self.data_dir,
                check=True,
                capture_output=True,
                text=True,
            )
            self._staff_made = True
        client = httpx.Client(base_url=self.staff_url, timeout=timeout_s)
        self._staff = StaffBrowser.sign_in(client, STAFF_USER, STAFF_PASSWORD)
        return self._staff


def _descendants(pid: int) -> Iterator[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return
    for child in map(int, children):
        yield child
        yield from _descendants(child)


def wait_answering(
    url: str, timeout_s: float = 120, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Until ``url`` answers 200; ``proc``, the process that serves it, must not exit."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


@contextmanager
def postgres_database(server: str = LOCAL_POSTGRES) -> Iterator[str]:
    """A new database on the running PostgreSQL, dropped afterwards; its URL."""
    name = f"lw_test_{uuid.uuid4().hex[:12]}"
    # Connections checked before use: a test may have restarted the server meanwhile.
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scaled_profile(redis_url: str, server: str = LOCAL_POSTGRES) -> Iterator[dict[str, str]]:
    """The settings of the scaled profile on this machine: two new databases on the
    PostgreSQL ``server`` (ours, Rasa's tracker store), dropped afterwards, and
    ``redis_url`` for the locks. For ``RunningStack.env``."""
    with postgres_database(server) as ours, postgres_database(server) as tracker:
        yield {
            "LIANGWANG_PROFILE": "scaled",
            "LIANGWANG_DATABASE_URL": ours,
            "LIANGWANG_TRACKER_STORE_URL": tracker,
            "LIANGWANG_LOCK_STORE_URL": redis_url,
        }


@contextmanager
def scaled_stack(
    data_dir: Path, redis_url: str, server: str = LOCAL_POSTGRES
) -> Iterator[RunningStack]:
    """The whole stack in the scaled profile (``scaled_profile``), started; stopped and
    its databases dropped afterwards."""
    with scaled_profile(redis_url, server) as stores:
        running = make_stack(data_dir)
        running.env.update(stores)
        running.start()
        try:
            yield running
        finally:
            running.stop()


def make_stack(
    data_dir: Path,
    models_dir: Path = PROJECT_ROOT / "models",
    *,
    whisper_model: Path | None = None,
    background_speech: bool = True,
) -> RunningStack:
    """A stack on free ports. With ``whisper_model`` the phone line runs too (Whisper
    engine, SIP and AudioSocket on free ports); without it the phone line is off. Without
    ``background_speech`` the line makes what it says only when it says it: preparing every
    reply between calls keeps a core busy for many minutes after each start."""
    data_dir.mkdir(parents=True, exist_ok=True)
    taken: set[int] = set()
    rasa, actions = (free_port_block(REPLICA_PORTS, taken) for _ in range(2))
    web, staff = (free_port_block(1, taken) for _ in range(2))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANGWANG_")}
    env.update(
        LIANGWANG_DATA_DIR=str(data_dir),
        LIANGWANG_MODELS_DIR=str(models_dir),
        LIANGWANG_RASA_PORT=str(rasa),
        LIANGWANG_ACTION_PORT=str(actions),
        LIANGWANG_WEB_PORT=str(web),
        LIANGWANG_STAFF_PORT=str(staff),
        LIANGWANG_PHONE_ENABLED=str(whisper_model is not None).lower(),
        # Reviewers' exported training data stays with the stack, out of nlu_data/.
        LIANGWANG_REVIEW_EXPORT_FILE=str(data_dir / "reviewed.yml"),
        LIANGWANG_REVIEW_INGEST_EVERY_S="1",
        LIANGWANG_SPEECH_CACHE_DIR=str(SPEECH_CACHE),
    )
    sip_port = audiosocket_port = 0
    if whisper_model is not None:
        # Each behind the SIP proxy when it runs (LIANGWANG_PHONE_REPLICAS): the phone
        # processes on the ports after the line's own, the RTP range shared out.
        udp = socket.SOCK_DGRAM
        sip_port = free_port_block(1 + REPLICA_PORTS, taken, udp)
        audiosocket_port = free_port_block(REPLICA_PORTS, taken)
        rtp = free_port_block(RTP_PORTS, taken, udp)
        env.update(
            LIANGWANG_STT_ENGINE="whisper",
            LIANGWANG_WHISPER_MODEL=str(whisper_model),
            LIANGWANG_SIP_PORT=str(sip_port),
            LIANGWANG_AUDIOSOCKET_PORT=str(audiosocket_port),
            # A small RTP range, free when the stack was made.
            LIANGWANG_RTP_PORT_MIN=str(rtp),
            LIANGWANG_RTP_PORT_MAX=str(rtp + RTP_PORTS - 1),
            LIANGWANG_TTS_PREPARE_IN_BACKGROUND=str(background_speech).lower(),
        )
    return RunningStack(
        data_dir=data_dir,
        env=env,
        rasa_url=f"http://127.0.0.1:{rasa}",
        web_url=f"http://127.0.0.1:{web}",
        staff_url=f"http://127.0.0.1:{staff}",
        sip_port=sip_port,
        audiosocket_port=audiosocket_port,
    )

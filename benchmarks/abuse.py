"""The phone line under a scripted SIP attack: while a child process floods the SIP socket
over loopback with 5,000 distinct OPTIONS and 200 fake INVITEs, do two real calls keep
their audio steady (against the same calls without it), and does the memory of the
server's process come back? Also what the attacker got back, what the server still holds
and what it logged; the section's introduction says what each kind of request tests.
Bounded: the attack lasts seconds, its calls end by the production timers (64 s at most).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import itertools
import json
import logging
import math
import os
import random
import select
import socket
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.machine import own_rss_mib
from benchmarks.report import Row, section
from benchmarks.voice import dial_phones, line_server, line_settings, phones_closed
from liangwang.settings import Settings
from tests.sip_peers import free_port, sdp_offer
from voice.app import build_engines
from voice.line import CallLine
from voice.session import VoiceEngines
from voice.telephony import PacedLine
from voice.telephony.message import SipMessage, SipParseError
from voice.telephony.sip import SipServer
from voice.telephony.transactions import T1_S, TIMEOUT_T1

ROOT = Path(__file__).resolve().parent.parent
TRUSTED = "127.0.0.1"  # the softphones, and the attacker's forged "trusted peer" socket
STRANGER = "127.0.0.2"  # loopback too, but not a trusted peer
OPTIONS = 5000
HALF_OPEN = 100  # INVITEs that look valid: never ACKed, no RTP, our BYE never answered
STRANGERS = 50  # the same INVITE from an address that is not a trusted peer
MALFORMED_EACH = 5  # INVITEs of each malformed kind
RATE = 1000  # requests a second, a fixed pace: the attack lasts about 5 s
REAL_CALLS = 2
CALL_SECONDS = 30
ATTACK_AFTER_S = 3.0  # into the real calls: the callers are asking their first question
GAP_TARGET_MS = 40.0
# "Back to baseline": within ten real calls' worth (about 2 MiB each, phone line section).
# What the allocator keeps after a flood stays under it; what the server holds is checked
# exactly by its tables (calls, ports, transactions), which must go back to 0.
MEMORY_TOLERANCE_MIB = 20.0
DRAIN_LIMIT_S = 2 * TIMEOUT_T1 * T1_S + 30  # Timer H, then our BYE's Timer F, and a margin
SETTLE_S = 5.0
SCANNER = "scanner"  # the user part of every request the attacker sends

# The malformed INVITEs, by what is wrong with them.
MALFORMED = {
    "no_sdp": "no offer (Content-Length: 0)",
    "no_g711": "an offer of G.729 only",
    "bad_sdp": "an unreadable m= line",
    "require": "Require: an extension we lack (100rel)",
    "bad_cseq": "a CSeq without a number",
    "no_call_id": "no Call-ID",
    "empty_via": "an empty Via",
    "via_port": "Via port 70000 and no rport (responses go to the Via's port)",
    "media_port": "m=audio port 70000",
    "junk": "400 random bytes",
}


# -- the attacker: a child process, so that its work is not done in the server's event loop --


def _offer(sink: int | str, payload_types: str = "0 8 101") -> str:
    offer = sdp_offer(payload_types).replace("[media_ip]", TRUSTED)
    return offer.replace("[media_port]", str(sink)).replace("\n", "\r\n") + "\r\n"


def _request(kind: str, server_port: int, reply_port: int, sink: int) -> tuple[str, bytes]:
    """One request of the attack and its Call-ID: ``kind`` is "options", "half_open",
    "stranger" or one of MALFORMED. Every one has its own Call-ID, branch and From tag."""
    unique = uuid.uuid4().hex
    call_id = f"{kind}-{unique}"
    if kind == "junk":
        return call_id, random.randbytes(400)
    method = "OPTIONS" if kind == "options" else "INVITE"
    fields: dict[str, str | None] = {
        "Via": f"SIP/2.0/UDP {TRUSTED}:{reply_port};branch=z9hG4bK{unique};rport",
        "From": f"<sip:{SCANNER}@{TRUSTED}>;tag={unique[:12]}",
        "To": f"<sip:bot@{TRUSTED}>",
        "Call-ID": call_id,
        "CSeq": f"1 {method}",
        "Contact": f"<sip:{SCANNER}@{TRUSTED}:{reply_port}>",
        "Max-Forwards": "70",
        "body": "" if method == "OPTIONS" else _offer(sink),
    }
    edits: dict[str, tuple[str, str | None]] = {  # what each malformed kind changes
        "no_sdp": ("body", ""),
        "no_g711": ("body", _offer(sink, "18")),
        "bad_sdp": ("body", _offer("x")),
        "media_port": ("body", _offer(70000)),
        "require": ("Require", "100rel"),
        "bad_cseq": ("CSeq", "x INVITE"),
        "no_call_id": ("Call-ID", None),
        "empty_via": ("Via", ""),
        "via_port": ("Via", f"SIP/2.0/UDP {TRUSTED}:70000;branch=z9hG4bK{unique}"),
    }
    fields.update([edits[kind]] if kind in edits else [])
    body = fields.pop("body") or ""
    lines = [f"{method} sip:bot@{TRUSTED}:{server_port} SIP/2.0"]
    lines += [f"{name}: {value}" for name, value in fields.items() if value is not None]
    lines += ["Content-Type: application/sdp"] if body else []
    lines += [f"Content-Length: {len(body)}", "", body]
    return call_id, "\r\n".join(lines).encode()


@dataclass
class _Tally:
    """What the attacker heard back: the first final response per Call-ID, the BYEs."""

    kinds: dict[str, str] = field(default_factory=dict)  # Call-ID → kind
    finals: dict[str, int] = field(default_factory=dict)
    byes: set[str] = field(default_factory=set)  # the calls the server hung up
    stranger_replies: int = 0

    def heard(self, data: bytes, *, to_the_stranger: bool) -> None:
        self.stranger_replies += to_the_stranger  # none should come: it is not trusted
        try:
            message = SipMessage.parse(data)
        except SipParseError:
            return
        if message.is_request and message.method == "BYE":
            self.byes.add(message.call_id)
        elif not message.is_request and message.status >= 200:
            self.finals.setdefault(message.call_id, message.status)

    def summary(self) -> dict[str, Any]:
        outcomes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for call_id, kind in self.kinds.items():
            outcomes[kind][str(self.finals.get(call_id, "none"))] += 1
        return {
            "outcomes": outcomes,
            "hung_up": collections.Counter(self.kinds[c] for c in self.byes if c in self.kinds),
            "stranger_replies": self.stranger_replies,
        }


def attack(server_port: int, counts: dict[str, int]) -> None:
    """The child process: say it is ready, wait for "go", send the requests shuffled at a
    fixed rate while counting what comes back, say when the last one left, count on until
    "stop", send one more OPTIONS (is the line still up?), then print the tally. One JSON
    object a line on stdout."""
    trusted = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for sock, host in ((trusted, TRUSTED), (stranger, STRANGER)):
        sock.bind((host, 0))
        sock.setblocking(False)
    kinds = ["options"] * counts["options"] + ["half_open"] * counts["half_open"]
    kinds += ["stranger"] * counts["strangers"] + list(MALFORMED) * counts["malformed_each"]
    random.Random(7).shuffle(kinds)  # INVITEs of every kind spread through the OPTIONS
    sink = free_port()  # the fake calls' media address: a port nobody reads
    tally = _Tally()
    plan = []
    for kind in kinds:
        call_id, data = _request(kind, server_port, trusted.getsockname()[1], sink)
        tally.kinds[call_id] = kind
        plan.append((stranger if kind == "stranger" else trusted, data))

    def receive(timeout: float) -> bool:
        """Count what arrives within ``timeout``; True when the parent has written."""
        readable, _, _ = select.select([trusted, stranger, sys.stdin], [], [], max(timeout, 0))
        for sock in (s for s in (trusted, stranger) if s in readable):
            with contextlib.suppress(BlockingIOError):
                while data := sock.recv(65535):
                    tally.heard(data, to_the_stranger=sock is stranger)
        return sys.stdin in readable

    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    start = time.monotonic()
    for index, (sock, data) in enumerate(plan):
        while (wait := start + index / counts["rate"] - time.monotonic()) > 0:
            receive(wait)
        sock.sendto(data, (TRUSTED, server_port))
    print(json.dumps({"first": start, "last": time.monotonic()}), flush=True)
    while not receive(1.0):
        pass
    sys.stdin.readline()
    call_id, probe = _request("options", server_port, trusted.getsockname()[1], sink)
    tally.kinds[call_id] = "probe"
    trusted.sendto(probe, (TRUSTED, server_port))
    for _ in range(20):  # until its answer comes, 2 s at most
        receive(0.1)
    print(json.dumps(tally.summary()), flush=True)


class Attacker:
    """The parent's side of the attacking child process: ``tell`` it "go" (the answer says
    when its first and last requests left, on the monotonic clock), then "stop" (the
    tally)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, server_port: int) -> Attacker:
        counts = {"options": OPTIONS, "half_open": HALF_OPEN, "strangers": STRANGERS}
        counts |= {"malformed_each": MALFORMED_EACH, "rate": RATE}
        attacker = cls(
            await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "benchmarks.abuse", str(server_port), json.dumps(counts)),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=ROOT,
            )
        )
        await attacker.tell("")  # ready: its imports are done and its requests made
        return attacker

    async def tell(self, word: str) -> dict[str, Any]:
        """Write ``word`` (if any) to the child; its next line."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        if word:
            stdin.write(f"{word}\n".encode())
            await stdin.drain()
        line = await asyncio.wait_for(stdout.readline(), 120)
        if not line:
            raise RuntimeError("the attacker process ended early")
        return dict(json.loads(line))


# -- the measurement -------------------------------------------------------------------------


class _LogTally(logging.Handler):
    """Warnings and errors logged anywhere in this process, by logger and message."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: collections.Counter[str] = collections.Counter()
        self.tracebacks = 0

    def emit(self, record: logging.LogRecord) -> None:
        first_line = (str(record.msg).splitlines() or [""])[0][:70]
        args = record.args if isinstance(record.args, tuple) else ()
        kinds = {str(a).split("-")[0] for a in args} & {"half_open", "stranger", *MALFORMED}
        whose = " (the attacker's calls)" if kinds else ""
        self.counts[f"{record.levelname} {record.name}: {first_line}{whose}"] += 1
        self.tracebacks += record.exc_info is not None


def _tables(server: SipServer) -> dict[str, int]:
    """What the server holds: dialogs, RTP ports, final INVITE responses resent until their
    ACK, responses kept for retransmissions, tasks (private attributes, only read here)."""
    return {
        "calls": len(server.calls),
        "RTP ports": server.rtp_ports.in_use,
        "awaiting ACK": len(server._ack_waits.tasks),
        "cached responses": len(server._responses._sent),
        "tasks": len(server._tasks),
    }


@dataclass
class Measured:
    gaps_ms: dict[str, tuple[float, float]] = field(default_factory=dict)  # attacked, calm
    attack_s: float = 0.0
    baseline_mib: float = 0.0
    peak_mib: float = 0.0
    peak_tables: dict[str, int] = field(default_factory=dict)
    after_mib: float = 0.0
    drained_s: float = 0.0  # from the attack's last request until the server was idle
    tables_after: dict[str, int] = field(default_factory=dict)
    untrusted_dropped: int = 0
    attacker: dict[str, Any] = field(default_factory=dict)
    logs: _LogTally = field(default_factory=_LogTally)

    async def sample_peaks(self, server: SipServer) -> None:
        while True:
            self.peak_mib = max(self.peak_mib, own_rss_mib(os.getpid()))
            for name, size in _tables(server).items():
                self.peak_tables[name] = max(self.peak_tables.get(name, 0), size)
            await asyncio.sleep(0.25)


async def _real_calls(
    server: SipServer, lines: list[CallLine], workdir: Path, attacker: Attacker | None
) -> tuple[list[list[float]], float, float]:
    """The real calls, with the attack ATTACK_AFTER_S into them when there is an attacker.
    Returns the times each real call sent an RTP packet, and when the attack's first and
    last requests left (without an attacker: that moment into the calls, twice)."""
    first = len(lines)
    phones = await dial_phones(server, workdir, calls=REAL_CALLS, call_seconds=CALL_SECONDS)
    await asyncio.sleep(ATTACK_AFTER_S)
    sent = await attacker.tell("go") if attacker is not None else {}
    start, end = sent.get("first", time.monotonic()), sent.get("last", time.monotonic())
    await phones_closed(phones)
    times = [
        x.send_times for x in lines[first:] if isinstance(x, PacedLine) and x.caller != SCANNER
    ]
    del lines[first:]  # the server's memory is measured: the benchmark keeps no call
    return times, start, end


def _longest_gap_ms(calls: list[list[float]], since: float, until: float) -> float:
    """The longest interval between two RTP packets a call sent, the later one in the time
    given (the worst call's)."""
    pairs = (pair for times in calls for pair in itertools.pairwise(times))
    return max(((b - a) * 1000 for a, b in pairs if since <= b <= until), default=0.0)


async def _until_idle(server: SipServer, limit_s: float) -> None:
    """Wait (``limit_s`` at most) until the server holds no call and awaits no ACK."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and (server.calls or server._ack_waits.tasks):
        await asyncio.sleep(0.5)


async def _settled_rss() -> float:
    """This process's memory once garbage is collected and a few seconds have passed."""
    gc.collect()
    await asyncio.sleep(SETTLE_S)
    return own_rss_mib(os.getpid())


async def measure(engines: VoiceEngines, settings: Settings, workdir: Path) -> Measured:
    # The production number of RTP ports: they bound the calls an attacker can open.
    ports = range(31000, 31000 + settings.rtp_port_max - settings.rtp_port_min + 1)
    trusted = settings.sip_trusted_networks
    server, lines = line_server(engines, settings, trusted_peers=trusted, rtp_ports=ports)
    m = Measured()
    logging.getLogger().addHandler(m.logs)
    await server.start()
    attacker = await Attacker.start(server.port)
    sampling: asyncio.Task[None] | None = None
    try:
        # The anchor also warms up everything the calls use: the baseline comes after it.
        calm, calm_from, _ = await _real_calls(server, lines, workdir / "anchor", None)
        await _until_idle(server, DRAIN_LIMIT_S)
        m.baseline_mib = await _settled_rss()
        sampling = asyncio.create_task(m.sample_peaks(server))
        calls, start, end = await _real_calls(server, lines, workdir / "attack", attacker)
        m.attack_s = end - start
        # While its requests arrive, and from then to the calls' end; for the anchor, the
        # same stretches of time from the same moment into its calls.
        for name, length in (("flood", m.attack_s), ("calls", math.inf)):
            m.gaps_ms[name] = (
                _longest_gap_ms(calls, start, start + length),
                _longest_gap_ms(calm, calm_from, calm_from + length),
            )
        await _until_idle(server, DRAIN_LIMIT_S - (time.monotonic() - end))
        m.drained_s = time.monotonic() - end
        m.attacker = await attacker.tell("stop")  # its last request: is the line still up?
        m.after_mib = await _settled_rss()
        m.tables_after = _tables(server)
        m.untrusted_dropped = server.untrusted_dropped
    finally:
        if sampling is not None:
            sampling.cancel()
        if attacker.process.returncode is None:
            attacker.process.kill()
        await asyncio.wait_for(server.stop(), DRAIN_LIMIT_S)  # bounded, whatever the server does
        logging.getLogger().removeHandler(m.logs)
    return m


# -- the section -----------------------------------------------------------------------------


def _outcome(counts: dict[str, int]) -> str:
    named = {"200": "200 (answered)", "none": "no answer"}
    return ", ".join(f"{named.get(status, status)} ×{n}" for status, n in sorted(counts.items()))


def _rows(m: Measured) -> list[Row]:
    def got(kind: str) -> str:
        return _outcome(m.attacker["outcomes"].get(kind, {}))

    def gap(name: str) -> str:
        attacked, calm = m.gaps_ms[name]
        return f"{attacked:.1f} ms; without the attack {calm:.1f} ms (ratio {attacked / calm:.2f})"

    held = [f"{name} {m.peak_tables.get(name, 0)} → {n}" for name, n in m.tables_after.items()]
    logged = [f"{text} ×{n}" for text, n in m.logs.counts.most_common()]
    return [
        (
            f"{REAL_CALLS} real calls: longest interval between two RTP packets sent while the "
            "attack's requests arrived (worst call)",
            gap("flood"),
            f"≤ {GAP_TARGET_MS:.0f} ms",
        ),
        ("… from the attack's start to the calls' end", gap("calls"), f"≤ {GAP_TARGET_MS:.0f} ms"),
        ("Memory of the SIP server's process: baseline", f"{m.baseline_mib:.0f} MiB", "—"),
        ("… peak during the attack", f"{m.peak_mib:.0f} MiB", "—"),
        (
            f"… after: {m.drained_s:.0f} s after the attack's last request (its calls and "
            f"transactions ended) and {SETTLE_S:.0f} s more",
            f"{m.after_mib:.0f} MiB ({m.after_mib - m.baseline_mib:+.1f} MiB)",
            f"≤ baseline + {MEMORY_TOLERANCE_MIB:.0f} MiB",
        ),
        (f"OPTIONS ({OPTIONS:,}) from a trusted address", got("options"), "all answered"),
        (
            f"INVITEs that look valid, never ACKed ({HALF_OPEN})",
            f"{got('half_open')}; hung up by us after Timer H (BYE): "
            f"{m.attacker['hung_up'].get('half_open', 0)}",
            "bounded",
        ),
        (
            f"INVITEs from an untrusted address ({STRANGERS})",
            f"{got('stranger')} (replies heard: {m.attacker['stranger_replies']}); "
            f"dropped by the server: {m.untrusted_dropped}",
            "no reply",
        ),
        *(
            (f"Malformed INVITEs ({MALFORMED_EACH}): {what}", got(kind), "—")
            for kind, what in MALFORMED.items()
        ),
        ("An OPTIONS once the attack is over: is the line up?", got("probe"), "answered"),
        ("What the server held: at the attack's peak → after", ", ".join(held), "0 (cache ≤ 256)"),
        (
            f"Warnings and errors logged ({m.logs.tracebacks} with a traceback)",
            "; ".join(logged) or "none",
            "no traceback",
        ),
    ]


def _intro(m: Measured, ports: int) -> list[str]:
    invites = HALF_OPEN + STRANGERS + MALFORMED_EACH * len(MALFORMED)
    blocks = [
        [
            "One SIP server on loopback with the production call pipeline (as in the phone line "
            f"section) and the production number of RTP ports ({ports} calls at once); its trusted "
            f"peers are {TRUSTED} only. Two baresip softphones call it for {CALL_SECONDS} s each "
            "(two spoken questions), twice: alone (the anchor, which also warms everything up), "
            f"then while a child process sends it, from {ATTACK_AFTER_S:.0f} s into the calls, "
            f"{OPTIONS:,} OPTIONS and {invites} INVITEs, each with its own Call-ID, branch and "
            f"From tag, shuffled together, at a fixed {RATE:,} requests a second (measured: "
            f"{m.attack_s:.1f} s). What each kind tests:",
        ],
        [
            "- OPTIONS from a trusted address (a scanner behind the trunk, or a forged source "
            "address): answering costs the call loop, and each response is kept for Timer J.",
            "- INVITEs that look valid, from a trusted address, whose caller never ACKs, sends no "
            "RTP and never answers our BYE (a forged source address): each is answered, starts "
            "nothing until an ACK, and holds an RTP port until Timer H (32 s) and our BYE's "
            "Timer F (32 s) end it; the RTP ports bound how many at once, the rest get 503.",
            f"- INVITEs from {STRANGER}, not a trusted peer: dropped unread and unanswered.",
            "- Malformed INVITEs: the parse and refusal paths; none may log a traceback or harm "
            "the socket the real calls' signalling uses.",
        ],
        [
            "The interval is measured on the server's own send times of the real calls' RTP, as in "
            "the phone line section. Memory is the resident size of this process (the SIP server "
            "and the pipeline; speech workers and the Rasa stack are other processes), garbage "
            "collected, when idle after the anchor, sampled every 0.25 s during the attack, and "
            f"once its calls have ended; the tolerance, {MEMORY_TOLERANCE_MIB:.0f} MiB, is ten "
            "real calls' worth.",
        ],
    ]
    lines: list[str] = []
    for block in blocks:  # a paragraph, or a list without blank lines between its items
        lines += [""] if lines else []
        for text in block:
            lines += textwrap.wrap(text, 88, subsequent_indent="  " * text.startswith("- "))
    return lines


def run() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="lw-abuse-") as tmp:
        root = Path(tmp)
        with line_settings(root) as settings:
            # The softphones and the attacker's main socket are trusted, its other is not.
            settings = settings.model_copy(update={"sip_trusted_peers": f"{TRUSTED}/32"})
            engines = build_engines(settings)

            async def measured() -> Measured:
                try:
                    return await measure(engines, settings, root)
                finally:
                    await engines.dialogue.aclose()

            m = asyncio.run(measured())
    ports = (settings.rtp_port_max - settings.rtp_port_min + 1) // 2
    return section("## Abuse", _rows(m), _intro(m, ports))


if __name__ == "__main__":  # the attacker: python -m benchmarks.abuse <SIP port> <counts>
    attack(int(sys.argv[1]), json.loads(sys.argv[2]))

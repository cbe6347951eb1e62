"""Real SIP peers for tests: baresip (a softphone with real RTP) and SIPp (scripted SIP).

Both run as child processes in a test's own directory, on free loopback ports, and are
driven from asyncio so they can talk to a ``SipServer`` running in the same event loop.

How baresip 1.0.0 (Debian 12) behaves, found by experiment:

- It only loads modules from ``module_path`` (default: the working directory), so the
  config names the directory next to the installed binary (``<prefix>/lib/baresip/modules``).
- ``sip_listen host:P`` binds UDP and TCP port P *and TLS on P+1*, so P+1 must be free too.
- Accounts are read only when ``module_tmp account.so`` is loaded; without one, dialling
  fails with "ua_connect failed: Invalid argument".
- ``aufile`` is a source only (no player); it hangs the call up when the file ends
  ("audio error (0,end of file)"). The caller's clip is therefore padded with silence to
  the wanted call length, and the end of the file *is* the caller's hangup.
- Received audio is recorded by the ``sndfile`` filter as ``dump-<time>-dec.wav`` (and the
  audio sent as ``-enc.wav``) in ``snd_path``; the files are complete once the call ends.
  The player is ``aubridge`` on a device nobody reads, i.e. a null sink.
- Its SDP offers PCMU, PCMA and telephone-event on 101 and gives the machine's primary
  address in ``c=`` even when SIP listens on 127.0.0.1; RTP then comes from 127.0.0.1,
  which our symmetric RTP follows.
- It adopts the answerer's ``a=ptime`` for sending (``;ptime=40`` on the account is
  overridden by our ``a=ptime:20``).
- Control: ``ctrl_tcp`` takes netstring-framed JSON ``{"command", "params", "token"}``,
  answers ``{"response": true, "ok", "data", "token"}`` and pushes events
  (``CALL_ESTABLISHED``, ``CALL_CLOSED``…). The commands come from the ``menu`` module
  (without it: "command not found"): ``dial <uri>``, ``hangup`` and ``sndcode <key>`` (one
  RFC 4733 telephone-event per key) are used here. SIGTERM hangs up
  calls with BYE before exiting.

SIPp 3.6: ``-p 0`` does not mean "any port" (it takes 5060), so ports are chosen here.
Exit status 0 means every call of the scenario succeeded; ``-trace_msg`` writes the
messages to ``-message_file`` for assertions and for reading a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops import harness
from voice.audio import Audio

LOCALHOST = "127.0.0.1"


def free_port(*, udp: bool = True, tcp: bool = False, pair: bool = False) -> int:
    """A port free for UDP (and TCP) now, as SIP and RTP want it; with ``pair``, port + 1
    as well (harness.free_port, with the SIP peers' defaults)."""
    return harness.free_port(udp=udp, tcp=tcp, pair=pair)


def write_wav(path: Path, audio: Audio) -> Path:
    path.write_bytes(audio.to_wav())
    return path


# -- baresip ---------------------------------------------------------------------------------


def _baresip_modules() -> Path:
    override = os.environ.get("BARESIP_MODULE_PATH")
    if override:
        return Path(override)
    binary = shutil.which("baresip")
    if binary is None:
        raise RuntimeError("baresip is not installed (Debian: apt-get install baresip)")
    prefix = Path(binary).resolve().parent.parent
    for candidate in [
        prefix / "lib" / "baresip" / "modules",
        *prefix.glob("lib/*/baresip/modules"),
    ]:
        if (candidate / "aufile.so").exists():
            return candidate
    raise RuntimeError(f"baresip modules not found under {prefix}/lib; set BARESIP_MODULE_PATH")


class Baresip:
    """A baresip softphone that calls once — or, with ``answer``, picks up a call to
    ``sip:<user>@127.0.0.1:<sip_port>`` — playing ``clip`` (audio or a WAV file) and
    recording what it hears.

    The call lasts ``call_seconds`` at most (the clip is padded with silence to that
    length; baresip hangs up when its source file ends). ``codecs`` restricts the offer,
    e.g. ``"PCMA"``. Use as ``async with Baresip(...) as phone:``.
    """

    def __init__(
        self,
        workdir: Path,
        clip: Audio | Path,
        *,
        user: str = "13800138000",
        call_seconds: float = 20.0,
        codecs: str | None = None,
        answer: bool = False,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.user = user
        self.recordings = workdir / "recordings"
        self.recordings.mkdir(exist_ok=True)
        self.sip_port = free_port(udp=True, tcp=True, pair=True)
        self.ctrl_port = free_port(udp=False, tcp=True)
        source = (Audio.from_wav(clip) if isinstance(clip, Path) else clip).resample(8000)
        padding = max(call_seconds - source.duration_s, 0.0)
        write_wav(workdir / "source.wav", source + Audio.silence(padding))
        account = f"<sip:{user}@{LOCALHOST}>;regint=0"
        if answer:  # picks up every incoming call at once (the citizen's phone, called back)
            account += ";answermode=auto"
        if codecs:
            account += f";audio_codecs={codecs}"
        (workdir / "accounts").write_text(account + "\n")
        (workdir / "config").write_text(self._config())
        self.events: list[dict[str, Any]] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._listener: asyncio.Task[None] | None = None
        self._responses: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Condition()
        self._token = 0

    def _config(self) -> str:
        rtp = free_port() // 2 * 2
        lines = {
            "poll_method": "epoll",
            "sip_listen": f"{LOCALHOST}:{self.sip_port}",
            "call_local_timeout": "120",
            "audio_player": "aubridge,nowhere",  # a bridge no source reads: a null sink
            "audio_alert": "aubridge,nowhere",
            "audio_source": f"aufile,{self.workdir / 'source.wav'}",
            "rtp_ports": f"{rtp}-{rtp + 40}",
            "module_path": str(_baresip_modules()),
            "ctrl_tcp_listen": f"{LOCALHOST}:{self.ctrl_port}",
            "snd_path": str(self.recordings),
            "ringback_disabled": "yes",
        }
        modules = ["g711.so", "aufile.so", "aubridge.so", "sndfile.so"]
        text = [f"{key}\t{value}" for key, value in lines.items()]
        text += [f"module\t{name}" for name in modules]
        # menu.so provides the commands (dial, hangup, sndcode); ctrl_tcp carries them.
        text += ["module_tmp\taccount.so", "module_app\tmenu.so", "module_app\tctrl_tcp.so"]
        return "\n".join(text) + "\n"

    async def __aenter__(self) -> Baresip:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, timeout: float = 20.0) -> None:
        log = (self.workdir / "baresip.log").open("wb")
        self._process = await asyncio.create_subprocess_exec(
            "baresip",
            "-f",
            str(self.workdir),
            "-t",
            "300",  # a safety net: never outlive a crashed test by more than this
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    LOCALHOST, self.ctrl_port
                )
                break
            except OSError:
                if self._process.returncode is not None:
                    raise RuntimeError(f"baresip exited early:\n{self.log_text()}") from None
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(
                        f"baresip control port never opened:\n{self.log_text()}"
                    ) from None
                await asyncio.sleep(0.05)
        self._listener = asyncio.create_task(self._listen())

    def log_text(self) -> str:
        path = self.workdir / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def _listen(self) -> None:
        assert self._reader is not None
        while True:
            try:
                length = await self._reader.readuntil(b":")
                data = await self._reader.readexactly(int(length[:-1]) + 1)  # payload + ","
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                return
            message = json.loads(data[:-1])
            if message.get("response"):
                future = self._responses.pop(str(message.get("token")), None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif message.get("event"):
                async with self._changed:
                    self.events.append(message)
                    self._changed.notify_all()

    async def command(self, command: str, params: str | None = None) -> dict[str, Any]:
        assert self._writer is not None
        self._token += 1
        token = str(self._token)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._responses[token] = future
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()
        response = await asyncio.wait_for(future, 10)
        if not response.get("ok"):
            raise RuntimeError(f"baresip refused {command} {params}: {response}")
        return response

    async def wait_event(self, kind: str, timeout: float = 20.0) -> dict[str, Any]:
        """The first event of type ``kind`` (already received or still to come)."""

        def found() -> dict[str, Any] | None:
            return next((e for e in self.events if e.get("type") == kind), None)

        async def wait() -> dict[str, Any]:
            async with self._changed:
                await self._changed.wait_for(lambda: found() is not None)
            event = found()
            assert event is not None
            return event

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            # With each event's parameter: a closed call says why ("503 Service Unavailable").
            seen = [f"{e.get('type')} {e.get('param', '')}".strip() for e in self.events]
            raise AssertionError(f"baresip: no {kind} within {timeout}s; saw {seen}") from None

    async def dial(self, uri: str, timeout: float = 20.0) -> None:
        """Call ``uri`` and wait until the call is established."""
        await self.command("dial", uri)
        await self.wait_event("CALL_ESTABLISHED", timeout)

    async def send_dtmf(self, digits: str, gap: float = 0.3) -> None:
        """Press keys: one RFC 4733 telephone-event per key, ``gap`` seconds apart."""
        for digit in digits:
            await self.command("sndcode", digit)
            await asyncio.sleep(gap)

    async def hangup(self) -> None:
        await self.command("hangup")

    async def wait_closed(self, timeout: float = 30.0) -> dict[str, Any]:
        return await self.wait_event("CALL_CLOSED", timeout)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        process = self._process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

    def _dump(self, direction: str) -> Audio:
        files = sorted(self.recordings.glob(f"dump-*-{direction}.wav"))
        if not files:
            raise AssertionError(f"baresip recorded nothing ({direction}):\n{self.log_text()}")
        return Audio.from_wav(files[-1])

    def recording(self) -> Audio:
        """What the phone heard (complete once the call has ended)."""
        return self._dump("dec")

    def sent(self) -> Audio:
        """What the phone sent."""
        return self._dump("enc")


# -- SIPp ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SippResult:
    returncode: int
    messages: str  # every SIP message sent and received (-trace_msg)
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


_HEADERS = """\
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70"""


def sdp_offer(payload_types: str = "0 8 101", extra: Iterable[str] = ()) -> str:
    """An SDP offer from SIPp's media address; rtpmaps for the common payload types."""
    names = {
        "0": "PCMU/8000",
        "8": "PCMA/8000",
        "9": "G722/8000",
        "18": "G729/8000",
        "96": "opus/48000/2",
        "101": "telephone-event/8000",
    }
    lines = [
        "v=0",
        "o=sipp 1 1 IN IP4 [media_ip]",
        "s=-",
        "c=IN IP4 [media_ip]",
        "t=0 0",
        f"m=audio [media_port] RTP/AVP {payload_types}",
    ]
    lines += [f"a=rtpmap:{pt} {names[pt]}" for pt in payload_types.split() if pt in names]
    return "\n".join([*lines, *extra])


class Scenario:
    """A SIPp UAC scenario, built step by step (each method adds XML and returns self)."""

    def __init__(self, caller: str = "13800138000", *, through_proxy: bool = False) -> None:
        """``through_proxy``: a proxy records the route, so in-dialog requests go to the
        callee's Contact by the recorded route (RFC 3261 12.2), as every real phone does."""
        self.caller = caller
        self.through_proxy = through_proxy
        self.steps: list[str] = []
        self._cseq = 0

    def _request(
        self,
        method: str,
        *,
        in_dialog: bool,
        body: str = "",
        content_type: str = "",
        cseq: int | None = None,
        retrans: bool = True,
        via: str | None = None,
    ) -> str:
        if cseq is None:
            self._cseq += 1
            cseq = self._cseq
        headers = _HEADERS.format(
            caller=self.caller,
            to_tag="[peer_tag_param]" if in_dialog else "",
            cseq=cseq,
            method=method,
        )
        if via is not None:
            headers = "\n".join([via, *headers.splitlines()[1:]])
        target = "sip:[service]@[remote_ip]:[remote_port]"
        if in_dialog and self.through_proxy and method != "CANCEL":
            target = "[next_url]"
            headers += "\n[routes]"
        if content_type:
            headers += f"\nContent-Type: {content_type}"
        headers += "\nContent-Length: [len]"
        text = f"{method} {target} SIP/2.0\n{headers}\n\n{body}"
        attrs = ' retrans="500"' if retrans and method != "ACK" else ""
        return f"<send{attrs}><![CDATA[\n{text}\n]]></send>"

    def invite(self, sdp: str | None = None, *, expect: int = 200) -> Scenario:
        """INVITE with ``sdp`` (default: PCMU, PCMA, telephone-event) and wait for
        ``expect``; an ACK follows a final response automatically."""
        body = sdp if sdp is not None else sdp_offer()
        self.steps.append(
            self._request("INVITE", in_dialog=False, body=body, content_type="application/sdp")
        )
        self.steps.append('<recv response="100" optional="true"/>')
        if expect != 180:
            self.steps.append('<recv response="180" optional="true"/>')
        keep_route = ' rrs="true"' if self.through_proxy and expect == 200 else ""
        self.steps.append(f'<recv response="{expect}"{keep_route}/>')
        if expect >= 200:
            self.ack(cseq=self._cseq, same_transaction=expect >= 300)
        return self

    def ack(self, *, cseq: int, same_transaction: bool = False) -> Scenario:
        """ACK the final response to the INVITE with ``cseq``. The ACK of a non-2xx response
        belongs to the INVITE transaction: the INVITE's own Via, echoed in the response,
        gives it the same branch."""
        via = "[last_Via:]" if same_transaction else None
        self.steps.append(self._request("ACK", in_dialog=True, cseq=cseq, via=via))
        return self

    def cancel(self) -> Scenario:
        """CANCEL the INVITE (after a provisional response: same branch and CSeq)."""
        self.steps.append(
            self._request("CANCEL", in_dialog=False, cseq=self._cseq, via="[last_Via:]")
        )
        return self

    def expect(self, status: int, *, optional: bool = False) -> Scenario:
        flag = ' optional="true"' if optional else ""
        self.steps.append(f'<recv response="{status}"{flag}/>')
        return self

    def request(
        self, method: str, body: str = "", content_type: str = "", *, expect: int = 200
    ) -> Scenario:
        """An in-dialog request and its expected final response."""
        self.steps.append(
            self._request(method, in_dialog=True, body=body, content_type=content_type)
        )
        self.steps.append(f'<recv response="{expect}"/>')
        return self

    def out_of_dialog(self, method: str, *, expect: int) -> Scenario:
        self.steps.append(self._request(method, in_dialog=False))
        self.steps.append(f'<recv response="{expect}"/>')
        return self

    def info_dtmf(self, digit: str, *, relay: bool = True) -> Scenario:
        if relay:
            return self.request("INFO", f"Signal={digit}\nDuration=160", "application/dtmf-relay")
        return self.request("INFO", digit, "application/dtmf")

    def reinvite(self, sdp: str | None = None) -> Scenario:
        self.request("INVITE", sdp if sdp is not None else sdp_offer(), "application/sdp")
        return self.ack(cseq=self._cseq)

    def bye(self) -> Scenario:
        return self.request("BYE")

    def pause(self, milliseconds: int) -> Scenario:
        self.steps.append(f'<pause milliseconds="{milliseconds}"/>')
        return self

    def answer(self, method: str, status: int = 200, reason: str = "OK") -> Scenario:
        """Wait for a request from the server and answer it."""
        self.steps.append(f'<recv request="{method}"/>')
        self.steps.append(
            f"<send><![CDATA[\nSIP/2.0 {status} {reason}\n[last_Via:]\n[last_From:]\n"
            "[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n]]></send>"
        )
        return self

    def expect_bye(self) -> Scenario:
        """Wait for the server's BYE and answer it 200."""
        return self.answer("BYE")

    def xml(self) -> str:
        body = "\n".join(self.steps)
        header = '<?xml version="1.0" encoding="ISO-8859-1" ?>'
        return f'{header}\n<scenario name="test">\n{body}\n</scenario>\n'


class Sipp:
    """Runs SIPp scenarios as a UAC against ``host:port``."""

    def __init__(self, workdir: Path, *, host: str = LOCALHOST, port: int, service: str = "bot"):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self.service = service
        self._runs = 0
        if shutil.which("sipp") is None:
            raise RuntimeError("SIPp is not installed (Debian: apt-get install sip-tester)")

    async def run(
        self, scenario: Scenario, *, calls: int = 1, concurrent: int = 1, timeout: float = 30.0
    ) -> SippResult:
        self._runs += 1
        name = f"run{self._runs}"
        (self.workdir / f"{name}.xml").write_text(scenario.xml())
        messages = self.workdir / f"{name}.messages.log"
        process = await asyncio.create_subprocess_exec(
            "sipp",
            "-sf",
            f"{name}.xml",
            "-m",
            str(calls),
            "-l",
            str(concurrent),
            "-r",
            str(max(concurrent, 1)),
            "-i",
            LOCALHOST,
            "-p",
            str(free_port()),
            "-mp",
            str(free_port(pair=True)),
            "-s",
            self.service,
            "-timeout",
            f"{int(timeout)}s",
            "-timeout_error",
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(messages),
            "-trace_err",
            "-error_file",
            str(self.workdir / f"{name}.errors.log"),
            f"{self.host}:{self.port}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.workdir,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout + 15)
        except TimeoutError:
            process.kill()
            output, _ = await process.communicate()
        text = messages.read_text(errors="replace") if messages.exists() else ""
        return SippResult(process.returncode or 0, text, output.decode(errors="replace"))


# -- SIPp as the called phone (UAS) ---------------------------------------------------------

_TO_TAG = ";tag=[pid]SIPpTag01[call_number]"


def _uas_response(status: int, reason: str, *, tag: bool, cseq: str = "[last_CSeq:]") -> str:
    to = "[last_To:]" + (_TO_TAG if tag else "")
    lines = [f"SIP/2.0 {status} {reason}", "[last_Via:]", "[last_From:]", to]
    lines += ["[last_Call-ID:]", cseq, "Content-Length: 0"]
    return "<send><![CDATA[\n" + "\n".join(lines) + "\n]]></send>"


def busy_phone() -> str:
    """A phone that is busy: 100 Trying, then 486 Busy Here, then the ACK."""
    return "\n".join(
        [
            '<recv request="INVITE"/>',
            _uas_response(100, "Trying", tag=False),
            _uas_response(486, "Busy Here", tag=True),
            '<recv request="ACK"/>',
        ]
    )


def unanswered_phone() -> str:
    """A phone that rings until the caller gives up: 180 Ringing, then the caller's CANCEL
    gets 200 and the INVITE 487 Request Terminated, which the caller ACKs."""
    keep_cseq = (
        '<recv request="INVITE"><action><ereg regexp="[0-9]+" search_in="hdr" '
        'header="CSeq:" assign_to="invite_cseq"/></action></recv>'
    )
    return "\n".join(
        [
            keep_cseq,
            _uas_response(180, "Ringing", tag=True),
            '<recv request="CANCEL"/>',
            _uas_response(200, "OK", tag=False),
            _uas_response(487, "Request Terminated", tag=True, cseq="CSeq: [$invite_cseq] INVITE"),
            '<recv request="ACK"/>',
        ]
    )


class SippPhone:
    """SIPp answering calls on ``127.0.0.1:port`` with a UAS scenario (``busy_phone``,
    ``unanswered_phone``), ``calls`` times; ``finish`` waits for it and returns the result."""

    def __init__(
        self,
        workdir: Path,
        steps: str,
        *,
        calls: int = 1,
        timeout: float = 60.0,
        port: int | None = None,
    ):
        if shutil.which("sipp") is None:
            raise RuntimeError("SIPp is not installed (Debian: apt-get install sip-tester)")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.calls = calls
        self.timeout = timeout
        header = '<?xml version="1.0" encoding="ISO-8859-1" ?>'
        scenario = f'{header}\n<scenario name="phone">\n{steps}\n</scenario>\n'
        (workdir / "uas.xml").write_text(scenario)
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            "sipp",
            "-sf",
            "uas.xml",
            "-m",
            str(self.calls),
            "-i",
            LOCALHOST,
            "-p",
            str(self.port),
            "-mp",
            str(free_port(pair=True)),
            "-timeout",
            f"{int(self.timeout)}s",
            "-timeout_error",
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(self.workdir / "messages.log"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.workdir,
        )
        await asyncio.sleep(0.3)  # SIPp binds its port at once; give it that moment

    async def finish(self, timeout: float | None = None) -> SippResult:
        process = self._process
        assert process is not None
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout or self.timeout + 15)
        except TimeoutError:
            process.kill()
            output, _ = await process.communicate()
        log = self.workdir / "messages.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return SippResult(process.returncode or 0, text, output.decode(errors="replace"))

    async def stop(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()


def options_ping(port: int, source: str = LOCALHOST) -> bytes:
    """An OPTIONS ping to the SIP line on loopback ``port``, sent from ``source``. A new
    transaction each time: a ping like an earlier one is its retransmission, and the
    answer would go to where the earlier one came from."""
    tag = uuid.uuid4().hex
    return (
        f"OPTIONS sip:bot@{LOCALHOST}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {source}:9;branch=z9hG4bK-{tag};rport\r\n"
        f"From: <sip:ping@{source}>;tag={tag}\r\nTo: <sip:bot@{LOCALHOST}>\r\n"
        f"Call-ID: {tag}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def sip_options_answered(port: int, timeout_s: float = 2.0) -> bool:
    """Whether a SIP line on loopback ``port`` answers an OPTIONS ping with 200 OK."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(timeout_s)
        probe.sendto(options_ping(port), (LOCALHOST, port))
        try:
            return probe.recv(4096).startswith(b"SIP/2.0 200")
        except OSError:
            return False

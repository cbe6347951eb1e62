"""Asterisk AudioSocket: calls arriving over TCP from Asterisk's ``AudioSocket()`` application.

Every frame is 1 byte type, 2 bytes big-endian payload length, then the payload. Asterisk
sends the call's UUID first (0x01, 16 bytes), then audio (0x10: 16-bit little-endian mono
PCM at 8 kHz, usually 320 bytes = 20 ms), DTMF (0x03, one ASCII character), hangup (0x00)
or an error (0xff). We send only audio (paced, 320-byte frames; nothing while idle, since
Asterisk needs no keep-alive on TCP) and hangup.

Asterisk passes no caller number, so ``caller`` and ``call_id`` are both the UUID; a dial
plan that wants the number known has to map the UUID to it. Anything malformed — a first
frame that is not a UUID, an unknown type, a length beyond ``MAX_PAYLOAD`` (never read into
memory) — is logged and ends that call with a hangup frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid

from voice.audio import frame_bytes
from voice.line import AudioFrame, CallHandler, Dtmf, Hangup, HangupBy
from voice.telephony import PacedLine

log = logging.getLogger(__name__)

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF
RATE = 8000
MAX_PAYLOAD = 4096  # 256 ms of 8 kHz audio; Asterisk sends 20 ms frames
# Calls at once on one phone line process: far more than 2 cores can answer well (each
# call decodes speech), and a bound on what a flood of connections can hold.
MAX_CONNECTIONS = 32
_HEADER = struct.Struct("!BH")
# Outbound audio buffered in the socket beyond this (Asterisk stopped reading) is dropped
# rather than piling up in memory.
_MAX_WRITE_BUFFER = 64 * 1024


class ProtocolError(ValueError):
    pass


def encode_frame(kind: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One frame; ``asyncio.IncompleteReadError`` when the connection closes."""
    kind, length = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if length > MAX_PAYLOAD:
        raise ProtocolError(f"frame of type 0x{kind:02x} claims {length} bytes")
    return kind, await reader.readexactly(length) if length else b""


class AudioSocketLine(PacedLine):
    """One AudioSocket call as the handler sees it."""

    idle_silence = False

    def __init__(self, call_uuid: str, writer: asyncio.StreamWriter) -> None:
        super().__init__(caller=call_uuid, call_id=call_uuid, rate=RATE)
        self._writer = writer
        self._pending = bytearray()  # inbound PCM not yet a whole 20 ms frame
        self.ended = asyncio.Event()

    def _send_frame(self, pcm: bytes | None, *, resumed: bool) -> bool:
        if pcm is None or self.ended.is_set() or self._writer.is_closing():
            return False
        if self._writer.transport.get_write_buffer_size() > _MAX_WRITE_BUFFER:
            return False
        self._writer.write(encode_frame(KIND_AUDIO, pcm))
        return True

    async def hangup(self) -> None:
        await self.end(by=HangupBy.bot, send_hangup=True)

    async def end(self, *, by: HangupBy, send_hangup: bool) -> None:
        if self.ended.is_set():
            return
        self.ended.set()
        await self._stop_pacing()
        if send_hangup and not self._writer.is_closing():
            with contextlib.suppress(ConnectionError):
                self._writer.write(encode_frame(KIND_HANGUP))
                await self._writer.drain()
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
        self.inbound.put_nowait(Hangup(by=by))
        log.info("AudioSocket call %s ended by %s", self.call_id, by)

    def receive_audio(self, payload: bytes) -> None:
        self._pending += payload
        size = frame_bytes(RATE)
        while len(self._pending) >= size:
            self.inbound.put_nowait(AudioFrame(bytes(self._pending[:size])))
            del self._pending[:size]

    def start(self) -> None:
        self._start_pacing()


class AudioSocketServer:
    """Accepts AudioSocket connections on ``host:port`` and runs ``handler`` once per call.

    ``port=0`` picks a free port (see ``port`` after ``start``). At most
    ``max_connections`` connections at once (calls, and connections that have not yet
    said which call they are): one more is hung up at once, so a flood of connections
    cannot take memory or file descriptors from the calls in progress.
    """

    def __init__(
        self,
        handler: CallHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 9092,
        first_frame_timeout: float = 10.0,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.first_frame_timeout = first_frame_timeout
        self.max_connections = max_connections
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._lines: set[AudioSocketLine] = set()
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("AudioSocket listening on %s:%d (TCP)", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for line in list(self._lines):
            await line.end(by=HangupBy.shutdown, send_hangup=True)
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def lines(self) -> list[AudioSocketLine]:
        return list(self._lines)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._connections) >= self.max_connections:
            self.refused += 1
            log.warning(
                "AudioSocket: %d connections already, refused one more", len(self._connections)
            )
            await _refuse(writer)
            return
        self._connections.add(task)
        try:
            call_uuid = await self._greeting(reader)
        except (ProtocolError, asyncio.IncompleteReadError, TimeoutError, ConnectionError) as exc:
            log.warning("AudioSocket connection dropped before the call began: %s", exc)
            await _refuse(writer)
            self._connections.discard(task)
            return
        line = AudioSocketLine(call_uuid, writer)
        self._lines.add(line)
        line.start()
        handler = asyncio.create_task(self._run_handler(line), name=f"call-{call_uuid}")
        try:
            await self._read_call(line, reader)
            await handler
        finally:
            handler.cancel()
            self._lines.discard(line)
            self._connections.discard(task)

    async def _greeting(self, reader: asyncio.StreamReader) -> str:
        kind, payload = await asyncio.wait_for(read_frame(reader), self.first_frame_timeout)
        if kind != KIND_UUID or len(payload) != 16:
            raise ProtocolError(
                f"first frame is type 0x{kind:02x} ({len(payload)} bytes), not a UUID"
            )
        return str(uuid.UUID(bytes=payload))

    async def _read_call(self, line: AudioSocketLine, reader: asyncio.StreamReader) -> None:
        """Feed the call's frames to its line until it ends, whoever ends it."""
        while not line.ended.is_set():
            try:
                kind, payload = await read_frame(reader)
                if kind == KIND_AUDIO:
                    if len(payload) % 2:
                        raise ProtocolError(f"audio frame of odd length {len(payload)}")
                    line.receive_audio(payload)
                elif kind == KIND_DTMF:
                    digit = payload.decode("ascii", errors="replace").upper()
                    if len(digit) != 1 or digit not in "0123456789*#ABCD":
                        raise ProtocolError(f"bad DTMF payload {payload!r}")
                    line.inbound.put_nowait(Dtmf(digit))
                elif kind == KIND_HANGUP:
                    await line.end(by=HangupBy.caller, send_hangup=False)
                elif kind == KIND_ERROR:
                    log.warning("Asterisk reported an error on %s: %s", line.call_id, payload.hex())
                    await line.end(by=HangupBy.error, send_hangup=True)
                else:
                    raise ProtocolError(f"unknown frame type 0x{kind:02x}")
            except (asyncio.IncompleteReadError, ConnectionError):
                await line.end(by=HangupBy.caller, send_hangup=False)  # Asterisk closed the socket
            except ProtocolError as exc:
                log.warning("AudioSocket call %s: %s; ending it", line.call_id, exc)
                await line.end(by=HangupBy.error, send_hangup=True)

    async def _run_handler(self, line: AudioSocketLine) -> None:
        try:
            await self.handler(line)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call handler failed on AudioSocket call %s; hanging up", line.call_id)
        await line.end(by=HangupBy.bot, send_hangup=True)


async def _refuse(writer: asyncio.StreamWriter) -> None:
    """Hang up a connection that carries no call (yet)."""
    with contextlib.suppress(ConnectionError):
        writer.write(encode_frame(KIND_HANGUP))
        writer.close()
        await writer.wait_closed()

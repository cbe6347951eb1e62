"""SIP transactions over UDP (RFC 3261 17): what makes an unreliable transport reliable.

- ``ResponseCache``: every response we sent, by transaction, so a retransmitted request
  gets the same response again (never a second call), kept for Timer J.
- ``AckWaits``: a final response to an INVITE resent with growing intervals until its ACK
  arrives, or until Timer H gives up.
- ``ClientTransactions``: requests we send (BYE, REFER), resent until a final response or
  Timer F; after a provisional response, slowly.

All timers derive from T1 (the round-trip estimate, configurable per server) and T2.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from voice.telephony.message import SipMessage, Via

Address = tuple[str, int]
Send = Callable[[bytes, Address], None]
# Call-ID, CSeq number, method and top Via branch: one server transaction.
TransactionKey = tuple[str, int, str, str]

T1_S = 0.5  # RFC 3261 17.1.1.1: the round-trip estimate, and the first resend interval
T2_S = 4.0  # RFC 3261 17.1.2.2: the longest retransmission interval
TIMEOUT_T1 = 64  # Timers B, F and H: a transaction gives up after 64·T1 (32 s)
RESPONSE_CACHE_S = 32.0  # RFC 3261 Timer J: how long a transaction's response is resent
RESPONSE_CACHE_SIZE = 256  # responses kept before the stale ones are looked for


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)  # RFC 3261 magic cookie + unique part


@dataclass
class SentResponse:
    data: bytes
    destination: Address
    at: float


def transaction_key(request: SipMessage, via: Via) -> TransactionKey:
    return request.call_id, request.cseq[0], request.method, via.branch


class ResponseCache:
    """The responses sent per server transaction (RFC 3261 17.2.1, 17.2.2)."""

    def __init__(self) -> None:
        self._sent: dict[TransactionKey, SentResponse] = {}

    def remember(self, key: TransactionKey, sent: SentResponse) -> None:
        self._sent.pop(key, None)  # put last: the entries stay in the order they were sent
        self._sent[key] = sent
        # The stale ones, oldest first, up to the first one still fresh: looking at every
        # entry for every response made a flood of requests cost quadratic time.
        while len(self._sent) > RESPONSE_CACHE_SIZE:
            oldest_key, oldest = next(iter(self._sent.items()))
            if sent.at - oldest.at <= RESPONSE_CACHE_S:
                break
            del self._sent[oldest_key]

    def get(self, key: TransactionKey) -> SentResponse | None:
        return self._sent.get(key)


class AckWaits:
    """RFC 3261 13.3.1.4 / 17.2.1: resend a final INVITE response until the ACK.

    ``on_no_ack(call_id, response)`` runs when Timer H expires without one."""

    def __init__(self, send: Send, *, t1: float, on_no_ack: Callable[[str, bytes], None]) -> None:
        self._send = send
        self._t1 = t1
        self._on_no_ack = on_no_ack
        self._waiting: dict[tuple[str, int], asyncio.Task[None]] = {}

    def start(self, call_id: str, cseq: int, sent: SentResponse) -> None:
        data, to = sent.data, sent.destination

        async def resend() -> None:
            interval = self._t1
            deadline = time.monotonic() + TIMEOUT_T1 * self._t1
            while time.monotonic() + interval < deadline:
                await asyncio.sleep(interval)
                self._send(data, to)
                interval = min(interval * 2, T2_S)
            await asyncio.sleep(max(deadline - time.monotonic(), 0))
            self._waiting.pop((call_id, cseq), None)
            self._on_no_ack(call_id, data)

        previous = self._waiting.pop((call_id, cseq), None)
        if previous is not None:
            previous.cancel()
        self._waiting[(call_id, cseq)] = asyncio.create_task(resend())

    def acked(self, call_id: str, cseq: int) -> None:
        task = self._waiting.pop((call_id, cseq), None)
        if task is not None:
            task.cancel()

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        return list(self._waiting.values())


class ClientTransactions:
    """Requests we send, matched to their responses by Via branch (RFC 3261 17.1.2)."""

    def __init__(self, send: Send, *, t1: float) -> None:
        self._send = send
        self._t1 = t1
        self._waiting: dict[str, asyncio.Future[SipMessage]] = {}
        self._provisional: set[str] = set()

    async def request(
        self, branch: str, data: bytes, destination: Address, *, timeout: float | None = None
    ) -> SipMessage | None:
        """Send ``data`` (whose top Via has ``branch``) with retransmissions; its final
        response, or None when none came within ``timeout`` (Timer F, 64·T1, by default)."""
        future: asyncio.Future[SipMessage] = asyncio.get_running_loop().create_future()
        self._waiting[branch] = future
        deadline = time.monotonic() + (TIMEOUT_T1 * self._t1 if timeout is None else timeout)
        interval = self._t1
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                self._send(data, destination)
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(future), min(interval, remaining))
                # After a provisional response the peer has the request: resend slowly.
                interval = T2_S if branch in self._provisional else min(interval * 2, T2_S)
            return None
        finally:
            self._waiting.pop(branch, None)
            self._provisional.discard(branch)
            future.cancel()

    def on_response(self, message: SipMessage) -> None:
        vias = message.values("Via")
        branch = Via.parse(vias[0]).branch if vias else ""
        future = self._waiting.get(branch)
        if future is None or future.done():
            return
        if message.status < 200:
            self._provisional.add(branch)
        else:
            future.set_result(message)

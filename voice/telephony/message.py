"""SIP messages (RFC 3261): parsing and formatting, header access, and the values a UAS
reads out of them (name-addrs, SIP/tel URIs, Vias, INFO DTMF bodies).

Everything here is pure: no sockets, timers or call state. The transactions that exchange
these messages are in ``voice.telephony.transactions``, the calls (dialogs) in
``voice.telephony.sip_call`` and the server in ``voice.telephony.sip``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
    "r": "refer-to",
    "b": "referred-by",
    "o": "event",
}
_CANONICAL = {
    "via": "Via",
    "from": "From",
    "to": "To",
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "contact": "Contact",
    "content-length": "Content-Length",
    "content-type": "Content-Type",
    "record-route": "Record-Route",
    "refer-to": "Refer-To",
    "referred-by": "Referred-By",
    "www-authenticate": "WWW-Authenticate",
}


class SipParseError(ValueError):
    pass


def _canonical(name: str) -> str:
    lower = name.strip().lower()
    lower = _COMPACT.get(lower, lower)
    return _CANONICAL.get(lower, "-".join(part.capitalize() for part in lower.split("-")))


@dataclass
class SipMessage:
    start_line: str  # "INVITE sip:bot@host SIP/2.0" or "SIP/2.0 200 OK"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> SipMessage:
        head, separator, body = data.partition(b"\r\n\r\n")
        if not separator:
            head, separator, body = data.partition(b"\n\n")
        lines = head.decode("utf-8", errors="replace").replace("\r\n", "\n").split("\n")
        start_line = lines[0].strip()
        if not start_line.endswith("SIP/2.0") and not start_line.startswith("SIP/2.0 "):
            raise SipParseError(f"not a SIP message: {start_line[:60]!r}")
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and headers:  # folded continuation line
                name, value = headers[-1]
                headers[-1] = (name, f"{value} {line.strip()}")
            elif ":" in line:
                name, _, value = line.partition(":")
                headers.append((_canonical(name), value.strip()))
        message = cls(start_line, headers, body)
        length = message.header("Content-Length")
        if length is not None and length.isdigit():
            message.body = body[: int(length)]
        for required in ("Via", "From", "To", "Call-ID", "CSeq"):
            if message.header(required) is None:
                raise SipParseError(f"missing {required}")
        if not message.values("Via"):  # "Via:" with nothing in it: no one to answer
            raise SipParseError("empty Via")
        message.cseq  # noqa: B018 (raises now, not halfway through handling the request)
        return message

    def to_bytes(self) -> bytes:
        lines = [self.start_line]
        lines += [f"{name}: {value}" for name, value in self.headers if name != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    @property
    def is_request(self) -> bool:
        return not self.start_line.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0].upper() if self.is_request else self.cseq[1]

    @property
    def uri(self) -> str:
        return self.start_line.split(" ")[1] if self.is_request else ""

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.start_line.split(" ")[1])

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def values(self, name: str) -> list[str]:
        """All values of a list header (Via, Route, Contact…), across lines and commas."""
        return [part for key, value in self.headers if key == name for part in split_list(value)]

    @property
    def call_id(self) -> str:
        return self.header("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = (self.header("CSeq") or "").partition(" ")
        try:
            return int(number), method.strip().upper()
        except ValueError as exc:
            raise SipParseError("bad CSeq") from exc

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, ignoring commas in quotes and <URIs>."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for index, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            depth += 1
        elif not quoted and char == ">":
            depth = max(depth - 1, 0)
        elif char == "," and not quoted and depth == 0:
            parts.append(value[start:index].strip())
            start = index + 1
    parts.append(value[start:].strip())
    return [part for part in parts if part]


@dataclass(frozen=True)
class NameAddr:
    """A From/To/Contact/Route value: the URI and the header parameters (tag, lr…)."""

    uri: str
    params: dict[str, str]

    @classmethod
    def parse(cls, value: str) -> NameAddr:
        if "<" in value and ">" in value:
            uri = value[value.index("<") + 1 : value.index(">")].strip()
            rest = value[value.index(">") + 1 :]
        else:  # addr-spec: parameters after the URI belong to the header, not the URI
            uri, _, rest = value.strip().partition(";")
            rest = ";" + rest
        params: dict[str, str] = {}
        for param in rest.split(";"):
            name, _, param_value = param.partition("=")
            if name.strip():
                params[name.strip().lower()] = param_value.strip()
        return cls(uri, params)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")


@dataclass(frozen=True)
class SipUri:
    user: str
    host: str
    port: int | None

    @classmethod
    def parse(cls, uri: str) -> SipUri:
        scheme, _, rest = uri.partition(":")
        if scheme.lower() == "tel":
            return cls(unquote(rest.split(";")[0]), "", None)
        rest = re.split(r"[;?]", rest, maxsplit=1)[0] if "@" not in rest else rest
        user, at, hostport = rest.rpartition("@")
        if at:
            user = unquote(user.split(":")[0].split(";")[0])
        hostport = re.split(r"[;?]", hostport, maxsplit=1)[0]
        if hostport.startswith("["):  # IPv6 reference
            host, _, tail = hostport[1:].partition("]")
            port = tail[1:] if tail.startswith(":") else ""
        else:
            host, _, port = hostport.partition(":")
        return cls(user, host, int(port) if port.isdigit() else None)


SIP_PORT = 5060  # RFC 3261 19.1.2: the port when a URI or Via names none


def uri_host(host: str) -> str:
    """``host`` as written in a URI or Via: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @classmethod
    def parse(cls, value: str) -> Via:
        protocol, _, rest = value.strip().partition(" ")
        sent_by, *raw_params = rest.strip().split(";")
        host, _, port = sent_by.strip().rpartition(":")
        if not host or "]" in port:  # no port given (or a bare IPv6 reference)
            host, port = sent_by.strip(), ""
        params: dict[str, str] = {}
        for param in raw_params:
            name, _, param_value = param.partition("=")
            params[name.strip().lower()] = param_value.strip()
        transport = protocol.rsplit("/", 1)[-1].upper()
        return cls(transport, host.strip("[]"), int(port) if port.isdigit() else None, params)

    @property
    def branch(self) -> str:
        return self.params.get("branch", "")


def build_response(
    request: SipMessage,
    status: int,
    reason: str,
    *,
    source: tuple[str, int],
    to_tag: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    content_type: str = "application/sdp",
    body: bytes = b"",
) -> SipMessage:
    """The response to ``request`` (RFC 3261 8.2.6): its Vias, From, To, Call-ID and CSeq,
    then ``headers``, then ``body`` as ``content_type`` when there is one.

    ``source`` is the (host, port) the request came from: the top Via records it
    (``received``, and ``rport`` when the caller asked, RFC 3581). ``to_tag`` is added to To
    unless it already has a tag.
    """
    vias = [value for name, value in request.headers if name == "Via"]
    top_value = split_list(vias[0])
    top = Via.parse(top_value[0])
    stamp = f";received={source[0]}" if top.host != source[0] else ""
    if "rport" in top.params:
        top_value[0] = re.sub(r";rport(=[^;]*)?", f";rport={source[1]}", top_value[0])
    top_value[0] += stamp
    vias[0] = ", ".join(top_value)
    to = request.header("To") or ""
    if to_tag and NameAddr.parse(to).tag is None:
        to = f"{to};tag={to_tag}"
    lines = [("Via", via) for via in vias]
    lines += [
        ("From", request.header("From") or ""),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", request.header("CSeq") or ""),
    ]
    lines += headers or []
    if body:
        lines.append(("Content-Type", content_type))
    return SipMessage(f"SIP/2.0 {status} {reason}", lines, body)


def dtmf_from_info(content_type: str, body: bytes) -> str | None:
    """The key in a SIP INFO body (``application/dtmf-relay`` or ``application/dtmf``)."""
    text = body.decode("ascii", errors="replace").strip()
    if content_type == "application/dtmf-relay":
        match = re.search(r"^\s*signal\s*=\s*(\S+)", text, re.IGNORECASE | re.MULTILINE)
        text = match.group(1) if match else ""
    elif content_type != "application/dtmf":
        return None
    # Some phones send the RFC 4733 event number instead of the character.
    text = {"10": "*", "11": "#", "12": "A", "13": "B", "14": "C", "15": "D"}.get(text, text)
    text = text.upper()
    return text if len(text) == 1 and text in "0123456789*#ABCD" else None

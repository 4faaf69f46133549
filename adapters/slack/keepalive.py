"""The receipt's ``chat.update`` as one HTTP/1.1 request on a kept-alive connection.

aiohttp's client spends about 190 µs of CPU on a small JSON post (its request and response
objects, timers, tracing hooks, cookie jar, redirect and proxy handling), the most of any single
step of a stored answer (docs/performance.md, "CPU per answer").  The receipt needs none of
that: one POST of a pre-built body to one host, its answer's status and a small JSON body.
Written and read directly on an asyncio stream it costs about 50 µs.

Only the plain case is handled here: a ``Content-Length`` answer on a connection that stays
open.  Anything else (a connection refused, dropped or timed out, a chunked or malformed
answer, ``Connection: close``) closes the connection and returns None, and the caller makes the
call through slack_sdk instead, as it does after a 429.  That is safe because ``chat.update``
sets the message to the same receipt however often it is sent.  Proxies are not supported: a
client with one never gets a ``KeepAlive`` (``adapters/slack/__init__.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

IDLE_KEPT = 100  # idle connections kept, as aiohttp's connector's limit
MAX_HEAD = 16 * 1024  # an answer's status line and headers
MAX_BODY = 1024 * 1024  # a Web API answer's JSON
FRAMING = frozenset({"content-length", "transfer-encoding"})  # once each, or not read here

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


class Unusual(Exception):
    """An answer this client doesn't read (the caller falls back to slack_sdk)."""


class KeepAlive:
    """Kept-alive connections to the Web API's host (``base_url``: ``SLACK_API_URL``), over TLS
    with ``tls`` (the client's own ``ssl``, as slack_sdk would use it) for an https URL."""

    def __init__(self, base_url: str, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"not an HTTP URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = parts.path if parts.path.endswith("/") else parts.path + "/"
        https = parts.scheme == "https"  # (certificates checked: ``tls``, or the system's)
        self.tls = (tls or ssl.create_default_context()) if https else None
        default = (parts.scheme == "https" and self.port == 443) or self.port == 80
        self.authority = self.host if default else f"{self.host}:{self.port}"
        self._idle: list[Stream] = []

    async def post(
        self, method: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> Answer | None:
        """POST ``body`` to the Web API ``method``; None when the caller should make the call
        another way (see the module's docstring).  A kept connection the server has closed
        meanwhile is replaced by a new one, once."""
        request = self._request(method, body, headers)
        try:
            async with asyncio.timeout(timeout):
                while self._idle:
                    try:
                        return await self._exchange(self._idle.pop(), request)
                    except (EOFError, ConnectionError):
                        continue  # (closed while idle: try the next, or a new one)
                return await self._exchange(await self._connect(), request)
        except (OSError, TimeoutError, EOFError, ValueError, Unusual, asyncio.LimitOverrunError):
            return None

    async def _exchange(self, stream: Stream, request: bytes) -> Answer:
        """One request and its answer on ``stream``, kept for the next when it may be."""
        reader, writer = stream
        answer: Answer | None = None
        keep = False
        try:
            writer.write(request)
            answer, keep = await _read(reader)
        finally:
            if answer is not None and keep and len(self._idle) < IDLE_KEPT:
                self._idle.append(stream)
            else:
                writer.close()
        return answer

    def __deepcopy__(self, _memo: object) -> KeepAlive:
        return self  # (its connections are the process's, whatever copies a client holding it)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _connect(self) -> Stream:
        return await asyncio.open_connection(self.host, self.port, ssl=self.tls, limit=MAX_HEAD)

    def _request(self, method: str, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [f"POST {self.path}{method} HTTP/1.1", f"Host: {self.authority}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read(reader: asyncio.StreamReader) -> tuple[Answer, bool]:
    """The answer, and whether its connection may be used again."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *fields = head[:-4].split("\r\n")
    version, _, rest = status_line.partition(" ")
    if version not in {"HTTP/1.1", "HTTP/1.0"}:
        raise Unusual(status_line)
    status = int(rest[:3])
    headers: dict[str, str] = {}
    for field in fields:
        name, colon, value = field.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not colon or (name in headers and name in FRAMING):
            raise Unusual(name)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    if "transfer-encoding" in headers or "content-length" not in headers:
        raise Unusual("no Content-Length")
    length = int(headers["content-length"])
    if not 0 <= length <= MAX_BODY:
        raise Unusual("Content-Length")
    body = await reader.readexactly(length)
    keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
    return Answer(status, headers, body), keep

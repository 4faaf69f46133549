"""The receipt's kept-alive connections (``adapters/slack/keepalive.py``) against a real TCP
server that answers as we tell it: an answer it reads is Slack's answer, a connection the server
dropped while idle is replaced, and anything it doesn't read (a chunked or garbled answer, a
server that never answers) is None, for the caller to make the call through slack_sdk."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from adapters.slack.keepalive import KeepAlive

OK = b'{"ok":true}'
Answerer = Callable[[int], bytes | None]  # n-th request -> raw answer (None: say nothing)
Start = Callable[..., Awaitable["Upstream"]]


def plain(n: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n" + OK


class Upstream:
    """A TCP server reading one request at a time; it answers with ``answer(n)``."""

    def __init__(self, answer: Answerer, close_after_each: bool = False) -> None:
        self.answer = answer
        self.close_after_each = close_after_each
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answer(len(self.requests))
                if answer is None:
                    await reader.read()  # (until the client gives up and closes)
                    return
                writer.write(answer)
                await writer.drain()
                if self.close_after_each:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/api/"


@pytest.fixture
async def upstream() -> AsyncIterator[Start]:
    made: list[Upstream] = []

    async def start(answer: Answerer = plain, close_after_each: bool = False) -> Upstream:
        server = Upstream(answer, close_after_each)
        server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        made.append(server)
        return server

    yield start
    for server in made:
        assert server.server is not None
        server.server.close()


async def post(keepalive: KeepAlive, n: int, timeout: float = 10.0) -> object:
    body = json.dumps({"channel": f"D{n}", "ts": f"1.{n}"}).encode()
    headers = {"Authorization": "Bearer xoxb-1", "Content-Type": "application/json"}
    return await keepalive.post("chat.update", body, headers, timeout)


async def test_posts_share_one_connection_and_say_what_slack_said(upstream: Start) -> None:
    server = await upstream()
    keepalive = KeepAlive(server.url)
    try:
        answers = [await post(keepalive, n) for n in range(3)]
    finally:
        await keepalive.close()
    assert all(
        getattr(a, "status", None) == 200 and getattr(a, "body", None) == OK for a in answers
    )
    assert server.connections == 1
    first = server.requests[0].decode()
    assert first.startswith("POST /api/chat.update HTTP/1.1\r\n")
    assert "Authorization: Bearer xoxb-1\r\n" in first and first.endswith('"ts": "1.0"}')


async def test_a_connection_dropped_while_idle_is_replaced(upstream: Start) -> None:
    server = await upstream(close_after_each=True)  # (without saying so)
    keepalive = KeepAlive(server.url)
    try:
        answers = [await post(keepalive, n) for n in range(3)]
    finally:
        await keepalive.close()
    assert [getattr(a, "status", None) for a in answers] == [200, 200, 200]
    assert server.connections == 3 and len(server.requests) == 3


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n" + OK + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 11\r\n\r\n" + OK,
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n" + OK,
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"ICY 200 OK\r\nContent-Length: 11\r\n\r\n" + OK,
        b"HTTP/1.1 2x0 OK\r\nContent-Length: 11\r\n\r\n" + OK,
        b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 11\r\n\r\n" + OK,
        b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * 20_000 + b"\r\n\r\n",
    ],
)
async def test_an_answer_it_does_not_read_is_left_to_slack_sdk(upstream: Start, raw: bytes) -> None:
    server = await upstream(lambda n: raw if n == 1 else plain(n))
    keepalive = KeepAlive(server.url)
    try:
        assert await post(keepalive, 1) is None
        again = await post(keepalive, 2)  # (a fresh connection: the odd one was closed)
    finally:
        await keepalive.close()
    assert getattr(again, "status", None) == 200 and server.connections == 2


async def test_connection_close_is_read_and_not_kept(upstream: Start) -> None:
    closing = (
        b"HTTP/1.1 429 Too Many\r\nRetry-After: 3\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    server = await upstream(lambda n: closing if n == 1 else plain(n))
    keepalive = KeepAlive(server.url)
    try:
        refused = await post(keepalive, 1)
        again = await post(keepalive, 2)
    finally:
        await keepalive.close()
    assert getattr(refused, "status", None) == 429
    assert getattr(refused, "headers", {}).get("retry-after") == "3"
    assert getattr(again, "status", None) == 200 and server.connections == 2


async def test_a_server_that_never_answers_gives_none_within_the_bound(upstream: Start) -> None:
    server = await upstream(lambda n: None)
    keepalive = KeepAlive(server.url)
    try:
        assert await post(keepalive, 1, timeout=0.2) is None
    finally:
        await keepalive.close()


async def test_nothing_listening_gives_none() -> None:
    keepalive = KeepAlive("http://127.0.0.1:9/api/")  # (the discard port: nothing there)
    assert await post(keepalive, 1) is None


def certificate(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server's TLS context for 127.0.0.1 with a self-signed certificate, and that
    certificate's file (for a client that trusts it)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake Slack")])
    now = datetime.now(UTC)
    made = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(made.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


async def tls_upstream(context: ssl.SSLContext) -> tuple[Upstream, str]:
    server = Upstream(plain)
    server.server = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=context)
    return server, server.url.replace("http://", "https://")


async def test_receipts_go_over_tls_to_a_trusted_server(tmp_path: Path) -> None:
    context, cert_file = certificate(tmp_path)
    server, url = await tls_upstream(context)
    keepalive = KeepAlive(url, ssl.create_default_context(cafile=str(cert_file)))
    try:
        answers = [await post(keepalive, n) for n in range(2)]
    finally:
        await keepalive.close()
        assert server.server is not None
        server.server.close()
    assert [getattr(a, "status", None) for a in answers] == [200, 200]
    assert server.connections == 1 and len(server.requests) == 2


async def test_a_server_with_an_untrusted_certificate_gets_nothing(tmp_path: Path) -> None:
    """Someone in the middle with a certificate of their own: the check refuses it before the
    request (the bot's token in it) is written, and the call is left to slack_sdk."""
    context, _ = certificate(tmp_path)
    server, url = await tls_upstream(context)
    keepalive = KeepAlive(url)  # (the system's authorities only)
    try:
        assert await post(keepalive, 1) is None
    finally:
        await keepalive.close()
        assert server.server is not None
        server.server.close()
    assert server.requests == []

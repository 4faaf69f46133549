"""A TCP proxy in front of PostgreSQL that a test controls: the app connects through it, and the
test makes the database go away and come back without touching the shared server.

* ``down()``: every connection through it is cut (as a restart or a failover cuts them) and new
  ones are refused (as a stopped server refuses them: the listening socket is closed, so a
  connect gets ``ECONNREFUSED``).
* ``silent()``: the database is there but answers nothing (a network partition): new connections
  are taken and then hang, and bytes on live ones go nowhere.
* ``up()``: connections are forwarded again, on the same port.
* ``cut_after_commit()``: the next ``COMMIT`` a client sends reaches the database, and then that
  client's connection is cut before the answer comes back: a commit that landed, unknown to the
  app.
* ``hold_commits()``: every ``COMMIT`` a client sends waits in the proxy (counted in
  ``commits_held``) until ``release_commits()`` (or ``down``, which cuts it): a commit that
  takes as long as the test likes, the transaction still open meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.settings import Settings

CHUNK = 64 * 1024


class DatabaseProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0  # connections taken while forwarding
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.commits_cut = 0
        self._cut_commit = False
        self._forwarding = asyncio.Event()
        self._forwarding.set()
        self.commits_held = 0
        self._commits = asyncio.Event()  # clear: COMMITs are held
        self._commits.set()

    @classmethod
    def to(cls, url: str) -> DatabaseProxy:
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    def url_for(self, url: str) -> str:
        """``url`` (a database behind this proxy) with the proxy's address in its place."""
        parts = urlsplit(url)
        user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{self.port}"))

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """The database is gone: live connections cut (a COMMIT held never sent), new ones
        refused."""
        await self._close_listener()
        self._cut_all()
        self._commits.set()  # (each held one finds its connection cut, and goes nowhere)

    async def silent(self) -> None:
        """The database stops answering: nothing is forwarded, nothing is closed."""
        self._forwarding.clear()

    async def up(self) -> None:
        """The database is back, at the same address."""
        self._cut_all()  # connections taken while silent were never forwarded anywhere
        self._forwarding.set()
        if self._server is None:
            await self.start()

    def cut_after_commit(self) -> None:
        self._cut_commit = True

    def hold_commits(self) -> None:
        self._commits.clear()

    def release_commits(self) -> None:
        self._commits.set()

    async def stop(self) -> None:
        await self._close_listener()
        self._cut_all()
        self._commits.set()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if not self._forwarding.is_set():
            return  # held open, never answered, until ``up`` or ``stop`` cuts it
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._writers.add(upstream)
        loop = asyncio.get_running_loop()
        for source, sink, client in ((reader, upstream, writer), (upstream_reader, writer, None)):
            task = loop.create_task(self._pipe(source, sink, client))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        client: asyncio.StreamWriter | None,
    ) -> None:
        """Bytes from ``source`` to ``sink``; ``client``: the app's end, when ``source`` is it."""
        try:
            while data := await source.read(CHUNK):
                await self._forwarding.wait()  # a partition: the bytes go nowhere meanwhile
                if client is not None and not self._commits.is_set() and _commit(data):
                    self.commits_held += 1
                    await self._commits.wait()
                if sink.transport.is_closing():
                    return
                sink.write(data)
                await sink.drain()
                if client is not None and self._cut_commit and _commit(data):
                    self._cut_commit = False
                    self.commits_cut += 1
                    client.transport.abort()  # its answer will never reach the app
                    sink.close()  # the server reads the COMMIT (and runs it) before the end
                    return
        except (ConnectionError, OSError):
            pass
        with contextlib.suppress(Exception):
            sink.transport.abort()


def _commit(data: bytes) -> bool:
    return b"COMMIT" in data.upper()


@asynccontextmanager
async def proxied(url: str) -> AsyncIterator[tuple[DatabaseProxy, str]]:
    """A proxy in front of the database at ``url``, and the URL that goes through it."""
    proxy = DatabaseProxy.to(url)
    await proxy.start()
    try:
        yield proxy, proxy.url_for(url)
    finally:
        await proxy.stop()


def through(proxy: DatabaseProxy, settings: Settings, **changes: Any) -> Settings:
    """``settings`` with the app's database reached through ``proxy`` (and ``changes``)."""
    url = proxy.url_for(settings.database_url)
    return settings.model_copy(update={"database_url": url, **changes})

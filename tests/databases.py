"""Throwaway databases for tests: a SQLite file, or a PostgreSQL database created beside
``TEST_DATABASE_URL`` and dropped afterwards, at a given revision.

Running every migration for every test cost about a second a database (two for each storage
test, on both backends).  So within a pytest session (``tests/conftest.py`` opens
``templates``) each backend and revision is migrated by Alembic once, into a *template*, and
each test gets a copy of it: a SQLite file copied (checkpointed first, so no ``-wal`` holds part
of it), a PostgreSQL database made with ``CREATE DATABASE ... TEMPLATE``.  The copy is the very
database the migrations built.  A test of the migrations themselves asks for ``alembic=True``
(or, through the ``database_url`` fixture, ``@pytest.mark.alembic``) and gets a database
migrated by Alembic from nothing, as before.  Templates are dropped when the session ends, and
outside a session (``bench/``) every database is migrated by Alembic.  A session killed outright
(``kill -9``) cannot drop its PostgreSQL templates: each is labelled with its session's process
and host, and the next session on that host drops those whose process is gone."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, closing, contextmanager
from pathlib import Path

import asyncpg
from sqlalchemy import text

from storage.engine import Database
from storage.migrate import upgrade

# PostgreSQL templates are named for what they are, and dropped at the session's end
TEMPLATE_PREFIX = "tp_tmpl_"


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _sibling(base: str, database: str) -> str:
    """The URL of ``database`` on the server of ``base``."""
    return base.rsplit("/", 1)[0] + f"/{database}"


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


class Templates:
    """Migrated databases to copy, one per (backend, revision), made on first use.

    Tests run one at a time within a session, each on its own event loop, so nothing here is
    shared between loops but plain data."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tag = uuid.uuid4().hex[:12]
        self.sqlite: dict[str, Path] = {}
        self.postgresql: dict[str, str] = {}  # revision -> database name, on TEST_DATABASE_URL
        self.copies: set[str] = set()  # the URLs of the copies handed out (for its own tests)

    async def sqlite_copy(self, revision: str, target: Path) -> None:
        """``target`` becomes a copy of the SQLite template at ``revision``."""
        template = self.sqlite.get(revision)
        if template is None:
            template = self.folder / f"{self.tag}_{revision}.db"
            try:
                await upgrade(_sqlite_url(template), revision)
                _checkpoint(template)
            except BaseException:
                _unlink(template)  # never copy a half-migrated template
                raise
            self.sqlite[revision] = template
        shutil.copyfile(template, target)
        wal = template.with_name(template.name + "-wal")  # (none after the checkpoint)
        if wal.exists():
            shutil.copyfile(wal, target.with_name(target.name + "-wal"))

    async def postgresql_copy(
        self, admin: asyncpg.Connection, base: str, revision: str, database: str
    ) -> None:
        """Create ``database``: a copy of the PostgreSQL template at ``revision``."""
        template = self.postgresql.get(revision)
        if template is None:
            template = f"{TEMPLATE_PREFIX}{self.tag}_{revision}".lower()
            if not self.postgresql:
                await drop_stale_templates(admin)
            self.postgresql[revision] = template  # (so it is dropped at the end, however made)
            await admin.execute(f'CREATE DATABASE "{template}"')
            await admin.execute(f"COMMENT ON DATABASE \"{template}\" IS '{_owner()}'")
            try:
                await upgrade(_sibling(base, template), revision)
            except BaseException:
                del self.postgresql[revision]  # never copy a half-migrated template
                await admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                raise
            # nothing may connect to a template while it is copied: refuse strays outright
            await admin.execute(f'ALTER DATABASE "{template}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')

    def drop(self) -> None:
        """Drop every template made (from synchronous code: a session fixture's teardown)."""
        for path in self.sqlite.values():
            _unlink(path)
        self.sqlite.clear()
        if self.postgresql:
            with ThreadPoolExecutor(1) as thread:  # (its own event loop, whatever runs here)
                thread.submit(asyncio.run, self._drop_postgresql()).result()

    async def _drop_postgresql(self) -> None:
        admin = await asyncpg.connect(_asyncpg_dsn(os.environ["TEST_DATABASE_URL"]))
        try:
            while self.postgresql:
                _, name = self.postgresql.popitem()
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def _owner(pid: int | None = None) -> str:
    """A template's label: the process that made it, on this host."""
    return f"pid {os.getpid() if pid is None else pid} on {socket.gethostname()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # (someone else's process)
    return True


async def drop_stale_templates(admin: asyncpg.Connection) -> list[str]:
    """Drop the templates made on this host by a process that is gone; returns their names.
    Templates of live sessions, of other hosts, or without a label are left alone."""
    rows = await admin.fetch(
        "SELECT datname, shobj_description(oid, 'pg_database') AS label FROM pg_database "
        "WHERE starts_with(datname, $1)",
        TEMPLATE_PREFIX,
    )
    stale = []
    for row in rows:
        pid, _, host = (row["label"] or "").removeprefix("pid ").partition(" on ")
        if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
            await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
            stale.append(row["datname"])
    return stale


def _checkpoint(path: Path) -> None:
    """Move everything in the ``-wal`` into the database file itself and empty the ``-wal``."""
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _unlink(path: Path) -> None:
    """Remove a SQLite database and its sidecar files."""
    for sidecar in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + sidecar).unlink(missing_ok=True)


_templates: list[Templates] = []  # the innermost is used; empty outside a pytest session


def current_templates() -> Templates | None:
    """The templates ``scratch_database`` copies now (``None``: it migrates with Alembic)."""
    return _templates[-1] if _templates else None


@contextmanager
def templates(folder: Path) -> Iterator[Templates]:
    """Within the block, ``scratch_database`` copies templates made in ``folder``; at its end
    (however it ends) every template is dropped."""
    made = Templates(folder)
    _templates.append(made)
    try:
        yield made
    finally:
        _templates.remove(made)
        made.drop()


@asynccontextmanager
async def scratch_database(
    backend: str,
    folder: Path,
    revision: str = "head",
    name: str = "test",
    *,
    alembic: bool = False,
) -> AsyncIterator[str]:
    """The URL of a fresh database on ``backend`` ("sqlite" or "postgresql"), at ``revision``:
    a copy of the session's template, or with ``alembic`` (or outside a session) one migrated by
    Alembic itself."""
    template = None if alembic else current_templates()
    if backend == "sqlite":
        path = folder / f"{name}.db"
        if template is None or path.exists():  # (an existing file is upgraded, as always)
            await upgrade(_sqlite_url(path), revision)
        else:
            await template.sqlite_copy(revision, path)
            template.copies.add(_sqlite_url(path))
        yield _sqlite_url(path)
        return
    base = os.environ["TEST_DATABASE_URL"]
    database = f"tp_{name}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(base))
    try:
        if template is None:
            await admin.execute(f'CREATE DATABASE "{database}"')
        else:
            await template.postgresql_copy(admin, base, revision, database)
    finally:
        await admin.close()
    url = _sibling(base, database)
    try:
        if template is None:
            await upgrade(url, revision)
        else:
            template.copies.add(url)
        yield url
    finally:
        admin = await asyncpg.connect(_asyncpg_dsn(base))
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


async def has_index(url: str, name: str) -> bool:
    """Whether the database at ``url`` has an index called ``name``."""
    listing = (
        "SELECT indexname FROM pg_indexes WHERE indexname = :name"
        if url.startswith("postgresql")
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND name = :name"
    )
    db = Database(url)
    try:
        async with db.session() as session:
            connection = await session.connection()
            return (await connection.execute(text(listing), {"name": name})).first() is not None
    finally:
        await db.dispose()

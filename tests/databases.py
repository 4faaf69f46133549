"""Throwaway databases for tests: a SQLite file, or a PostgreSQL database created beside
``TEST_DATABASE_URL`` and dropped afterwards, migrated to a given revision."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy import text

from storage.engine import Database
from storage.migrate import upgrade


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@asynccontextmanager
async def scratch_database(
    backend: str, folder: Path, revision: str = "head", name: str = "test"
) -> AsyncIterator[str]:
    """The URL of a fresh database on ``backend`` ("sqlite" or "postgresql"), at ``revision``."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{folder / f'{name}.db'}"
        await upgrade(url, revision)
        yield url
        return
    base = os.environ["TEST_DATABASE_URL"]
    database = f"tp_{name}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(base))
    await admin.execute(f'CREATE DATABASE "{database}"')
    await admin.close()
    url = base.rsplit("/", 1)[0] + f"/{database}"
    try:
        await upgrade(url, revision)
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

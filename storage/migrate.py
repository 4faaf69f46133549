"""Run Alembic migrations from code (``teampulse db upgrade``; ``serve`` upgrades first).

Processes migrating one PostgreSQL database at once take turns on an advisory lock
(``migrations/env.py``).  Within a process Alembic's ``context`` is one global, so runs take turns
on ``_ONE_AT_A_TIME``."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
_ONE_AT_A_TIME = threading.Lock()


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_sync(database_url: str, revision: str = "head") -> list[str]:
    """Upgrade to ``revision``; returns the revisions this call applied (none when another
    process, holding the migrations' lock first, had already done it)."""
    config = alembic_config(database_url)
    applied: list[str] = []
    config.attributes["applied"] = applied
    with _ONE_AT_A_TIME:
        command.upgrade(config, revision)
    return applied


async def upgrade(database_url: str, revision: str = "head") -> list[str]:
    """Upgrade from async code: Alembic's env runs its own event loop, so use a thread."""
    return await asyncio.to_thread(upgrade_sync, database_url, revision)


async def downgrade(database_url: str, revision: str) -> None:
    """Back to ``revision`` (tests of a migration's way down; data the schema keeps is kept)."""
    await asyncio.to_thread(_downgrade_sync, database_url, revision)


def _downgrade_sync(database_url: str, revision: str) -> None:
    with _ONE_AT_A_TIME:
        command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    """The newest migration this code knows."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's migration (``None``: never migrated)."""
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )

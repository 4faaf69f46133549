"""Run Alembic migrations from code (``teampulse db upgrade``; ``serve`` upgrades first)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_sync(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade from async code: Alembic's env runs its own event loop, so use a thread."""
    await asyncio.to_thread(upgrade_sync, database_url, revision)


async def downgrade(database_url: str, revision: str) -> None:
    """Back to ``revision`` (tests of a migration's way down; data the schema keeps is kept)."""
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), revision)

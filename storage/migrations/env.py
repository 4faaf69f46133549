"""Alembic environment: runs migrations on the async engine given by the caller's config.

On PostgreSQL the whole run is one transaction that first takes a transaction-level advisory
lock, so replicas starting together migrate one at a time: the first upgrades, the others wait,
then find the schema at head and do nothing.  The upgrades run are appended to the config's
``attributes["applied"]`` when the caller gives a list there (``storage/migrate.py``)."""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from storage.engine import make_engine
from storage.leader import LOCK_CLASS, MIGRATIONS

target_metadata = SQLModel.metadata


def _record(*, step: Any, **_: Any) -> None:
    applied = context.config.attributes.get("applied")
    if applied is not None and step.is_upgrade:
        applied.append(step.up_revision_id)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        on_version_apply=_record,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:cls, :key)")
            connection.execute(lock, {"cls": LOCK_CLASS, "key": MIGRATIONS})
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())

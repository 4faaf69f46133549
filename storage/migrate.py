"""Run Alembic migrations from code (``teampulse db upgrade``; ``serve`` upgrades first).

Processes migrating one PostgreSQL database at once take turns on an advisory lock
(``migrations/env.py``).  Within a process Alembic's ``context`` is one global, so runs take turns
on ``_ONE_AT_A_TIME``.

Alembic (with Mako and Pygments, which it imports) is loaded only to migrate: ~0.1 s and ~15 MB
that a server started on a database already at head never needs (``upgrade_if_behind``).  The
head is read from the revision files themselves and the database's revision from its
``alembic_version`` table, as Alembic reads them (``tests/test_migrations.py`` checks they
agree)."""

from __future__ import annotations

import ast
import asyncio
import functools
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps
_ONE_AT_A_TIME = threading.Lock()


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config  # (only to migrate: see the module's docstring)

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
    from alembic import command

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
    from alembic import command

    with _ONE_AT_A_TIME:
        command.downgrade(alembic_config(database_url), revision)


async def upgrade_if_behind(database_url: str, engine: AsyncEngine) -> list[str]:
    """``upgrade`` to head, unless ``engine``'s database is there already (a server restarting
    on its own database: then Alembic is never imported).  Replicas starting together still
    take turns in ``upgrade`` when the schema is behind; a database at head has nothing to
    take turns for."""
    if await current_revision(engine) == head_revision():
        return []
    applied = await upgrade(database_url)
    await engine.dispose()  # (its connections may have seen the schema before the upgrade)
    return applied


@functools.cache
def head_revision() -> str | None:
    """The newest migration this code knows: the revision no other revises."""
    files = (MIGRATIONS / "versions").glob("*.py")
    revises = dict(found for path in files if (found := _revision_of(path)) is not None)
    revised = {parent for parents in revises.values() for parent in parents}
    heads = sorted(set(revises) - revised)
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have several heads: {', '.join(heads)}")
    return heads[0] if heads else None


def _revision_of(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """A revision file's ``revision`` and the ones it revises (its ``down_revision``: none, one,
    or several for a merge), read without running it; ``None`` for a file that is no revision.

    Only the file's head is parsed, up to its first function (where Alembic's template puts the
    identifiers): parsing every revision whole took about a tenth of a server's start-up."""
    source = path.read_text(encoding="utf-8")
    head, _, _ = source.partition("\ndef ")
    try:
        found = _identifiers(head)
    except SyntaxError:  # (cut inside a string or a bracket: read the whole file)
        found = {}
    if not {"revision", "down_revision"} <= found.keys():
        found = _identifiers(source)
    if "revision" not in found:
        return None
    down = found.get("down_revision")
    parents = () if down is None else tuple(down) if isinstance(down, tuple | list) else (down,)
    return str(found["revision"]), parents


def _identifiers(source: str) -> dict[str, Any]:
    """``revision`` and ``down_revision`` as the module ``source`` assigns them."""
    found: dict[str, Any] = {}
    for node in ast.parse(source).body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision") and value:
            found[target.id] = ast.literal_eval(value)
    return found


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's migration (``None``: never migrated)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_version_of)


def _version_of(connection: Connection) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
    found = list(versions)
    if len(found) > 1:
        raise RuntimeError(f"the database is at several heads: {', '.join(found)}")
    return found[0] if found else None

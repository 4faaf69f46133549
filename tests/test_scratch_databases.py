"""The tests' own databases (``tests/databases.py``): a test's database, copied from the session's
template, is the very database Alembic builds (schema, rows and, on SQLite, the WAL journal
mode); copies are independent of each other; a test marked ``alembic`` gets a database that
Alembic migrated, not a copy; and no template outlives its session, however the session ends
(a session killed outright: the next one drops its templates)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing, nullcontext
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text

from storage.engine import Database
from storage.migrate import head_revision
from tests.conftest import BACKENDS
from tests.databases import (
    TEMPLATE_PREFIX,
    _owner,
    current_templates,
    drop_stale_templates,
    scratch_database,
    templates,
)
from tests.fuzz_support import dump
from tests.test_migrations import _current, shape_of


async def _rows(url: str) -> dict[str, list[str]]:
    db = Database(url)
    try:
        return await dump(db.engine)
    finally:
        await db.dispose()


def _journal_mode(url: str) -> str:
    """SQLite's journal mode as kept in the file (read without the app's connection pragmas)."""
    with closing(sqlite3.connect(url.split("///", 1)[1])) as connection:
        return str(connection.execute("PRAGMA journal_mode").fetchone()[0])


async def _postgresql_databases(prefix: str) -> set[str]:
    admin = await asyncpg.connect(
        os.environ["TEST_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        rows = await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", prefix + "%"
        )
        return {row["datname"] for row in rows}
    finally:
        await admin.close()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("revision", ["head", "0005"])
async def test_a_copy_is_the_database_alembic_builds(
    backend: str, revision: str, tmp_path: Path
) -> None:
    async with (
        scratch_database(backend, tmp_path, revision, "copied") as copied,
        scratch_database(backend, tmp_path, revision, "migrated", alembic=True) as migrated,
    ):
        made = current_templates()
        assert made is not None and copied in made.copies and migrated not in made.copies
        assert await shape_of(copied) == await shape_of(migrated)
        assert await _rows(copied) == await _rows(migrated)
        assert await _current(copied) == await _current(migrated)
        if revision == "head":
            assert await _current(copied) == head_revision()
        if backend == "sqlite":
            assert _journal_mode(copied) == _journal_mode(migrated) == "wal"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_what_one_copy_stores_no_other_copy_sees(backend: str, tmp_path: Path) -> None:
    async with scratch_database(backend, tmp_path, name="first") as first:
        db = Database(first)
        try:
            async with db.engine.begin() as connection:
                await connection.execute(
                    text("INSERT INTO organisation (id, name, is_demo) VALUES (1, 'Trust', false)")
                )
        finally:
            await db.dispose()
        async with scratch_database(backend, tmp_path, name="second") as second:
            assert (await _rows(second))["organisation"] == []
    async with scratch_database(backend, tmp_path, name="third") as third:
        assert (await _rows(third))["organisation"] == []


def test_the_databases_are_copies_unless_the_test_asks_for_alembic(database_url: str) -> None:
    made = current_templates()
    assert made is not None and database_url in made.copies


@pytest.mark.alembic
def test_a_test_of_the_migrations_gets_a_database_alembic_migrated(database_url: str) -> None:
    made = current_templates()
    assert made is not None and database_url not in made.copies


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ending", ["normally", "by an error"])
async def test_no_template_outlives_its_session(backend: str, ending: str, tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    failing = ending == "by an error"
    with (
        pytest.raises(RuntimeError) if failing else nullcontext(),
        templates(folder) as made,  # a session of its own, within this one
    ):
        async with scratch_database(backend, tmp_path) as url:
            assert url in made.copies
        if backend == "postgresql":
            assert await _postgresql_databases(TEMPLATE_PREFIX + made.tag)
        else:
            assert list(folder.iterdir())
        if failing:
            raise RuntimeError("a session ended by a failure")
    assert current_templates() is not made  # the session's own templates are back in use
    assert not list(folder.iterdir())
    if backend == "postgresql":
        assert await _postgresql_databases(TEMPLATE_PREFIX + made.tag) == set()


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b == "postgresql"])
async def test_a_killed_sessions_templates_are_dropped_by_the_next(backend: str) -> None:
    """A session killed outright leaves its template; the next session's first template drops
    it, and leaves a live session's (and an unlabelled one) alone."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(gone.stdout)
    names = {
        "killed": f"{TEMPLATE_PREFIX}killed_{dead_pid}",
        "live": f"{TEMPLATE_PREFIX}live_{os.getpid()}",
        "unlabelled": f"{TEMPLATE_PREFIX}unlabelled_{os.getpid()}",
    }
    admin = await asyncpg.connect(
        os.environ["TEST_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    )
    try:
        for name in names.values():
            await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.execute(f"COMMENT ON DATABASE \"{names['killed']}\" IS '{_owner(dead_pid)}'")
        await admin.execute(f"COMMENT ON DATABASE \"{names['live']}\" IS '{_owner()}'")
        dropped = await drop_stale_templates(admin)
        left = await _postgresql_databases(TEMPLATE_PREFIX)
        assert names["killed"] in dropped and names["killed"] not in left
        assert {names["live"], names["unlabelled"]} <= left
    finally:
        for name in names.values():
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

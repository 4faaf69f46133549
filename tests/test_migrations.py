"""Migrations: every revision goes down and up again on SQLite and PostgreSQL, ending where a
straight upgrade does; replicas (processes) upgrading a fresh PostgreSQL database at once all
succeed and one of them does the work (the migrations' advisory lock); a server starting on a
schema behind its code upgrades it, and the head it compares with is Alembic's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from bot.cli import open_service
from bot.settings import Settings
from storage.engine import Database
from storage.migrate import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from tests.conftest import BACKENDS
from tests.databases import scratch_database

POSTGRESQL = [b for b in BACKENDS if b == "postgresql"]
TEAMPULSE = Path(sys.executable).parent / "teampulse"


def revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(""))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_the_head_read_from_the_revision_files_is_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config(""))
    assert head_revision() == script.get_current_head() == revisions()[-1]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_server_starting_on_a_schema_behind_its_code_upgrades_it(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    behind = revisions()[-2]
    async with scratch_database(backend, tmp_path, revision=behind, alembic=True) as url:
        settings = Settings(_env_file=None, DATABASE_URL=url)
        service = await open_service(settings)
        await service.db.dispose()
        assert await _current(url) == head_revision()


def _shape(connection: Connection) -> dict[str, object]:
    """Tables, columns (name, type, nullability), indexes, unique and foreign keys."""
    found = inspect(connection)
    shape: dict[str, object] = {}
    for table in sorted(found.get_table_names()):
        shape[table] = (
            [(c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)],
            sorted((i["name"] or "", tuple(i["column_names"])) for i in found.get_indexes(table)),
            sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
            sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in found.get_foreign_keys(table)
            ),
        )
    return shape


def _model_drift(connection: Connection) -> int:
    context = MigrationContext.configure(connection)
    return len(compare_metadata(context, SQLModel.metadata))


async def shape_of(url: str) -> tuple[dict[str, object], int]:
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            shape = await connection.run_sync(_shape)
            drift = await connection.run_sync(_model_drift)
        return shape, drift
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_every_migration_goes_down_and_up_again(backend: str, tmp_path: Path) -> None:
    steps = revisions()
    assert len(steps) >= 10 and steps[-1] == head_revision()
    async with scratch_database(backend, tmp_path, alembic=True) as url:
        at_head, drift = await shape_of(url)
        for index in range(len(steps) - 1, -1, -1):  # one step down at a time, to nothing
            await downgrade(url, steps[index - 1] if index else "base")
            assert await _current(url) == (steps[index - 1] if index else None)
        empty, _ = await shape_of(url)
        assert set(empty) <= {"alembic_version"}  # every table gone
        for step in steps:  # one step up at a time
            assert await upgrade(url, step) == [step]
        again, drift_again = await shape_of(url)
    assert again == at_head  # the round trip rebuilt the same schema
    assert drift_again == drift


async def _current(url: str) -> str | None:
    db = Database(url)
    try:
        return await current_revision(db.engine)
    finally:
        await db.dispose()


def db_upgrade(url: str) -> subprocess.Popen[str]:
    """``teampulse db upgrade`` in its own process, as each replica's ``serve`` starts with."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "Microsoft"))}
    return subprocess.Popen(
        [str(TEAMPULSE), "db", "upgrade"],
        env={**keep, "DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("backend", POSTGRESQL)
async def test_replicas_starting_together_upgrade_once(backend: str, tmp_path: Path) -> None:
    async with scratch_database(backend, tmp_path, revision="base", alembic=True) as url:
        assert await _current(url) is None
        replicas = [db_upgrade(url) for _ in range(4)]
        outputs = [replica.communicate(timeout=300) for replica in replicas]
        assert [replica.returncode for replica in replicas] == [0, 0, 0, 0], outputs
        assert await _current(url) == head_revision()
    said = sorted(out.strip() for out, _ in outputs)
    head = head_revision()
    upgraded = f"Database upgraded to {head} ({len(revisions())} migrations applied)."
    assert said == ["Database is up to date."] * 3 + [upgraded]

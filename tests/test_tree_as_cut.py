"""A report's comments walk each week's tree as cut from the reported team down, through
migration 0013's index on ``rollup_week (parent_id, week)``, not by reading every team's row of
the comment weeks; 0013 goes down to 0012 and up again on both databases."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from storage.engine import Database
from storage.migrate import downgrade, upgrade
from surveys import comments
from tests.conftest import BACKENDS
from tests.databases import scratch_database

INDEX = "ix_rollup_week_parent_week"
WEEKS = {date(2026, 11, 16), date(2026, 11, 23)}


async def has_index(url: str) -> bool:
    listing = (
        "SELECT indexname FROM pg_indexes WHERE indexname = :name"
        if url.startswith("postgresql")
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND name = :name"
    )
    db = Database(url)
    try:
        async with db.session() as session:
            connection = await session.connection()
            return (await connection.execute(text(listing), {"name": INDEX})).first() is not None
    finally:
        await db.dispose()


async def sqlite_plan(url: str) -> list[str]:
    """SQLite's plan for the rounds a team's comment weeks counted in its trees as cut."""
    statement = comments._counted_rounds(7, WEEKS).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}
    )
    db = Database(url)
    try:
        async with db.session() as session:
            connection = await session.connection()
            rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")
            return [str(row[-1]) for row in rows]
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_migration_0013_indexes_the_tree_as_cut_and_goes_down(
    backend: str, tmp_path: Path
) -> None:
    """Each step of the walk finds a team's children of that week through the index (SQLite's
    plan names it, and no step scans rollup_week); 0013 goes down to 0012 without it and up."""
    async with scratch_database(backend, tmp_path) as url:
        assert await has_index(url)
        if backend == "sqlite":
            plan = await sqlite_plan(url)
            assert any(INDEX in step for step in plan), plan
            assert not any(step.startswith("SCAN rollup_week") for step in plan), plan
            assert not any(step.startswith("SCAN below") for step in plan), plan
        await downgrade(url, "0012")
        assert not await has_index(url)
        assert await upgrade(url, "0013") == ["0013"]
        assert await has_index(url)

"""A report's comments walk each week's tree as cut from the reported team down, through
migration 0013's index on ``rollup_week (parent_id, week, team_id)``, not by reading every
team's row of the comment weeks, and find each (week, team)'s rounds through its index on
``pulse_round (team_id, counted_in)``, both as SQLite asks (a bucket at a time) and as
PostgreSQL asks (every place of a level at once); 0013 goes down to 0012 and up again on both
databases."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy.dialects import sqlite

from storage.engine import Database
from storage.migrate import downgrade, upgrade
from surveys import comment_picks
from tests.conftest import BACKENDS
from tests.databases import has_index, scratch_database

INDEX = "ix_rollup_week_parent_week"
ROUNDS = "ix_pulse_round_team_counted"
WEEK = date(2026, 11, 23)


async def sqlite_plan(url: str) -> list[str]:
    """SQLite's plans for a report's walk down a week's tree as cut: the weeks in which some
    teams have children, a team's children of that week with their counts (comment_picks),
    then one team's own comments of those weeks."""
    steps: list[str] = []
    db = Database(url)
    try:
        values = {"week": WEEK, "theme": "wellbeing", "team_id": 7, "teams": [7, 8]}
        values["weeks"] = [WEEK, WEEK - timedelta(weeks=1)]
        queries = (
            comment_picks._weeks_with_children_query(),
            comment_picks._children_query(False),
            comment_picks._own_of_team_query(),
        )
        for query in queries:
            statement = query.params(values).compile(
                dialect=sqlite.dialect(),
                compile_kwargs={"literal_binds": True, "render_postcompile": True},
            )
            async with db.session() as session:
                connection = await session.connection()
                rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")
                steps += [str(row[-1]) for row in rows]
        return steps
    finally:
        await db.dispose()


async def postgresql_plan(url: str) -> list[str]:
    """PostgreSQL's plan for a level of the walk (every place at once: children and own
    comments in one statement), with sequential scans priced out: a table that no index can
    serve would still be scanned, so what is left shows which indexes serve each step (a test
    database is too small for the planner to prefer an index of its own accord)."""
    places = [(WEEK, "wellbeing", 7), (WEEK, None, 8)]
    db = Database(url)
    try:
        async with db.session() as session:
            connection = await session.connection()
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            compiled = comment_picks._level_at_once_query().compile(dialect=connection.dialect)
            values = compiled.construct_params(comment_picks._arrays(places))
            arguments = tuple(values[name] for name in compiled.positiontup or ())
            rows = await connection.exec_driver_sql(f"EXPLAIN {compiled}", arguments)
            return [str(row[0]).strip() for row in rows]
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_migration_0013_indexes_the_tree_as_cut_and_goes_down(
    backend: str, tmp_path: Path
) -> None:
    """Each step of the walk finds a team's children of that week through the index (SQLite's
    plan names it, and no step scans rollup_week), and each (week, team) its rounds through
    the other; 0013 goes down to 0012 without them and up again."""
    async with scratch_database(backend, tmp_path, alembic=True) as url:
        assert await has_index(url, INDEX) and await has_index(url, ROUNDS)
        if backend == "sqlite":
            plan = await sqlite_plan(url)
            assert any(INDEX in step for step in plan), plan
            assert not any(step.startswith("SCAN rollup_week") for step in plan), plan
            assert not any(step.startswith("SCAN below") for step in plan), plan
            assert any(ROUNDS in step for step in plan), plan  # each pair's rounds, no more
        else:
            plan = await postgresql_plan(url)
            assert any(INDEX in step for step in plan), plan
            assert any(ROUNDS in step for step in plan), plan
            assert not any("Seq Scan" in step for step in plan), plan
        await downgrade(url, "0012")
        assert not await has_index(url, INDEX) and not await has_index(url, ROUNDS)
        assert await upgrade(url, "0013") == ["0013"]
        assert await has_index(url, INDEX) and await has_index(url, ROUNDS)

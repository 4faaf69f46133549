"""A report's comments walk each week's tree as cut from the reported team down, through
migration 0013's index on ``rollup_week (parent_id, week, team_id)``, not by reading every
team's row of the comment weeks, and find each (week, team)'s rounds through its index on
``pulse_round (team_id, counted_in)``, every place of a level at once (the rows of
``json_each`` on SQLite, of ``unnest`` on PostgreSQL); 0013 goes down to 0012 and up again on
both databases."""

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


PLACES = [(WEEK, "wellbeing", 7), (WEEK, None, 8), (WEEK - timedelta(weeks=1), "teamwork", 7)]


async def sqlite_plan(url: str) -> list[str]:
    """SQLite's plan for a level of the walk (every place at once, the places the rows of
    ``json_each``: children and own comments in one statement)."""
    db = Database(url)
    try:
        query = comment_picks.level_query(False)
        statement = query.params(comment_picks.level_values(False, PLACES)).compile(
            dialect=sqlite.dialect(),
            compile_kwargs={"literal_binds": True, "render_postcompile": True},
        )
        async with db.session() as session:
            connection = await session.connection()
            rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")
            return [str(row[-1]) for row in rows]
    finally:
        await db.dispose()


async def postgresql_plan(url: str) -> list[str]:
    """PostgreSQL's plan for a level of the walk (every place at once: children and own
    comments in one statement), with sequential scans priced out: a table that no index can
    serve would still be scanned, so what is left shows which indexes serve each step (a test
    database is too small for the planner to prefer an index of its own accord)."""
    db = Database(url)
    try:
        async with db.session() as session:
            connection = await session.connection()
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            compiled = comment_picks.level_query(True).compile(dialect=connection.dialect)
            values = compiled.construct_params(comment_picks.level_values(True, PLACES))
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
            # a round's answers to the theme's questions only, not all of the round's
            answers = "ix_response_round_question (round_id=? AND question_id=?)"
            assert any(answers in step for step in plan), plan
            # the places drive the statement: nothing but them is read from end to end
            scans = [step for step in plan if step.startswith("SCAN ")]
            assert scans, plan
            assert all(step.startswith(("SCAN places VIRTUAL", "SCAN asked")) for step in scans), (
                plan
            )
        else:
            plan = await postgresql_plan(url)
            assert any(INDEX in step for step in plan), plan
            assert any(ROUNDS in step for step in plan), plan
            assert not any("Seq Scan" in step for step in plan), plan
        await downgrade(url, "0012")
        assert not await has_index(url, INDEX) and not await has_index(url, ROUNDS)
        assert await upgrade(url, "0013") == ["0013"]
        assert await has_index(url, INDEX) and await has_index(url, ROUNDS)

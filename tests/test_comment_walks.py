"""The walk down the kept counts (``surveys/comment_picks.py``: every place of a level in one
statement, the places as ``unnest`` on PostgreSQL and ``json_each`` on SQLite) must name, over
every rank of every bucket of every report, each published comment exactly once (the full list
of ``tests/comment_oracle.py``), and nothing else; and a rank must name the same comment
whatever else is asked with it.

The attack: a manager who reads again and again sees, over enough readings, every comment at
every rank.  Were the walk to reach a comment it should not (a round the week did not count, a
team outside the reported one as cut, a theme whose comments are not published), or to miss
one, the sets below would differ.  Run on both databases.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event

from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from surveys.comment_picks import Bucket, pick
from surveys.comments import published_counts
from surveys.organisation import spec_from_yaml
from surveys.report_rows import team_rows
from tests.comment_oracle import full_list
from tests.support import FixedClock
from tests.test_comment_counts import comment_weeks, run_week, sql, team_ids, two_weeks
from tests.test_published_weeks import MOVING

Organisation = Callable[[Database, Settings, FixedClock], Awaitable[object]]


async def buckets_of(db: Database, team: int, weeks: set[date]) -> list[Bucket]:
    """The team's published comment buckets (week, theme or None, count), with no ranks yet."""
    if not weeks:
        return []
    async with db.session() as session:
        rows = await team_rows(session, team, min(weeks))
    counted = published_counts(rows, weeks)
    return [(week, theme, count, []) for week, theme, count, _, _ in counted if count]


async def picked(
    db: Database, team: int, buckets: list[Bucket], ranks: list[list[int]]
) -> list[tuple[str | None, str]]:
    asked = [(w, t, n, wanted) for (w, t, n, _), wanted in zip(buckets, ranks, strict=True)]
    async with db.session() as session:
        return sorted(await pick(session, team, asked), key=str)


async def one_ward_asked_one_theme(db: Database, settings: Settings, clock: FixedClock) -> None:
    """The two weeks, Ward S's pulse asking one question only: on every other theme its parent
    holds comments and Ward S holds no cell, while it still holds general comments."""
    service = TeamPulse(db, settings, clock=clock)
    await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Surgery")))
    await sql(db, "UPDATE team SET questions_per_pulse = 1 WHERE name = 'Ward S'")
    await run_week(service, clock, db, 1)
    await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Medicine")))
    await run_week(service, clock, db, 2)


@pytest.mark.parametrize("organisation", [two_weeks, one_ward_asked_one_theme])
async def test_every_rank_of_every_report_is_one_published_comment(
    db: Database, settings: Settings, organisation: Organisation
) -> None:
    await organisation(db, settings, FixedClock())
    checked = 0
    for name, team in (await team_ids(db)).items():
        weeks = await comment_weeks(db, team)
        buckets = await buckets_of(db, team, weeks)
        async with db.session() as session:
            full = await full_list(session, team, weeks)
        every = [list(range(n)) for _, _, n, _ in buckets]
        words = [w for _, w in await picked(db, team, buckets, every)]
        assert len(words) == full.total, name
        assert set(words) == full.words, name  # (every comment's words differ)
        checked += full.total
    assert checked > 50  # (not vacuous: the reports hold 79 comments between them)


async def test_a_rank_names_the_same_comment_whatever_is_asked_with_it(
    db: Database, settings: Settings
) -> None:
    """Each rank of each bucket asked alone names one comment, a different one for each rank of
    a bucket; asked together (every bucket's walk in the same statements), random draws of
    several ranks per bucket name exactly the comments those ranks name alone.  (Were a level's
    rows given to the wrong place, or a child's share counted from the wrong end, a rank would
    name another comment in company than alone.)"""
    await two_weeks(db, settings, FixedClock())
    draw = random.Random(13)
    for name, team in (await team_ids(db)).items():
        buckets = await buckets_of(db, team, await comment_weeks(db, team))
        alone: list[list[tuple[str | None, str]]] = []
        for at, (_, _, n, _) in enumerate(buckets):
            ranks: list[list[int]] = [[] for _ in buckets]
            named = []
            for rank in range(n):
                ranks[at] = [rank]
                (found,) = await picked(db, team, buckets, ranks)
                named.append(found)
            assert len(set(named)) == n, (name, at)
            alone.append(named)
        for _ in range(5):
            ranks = [draw.sample(range(n), min(n, 3)) for _, _, n, _ in buckets]
            expected = sorted((alone[at][r] for at, rs in enumerate(ranks) for r in rs), key=str)
            assert await picked(db, team, buckets, ranks) == expected, (name, ranks)


async def test_a_walk_asks_one_statement_per_level_whatever_the_number_of_buckets(
    db: Database, settings: Settings
) -> None:
    """Every rank of every bucket of a directorate (four buckets, over two weeks and two trees
    as cut) is found in two statements, one per level of its tree; a ward's in one.
    (Asked a bucket at a time, SQLite's walk took one statement per bucket and level: a trust's
    report 35.)"""
    await two_weeks(db, settings, FixedClock())
    asked: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            asked.append(statement)

    teams = await team_ids(db)
    for name, levels in (("Medicine", 2), ("Ward A", 1)):
        buckets = await buckets_of(db, teams[name], await comment_weeks(db, teams[name]))
        every = [list(range(n)) for _, _, n, _ in buckets]
        assert len(buckets) > levels, name  # (not vacuous: more buckets than statements)
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            found = await picked(db, teams[name], buckets, every)
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        assert len(found) == sum(n for _, _, n, _ in buckets), name
        assert len(asked) == levels, (name, asked)
        asked.clear()

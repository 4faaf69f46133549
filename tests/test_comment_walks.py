"""The walk down the kept counts (``surveys/comment_picks.py``) is asked one of two ways: every
place of a level in one statement (PostgreSQL's), or one statement per bucket (SQLite's).  Both
must name the same comment for the same rank, and between them every rank of every bucket of
every report must name each published comment exactly once (the full list of
``tests/comment_oracle.py``), and nothing else.

The attack: a manager who reads again and again sees, over enough readings, every comment at
every rank.  Were the PostgreSQL walk to reach a comment the other does not (a round the week
did not count, a team outside the reported one as cut, a theme whose comments are not
published), or to miss one, the sets below would differ.  Run on both databases; on PostgreSQL
both walks run on the same rows.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import date

import pytest

from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from surveys.comment_picks import Bucket, at_once, pick
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


async def walks(db: Database) -> list[bool]:
    """The walks this database can ask: the per-bucket one, and on PostgreSQL the batched."""
    async with db.session() as session:
        return [False, True] if at_once(session) else [False]


async def picked(
    db: Database, team: int, buckets: list[Bucket], ranks: list[list[int]], batched: bool
) -> list[tuple[str | None, str]]:
    asked = [(w, t, n, wanted) for (w, t, n, _), wanted in zip(buckets, ranks, strict=True)]
    async with db.session() as session:
        return sorted(await pick(session, team, asked, batched=batched), key=str)


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
async def test_every_rank_of_every_report_is_one_published_comment_either_way(
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
        for batched in await walks(db):
            words = [w for _, w in await picked(db, team, buckets, every, batched)]
            assert len(words) == full.total, (name, batched)
            assert set(words) == full.words, (name, batched)  # (every comment's words differ)
            checked += full.total
    assert checked > 50  # (not vacuous: the reports hold 79 comments between them)


async def test_both_walks_name_the_same_comment_for_the_same_ranks(
    db: Database, settings: Settings
) -> None:
    """Rank by rank (one rank per bucket at a time, so a swap of two comments would show), and
    for random draws of several ranks per bucket: the same picks."""
    await two_weeks(db, settings, FixedClock())
    draw = random.Random(13)
    for name, team in (await team_ids(db)).items():
        buckets = await buckets_of(db, team, await comment_weeks(db, team))
        deepest = max((n for _, _, n, _ in buckets), default=0)
        asks = [[[r] if r < n else [] for _, _, n, _ in buckets] for r in range(deepest)]
        asks += [[draw.sample(range(n), min(n, 3)) for _, _, n, _ in buckets] for _ in range(5)]
        for ranks in asks:
            seen = [await picked(db, team, buckets, ranks, b) for b in await walks(db)]
            assert all(found == seen[0] for found in seen), (name, ranks)
            assert len(seen[0]) == sum(len(r) for r in ranks), (name, ranks)

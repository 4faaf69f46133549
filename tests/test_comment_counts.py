"""How many comments a report says there are, and their mood, come from counts kept in the rollups
at each week's cut; they equal a live recount by the rules a report shows comments by
(``tests/comment_oracle.py``: the statement reports used before), over a hierarchy that changed
between weeks; retention takes pruned comments off them; migration 0014 counts the weeks already
cut.  The sample drawn bucket by bucket never holds a comment a full list would not have shown.

Ward S (10 people) is under Surgery in the first week and under Medicine in the second; Tiny (3)
is always too small for its comments to show; some comments have no mood (as rows written before
moods were read may not).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.conversation import Conversation
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import TrendReportView
from storage.engine import Database
from storage.migrate import downgrade, upgrade
from surveys.comments import allocate, published_comments
from surveys.organisation import spec_from_yaml
from tests.comment_oracle import full_list, recount
from tests.conftest import BACKENDS
from tests.databases import has_index, scratch_database
from tests.support import FixedClock, after_the_week, answers_for, email
from tests.test_published_weeks import MOVING

WEEK_1, WEEK_2 = date(2026, 11, 23), date(2026, 11, 30)
PEOPLE = {
    "Ward A": [f"a{i}" for i in range(12)],
    "Ward S": [f"s{i}" for i in range(10)],
    "Theatres": [f"th{i}" for i in range(6)],
    "Tiny": [f"t{i}" for i in range(3)],
}
CELLS = "SELECT team_id, week, theme, comments, moods, mood_total FROM rollup_cell"
WEEKS = "SELECT team_id, week, general_comments, general_moods, general_mood_total FROM rollup_week"


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """This module's databases (named ``tp_cr_…`` on PostgreSQL)."""
    async with scratch_database(request.param, tmp_path, name="cr") as url:
        yield url


def said(person: str, week: int) -> tuple[str | None, str]:
    """A person's comment on the card's first statement (two in three people) and general
    comment (one in two), all different; glad, sad, or (marked "unscored") without a mood."""
    number = int("".join(c for c in person if c.isdigit()))
    tied = f"{person} week {week}: the team is great" if number % 3 else None
    general = f"{person} week {week}: the rota is awful" if number % 2 == 0 else ""
    if number % 5 == 4:
        general = general and f"{person} week {week}: unscored"
    return tied, general


async def run_week(service: TeamPulse, clock: FixedClock, db: Database, week: int) -> None:
    """Every team's round of the week, answered by all its people, then the week's cut."""
    for team in PEOPLE:
        await service.open_round(await service.team_named(team))
    for people in PEOPLE.values():
        for person in people:
            [card] = await service.pending_pulses(email(person))
            tied, general = said(person, week)
            words = {card.questions[0].id: tied} if tied else {}
            await service.submit_pulse(
                email(person), card.round_id, answers_for(card, 4), words, general_comment=general
            )
    for team in PEOPLE:
        await service.close_round(await service.team_named(team))
    await sql(db, "UPDATE general_comment SET sentiment = NULL WHERE comment LIKE '%unscored'")
    await after_the_week(service, clock)


async def sql(db: Database, statement: str) -> list[Any]:
    async with db.session() as session:
        connection = await session.connection()
        result = await connection.execute(text(statement))
        rows = list(result.all()) if result.returns_rows else []
        await session.commit()
    return rows


async def two_weeks(db: Database, settings: Settings, clock: FixedClock) -> TeamPulse:
    """Two cut weeks, Ward S moved from Surgery to Medicine between them."""
    service = TeamPulse(db, settings, clock=clock)
    await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Surgery")))
    await run_week(service, clock, db, 1)
    await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Medicine")))
    await run_week(service, clock, db, 2)
    return service


async def team_ids(db: Database) -> dict[str, int]:
    return {name: team for team, name in await sql(db, "SELECT id, name FROM team")}


async def assert_counts_are_a_recount(db: Database) -> None:
    """Every stored count, published or not, equals the live recount of its (team, week)."""
    cells, weeks = await sql(db, CELLS), await sql(db, WEEKS)
    assert cells and weeks
    async with db.session() as session:
        live = {(team, week): await recount(session, team, day(week)) for team, week, *_ in weeks}
    for team, week, theme, *stored in cells:
        expected = live[team, week].get(theme, (0, 0, 0.0))
        assert (stored[0], stored[1]) == expected[:2], (team, week, theme)
        assert stored[2] == pytest.approx(expected[2]), (team, week, theme)
    for team, week, *stored in weeks:
        expected = live[team, week].get(None, (0, 0, 0.0))
        assert (stored[0], stored[1]) == expected[:2], (team, week)
        assert stored[2] == pytest.approx(expected[2]), (team, week)


def day(value: date | str) -> date:
    """A date as the database gave it (SQLite: its text)."""
    return value if isinstance(value, date) else date.fromisoformat(value)


async def comment_weeks(db: Database, team: int) -> set[date]:
    rows = await sql(db, f"SELECT week, comments_published FROM rollup_week WHERE team_id = {team}")
    return {day(week) for week, published in rows if published}


async def test_the_counts_kept_at_the_cut_are_a_live_recount(
    db: Database, settings: Settings
) -> None:
    await two_weeks(db, settings, FixedClock())
    await assert_counts_are_a_recount(db)
    ids = await team_ids(db)
    general = {(team, str(week)): count for team, week, count, *_ in await sql(db, WEEKS)}
    # Ward S's five general comments a week count under Surgery, then under Medicine
    assert general[ids["Surgery"], str(WEEK_1)] == general[ids["Theatres"], str(WEEK_1)] + 5
    assert general[ids["Surgery"], str(WEEK_2)] == general[ids["Theatres"], str(WEEK_2)]
    medicine = general[ids["Medicine"], str(WEEK_2)] - general[ids["Medicine"], str(WEEK_1)]
    assert medicine == 5
    # and some comments have no mood: counted, but not in the mood
    moods = await sql(db, "SELECT sum(general_comments), sum(general_moods) FROM rollup_week")
    assert moods[0][0] > moods[0][1] > 0


async def test_every_report_says_what_the_full_list_held(db: Database, settings: Settings) -> None:
    """Per scope: the total and the mood are the full list's, and the sample is from it."""
    await two_weeks(db, settings, FixedClock())
    for name, team in (await team_ids(db)).items():
        weeks = await comment_weeks(db, team)
        async with db.session() as session:
            full = await full_list(session, team, weeks)
            found = await published_comments(session, team, weeks)
        assert found.total == full.total, name
        if full.mood is None:
            assert found.mood is None, name
        else:
            assert found.mood == pytest.approx(full.mood), name
        assert len(found.shown) == min(10, full.total), name
        assert {words for _, words in found.shown} <= full.words, name
        assert len({words for _, words in found.shown}) == len(found.shown), name  # distinct


async def read(service: TeamPulse, who: str, team: str) -> TrendReportView:
    [view] = await Conversation(service).handle(email(who), f"pulse trends {team}")
    assert isinstance(view, TrendReportView), view
    return view


async def test_a_director_and_a_ward_manager_comparing_readings_see_only_the_full_lists(
    db: Database, settings: Settings
) -> None:
    """The attack: both read again and again, pooling what they see, hoping for Ward S's first
    week (counted under Surgery) in Medicine's, or anything else a full list would not have held.
    Every comment seen is in the full list of the report it came from; read often enough, the
    director's readings show the whole of theirs, and nothing more."""
    patient = settings.model_copy(update={"commands_per_minute": 1000})  # (as many as they like)
    service = await two_weeks(db, patient, FixedClock())
    ids = await team_ids(db)
    seen: dict[str, set[str]] = {"Medicine": set(), "Ward S": set()}
    for reading in range(80):
        seen["Medicine"] |= {w for _, w in (await read(service, "director", "Medicine")).comments}
        if reading % 4 == 0:
            seen["Ward S"] |= {w for _, w in (await read(service, "manager.s", "Ward S")).comments}
    weeks = {team: await comment_weeks(db, ids[team]) for team in seen}
    async with db.session() as session:
        full = {team: await full_list(session, ids[team], weeks[team]) for team in seen}
    for team, words in seen.items():
        assert words <= full[team].words, team
    assert not {w for w in seen["Medicine"] if w.startswith("s") and "week 1" in w}
    # 80 readings of 10 of about 45, 20 of 10 of 11: each comment missed with a chance of
    # about 1 in 10^8 or less
    assert seen["Medicine"] == full["Medicine"].words
    assert seen["Ward S"] == full["Ward S"].words


def test_ranks_fall_in_each_bucket_in_proportion_to_its_size() -> None:
    """The sample's first step: distinct uniform ranks, shared out by bucket sizes."""
    assert allocate([3, 0, 7], 10) == [3, 0, 7]
    assert allocate([], 10) == []
    shares = [allocate([4, 0, 1, 15], 3) for _ in range(4000)]
    assert all(sum(s) == 3 and s[1] == 0 and s[2] <= 1 and s[0] <= 4 for s in shares)
    hits = Counter(i for share in shares for i, n in enumerate(share) for _ in range(n))
    # each comment is picked with probability 3/20: bucket sizes times that, times 4,000
    for bucket, size in ((0, 4), (2, 1), (3, 15)):
        expected = 4000 * 3 * size / 20
        assert abs(hits[bucket] - expected) < 6 * (expected**0.5), (bucket, hits)


async def test_retention_takes_pruned_comments_off_the_counts(
    db: Database, settings: Settings
) -> None:
    """The first week's comments go (a month's retention, a month later); the reports count and
    sample the second week's only, and every stored count is still a live recount."""
    clock = FixedClock()
    one_month = settings.model_copy(update={"comment_retention_months": 1})
    service = await two_weeks(db, one_month, clock)
    before = await read(service, "director", "Medicine")
    clock.now = datetime(2026, 12, 30, 10, 0, tzinfo=UTC)  # cutoff: 30 November
    pruned = await service.prune_comments()
    assert pruned.statement_comments > 0 and pruned.general_comments > 0
    await assert_counts_are_a_recount(db)
    week_1 = await sql(
        db, f"SELECT sum(comments) FROM rollup_cell WHERE week < '{WEEK_2}'"
    ) + await sql(db, f"SELECT sum(general_comments) FROM rollup_week WHERE week < '{WEEK_2}'")
    assert [n for (n,) in week_1] == [0, 0]
    ids = await team_ids(db)
    weeks = await comment_weeks(db, ids["Medicine"])
    async with db.session() as session:
        full = await full_list(session, ids["Medicine"], weeks)
    after = await read(service, "director", "Medicine")
    assert all("week 2" in words for _, words in after.comments)
    assert full.total > 10 and all("week 2" in words for words in full.words)
    note = f"Showing 10 of {full.total} comments"
    assert note in " ".join(after.notes) and note not in " ".join(before.notes)


async def test_migration_0014_counts_the_weeks_already_cut_and_goes_down(
    database_url: str, settings: Settings
) -> None:
    """Two weeks cut, the schema taken down to 0013 (the counts dropped) and up again: 0014's
    SQL counts every cut week as the cut does, on both databases."""
    db = Database(database_url)
    try:
        await two_weeks(db, settings, FixedClock())
        cells, weeks = await sql(db, CELLS), await sql(db, WEEKS)
    finally:
        await db.dispose()
    assert await has_index(database_url, "ix_recognition_created_on")
    await downgrade(database_url, "0013")
    assert not await has_index(database_url, "ix_recognition_created_on")
    db = Database(database_url)
    try:
        columns = await sql(db, "SELECT * FROM rollup_week LIMIT 1")
        assert len(columns[0]) == 7  # team, week, parent, invited, respondents, two flags
        assert await upgrade(database_url, "0014") == ["0014"]
        again_cells, again_weeks = await sql(db, CELLS), await sql(db, WEEKS)
        await assert_counts_are_a_recount(db)
    finally:
        await db.dispose()
    assert await has_index(database_url, "ix_recognition_created_on")
    assert_same(again_cells, cells)
    assert_same(again_weeks, weeks)


def assert_same(found: list[Any], expected: list[Any]) -> None:
    """The same rows, their sums of moods to within rounding (added up in another order)."""
    assert len(found) == len(expected)
    for row, want in zip(sorted(found, key=_key), sorted(expected, key=_key), strict=True):
        assert row[:-1] == want[:-1]
        assert row[-1] == pytest.approx(want[-1])


def _key(row: Any) -> tuple[str, ...]:
    return tuple(str(value) for value in row[:-1])

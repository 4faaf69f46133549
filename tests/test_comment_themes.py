"""A comment shows only in a (week, theme) group of at least k people.

Rounds rotate statements, so themes differ between a team's rounds and between teams: a week
with enough people may still have a theme that one person answered.  Comments are published per
theme (``rollup_cell.comments_published``), never for the week as a whole.  And a round the old
code never counted (opened after its week was cut, moved to a next week that was cut too) keeps
its comments hidden after migration 0005.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.conversation import Conversation
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import TrendReportView
from storage.engine import Database
from storage.migrate import downgrade, upgrade
from surveys import rollup
from tests.databases import backend_of, scratch_database
from tests.support import (
    FixedClock,
    RecordingMessenger,
    after_the_week,
    answers_for,
    email,
    import_org,
    make_service,
)

LONE = "Only I was on nights"


async def comments(service: TeamPulse, who: str, team: str) -> list[tuple[str, str]]:
    [view] = await Conversation(service).handle(email(who), f"pulse trends {team}")
    assert isinstance(view, TrendReportView), view
    return view.comments


async def run_round(
    service: TeamPulse, team: str, people: list[str], comment: dict[str, str] | None = None
) -> set[str]:
    """One closed round of ``team`` answered by ``people`` (``comment``: person -> words on the
    card's first statement); returns the card's themes."""
    ref = await service.team_named(team)
    await service.open_round(ref)
    themes: set[str] = set()
    for person in people:
        [card] = await service.pending_pulses(email(person))
        words = (comment or {}).get(person)
        said = {card.questions[0].id: words} if words else {}
        await service.submit_pulse(email(person), card.round_id, answers_for(card, 4), said)
        themes = {q.theme for q in card.questions}
    await service.close_round(ref)
    return themes


async def test_a_second_round_answered_by_one_person_keeps_its_comment_hidden(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    ten = [f"a{i}" for i in range(10)]
    first = await run_round(service, "Ward A", ten, {p: f"A comment from {p}" for p in ten})
    # the same week, a second pulse (the manager's `pulse send`): its statements are other themes
    second = await run_round(service, "Ward A", ["a11"], {"a11": LONE})
    assert not first & second
    await after_the_week(service, clock)

    shown = await comments(service, "manager.a", "Ward A")
    assert sorted(words for _, words in shown) == sorted(f"A comment from {p}" for p in ten)
    assert {theme for theme, _ in shown} <= first
    assert LONE not in {words for _, words in shown}


async def test_a_small_team_on_other_themes_keeps_its_comment_from_the_director(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await run_round(service, "Tiny", ["t0"])  # an earlier week: Tiny is one pulse ahead
    await after_the_week(service, clock)
    wards = await run_round(service, "Ward A", [f"a{i}" for i in range(12)], {"a0": "Fine here"})
    assert await run_round(service, "Ward B", [f"b{i}" for i in range(6)]) == wards
    tiny = await run_round(service, "Tiny", ["t0", "t1", "t2"], {"t0": "The rota is unfair"})
    assert not wards & tiny
    await after_the_week(service, clock)

    shown = await comments(service, "director", "Medicine")
    assert [words for _, words in shown] == ["Fine here"]


WEEK_1, WEEK_2 = date(2026, 11, 9), date(2026, 11, 16)


@pytest.fixture
async def old_database_url(tmp_path: Path, database_url: str) -> AsyncIterator[str]:
    """A fresh database migrated to revision 0004 only (the schema before per-round counting),
    on the same backend as ``database_url``."""
    async with scratch_database(
        backend_of(database_url), tmp_path, "0004", "old", alembic=True
    ) as url:
        yield url


async def _old_rounds(db: Database) -> None:
    """What the old code left: weeks 1 and 2 cut; Ward A's round of week 2 counted (12 people,
    each with a comment); another Ward A round opened in week 1 after it was cut, moved to week 2
    (cut too, before it closed) and so never counted, one person's comment in it."""
    async with db.session() as session:
        ids = {
            name: team_id
            for team_id, name in (await session.exec(text("SELECT id, name FROM team"))).all()  # type: ignore[call-overload]
        }
        [question] = (
            await session.exec(text("SELECT id FROM question ORDER BY id LIMIT 1"))  # type: ignore[call-overload]
        ).one()
        rounds = [
            (1, ids["Ward A"], WEEK_2, None, [f"Said by a{i}" for i in range(12)]),
            (2, ids["Ward A"], WEEK_1 + timedelta(days=2), WEEK_2, [LONE]),
        ]
        for round_id, team, opened, report_week, said in rounds:
            await session.exec(
                text(  # type: ignore[call-overload]
                    "INSERT INTO pulse_round (id, team_id, sequence, opened_on, closes_on, "
                    "closed, reminded, report_week, plan) VALUES (:id, :team, :id, :opened, "
                    ":closes, true, false, :report, '[]')"
                ).bindparams(
                    id=round_id,
                    team=team,
                    opened=opened,
                    closes=opened + timedelta(days=5),
                    report=report_week,
                )
            )
            for n, words in enumerate(said):
                await session.exec(
                    text(  # type: ignore[call-overload]
                        "INSERT INTO response (id, submission_id, round_id, team_id, "
                        "question_id, score, comment, day) VALUES (:id, :card, :round, :team, "
                        ":question, 4, :words, :day)"
                    ).bindparams(
                        id=f"r{round_id}-{n}",
                        card=f"c{round_id}-{n}",
                        round=round_id,
                        team=team,
                        question=question,
                        words=words,
                        day=opened,
                    )
                )
        for week in (WEEK_1, WEEK_2):
            await session.exec(text("INSERT INTO rollup_cut (week) VALUES (:w)").bindparams(w=week))  # type: ignore[call-overload]
        for team in ("Ward A", "Medicine"):
            await session.exec(
                text(  # type: ignore[call-overload]
                    "INSERT INTO rollup_week (team_id, week, invited, respondents, published, "
                    "comments_published) VALUES (:team, :week, 12, 12, true, true)"
                ).bindparams(team=ids[team], week=WEEK_2)
            )
        await session.commit()


async def test_a_round_the_old_code_never_counted_keeps_its_comment_hidden_after_upgrade(
    old_database_url: str, settings: Settings
) -> None:
    # the organisation imported by today's code, then the schema taken back to 0004
    await upgrade(old_database_url)
    old = Database(old_database_url)
    try:
        await import_org(old)
        await downgrade(old_database_url, "0004")
        await _old_rounds(old)
    finally:
        await old.dispose()
    await upgrade(old_database_url)

    db = Database(old_database_url)
    try:
        clock = FixedClock(datetime.combine(WEEK_2 + timedelta(days=8), time(9), tzinfo=UTC))
        service = TeamPulse(db, settings, RecordingMessenger(), clock=clock)
        await service.close_due_rounds()  # a scheduler tick: nothing to cut, nothing re-tried
        assert LONE not in {words for _, words in await comments(service, "director", "Medicine")}
        async with db.session() as session:
            stamped = dict(
                (await session.exec(text("SELECT id, counted_in FROM pulse_round"))).all()  # type: ignore[call-overload]
            )
            assert await rollup.cut_due_weeks(session, clock.now.date(), service.thresholds) == []
        assert stamped[2] is None  # never provably counted: never shown
        assert stamped[1] is not None
    finally:
        await db.dispose()

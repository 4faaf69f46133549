"""DESIGN.md invariant 2: what has been published never changes, and respondents are people.

A round counts in the week it opened; a week's results appear once it is over and every pulse
counted in it has closed, and then never change: not for a late round, nor for a re-import that
moves a team.  A comment shows only as part of a published group whose counted people include its
author's round.  Several rounds in a week do not add up: the same people answering twice are still
the same people.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import text

from bot.conversation import Conversation
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import TrendReportView
from storage.engine import Database
from surveys import rollup, rounds
from surveys.comments import SAMPLE
from surveys.organisation import spec_from_yaml
from surveys.trends import team_trend
from tests.slack_support import until
from tests.support import FixedClock, after_the_week, answers_for, email, make_service

LONE = "Only I would say the rota here is unbearable"


@dataclass(frozen=True)
class Reading:
    """What a manager sees of their part of the organisation: each week's participation row, the
    export's (week, theme) rows, and the comments."""

    weeks: dict[date, tuple[int | None, int | None]]
    cells: frozenset[str]
    comments: Counter[str]

    def cells_of(self, weeks: set[date]) -> set[str]:
        return {row for row in self.cells if date.fromisoformat(row.split(",")[1]) in weeks}


async def read(service: TeamPulse, who: str, team: str) -> Reading:
    """The manager's report; its comments are every published one (a report shows a random
    sample of them: that sample is checked to be drawn from them)."""
    [view] = await Conversation(service).handle(email(who), f"pulse trends {team} 12")
    assert isinstance(view, TrendReportView), view
    ref = await service.team_named(team)
    export = (await service.export_csv(ref, 12)).splitlines()[1:]
    async with service.db.session() as session:
        every = await team_trend(
            session, ref.id, False, 12, service.today(), service.thresholds, 10**6
        )
    assert set(view.comments) <= set(every.comments)
    assert (
        len(view.comments) == min(SAMPLE, len(every.comments)) == min(SAMPLE, every.comment_total)
    )
    return Reading(
        weeks={row.week: (row.invited, row.respondents) for row in view.rounds},
        cells=frozenset(export),
        comments=Counter(text for _theme, text in every.comments),
    )


def assert_nothing_shown_changed(before: Reading, after: Reading) -> None:
    """Every week shown before shows the same figures after; comments only ever get added (by a
    newly published week)."""
    shown = set(before.weeks)
    assert {week: after.weeks.get(week) for week in shown} == before.weeks
    assert after.cells_of(shown) == before.cells_of(shown)
    if set(after.weeks) == shown:
        assert after.comments == before.comments
    else:
        assert not before.comments - after.comments


async def answer(
    service: TeamPulse, people: list[str], score: int = 4, comment: str | None = None
) -> None:
    for person in people:
        [card] = await service.pending_pulses(email(person))
        comments = {card.questions[0].id: comment or f"A comment from {person}"}
        await service.submit_pulse(email(person), card.round_id, answers_for(card, score), comments)


def ward_a() -> list[str]:
    return [f"a{i}" for i in range(12)]


async def test_a_late_round_never_adds_a_lone_comment_to_a_published_week(
    db: Database, settings: Settings
) -> None:
    """The issue's case: Ward A (12) runs two pulses, both closed on the Monday (``pulse
    close``); then Tiny (3) opens one and a single person answers with a comment.  The director
    must never see that comment except as part of a group that counts its author, and nothing
    the director has seen may change."""
    clock = FixedClock()  # a Monday
    service, _ = await make_service(db, settings, clock)
    readings, replies = [await read(service, "director", "Medicine")], []
    for _ in range(2):
        await service.open_round(await service.team_named("Ward A"))
        await answer(service, ward_a())
        replies.append(await service.close_round(await service.team_named("Ward A")))
        readings.append(await read(service, "director", "Medicine"))
    await service.open_round(await service.team_named("Tiny"))
    await answer(service, ["t0"], comment=LONE)
    clock.now += timedelta(days=5)
    await service.close_round(await service.team_named("Tiny"))
    readings.append(await read(service, "director", "Medicine"))
    await after_the_week(service, clock)
    readings.append(await read(service, "director", "Medicine"))
    await after_the_week(service, clock)
    readings.append(await read(service, "director", "Medicine"))
    for before, after in itertools.pairwise(readings):
        assert_nothing_shown_changed(before, after)
    for reading in readings:
        if LONE in reading.comments:  # only beside the 12 people of Ward A it is counted with
            assert (15, 13) in reading.weeks.values(), reading.weeks
    # the week counts Ward A's 12 people once (not 24 cards) and Tiny's one
    assert readings[-1].weeks == {date(2026, 11, 23): (15, 13)}
    assert readings[-1].comments[LONE] == 1
    for reply in replies:
        assert "once its week (w/c 23 Nov) is over and all that week's pulses have closed" in reply


async def test_teams_on_different_weekdays_with_one_day_pulses_count_in_their_own_week(
    db: Database, settings: Settings
) -> None:
    """TEAMPULSE_ROUND_DAYS=1 and teams scheduled Monday, Tuesday and Wednesday: each pulse closes
    the next day (the scheduler's tick) before the next team's opens.  All three count in their
    own week, published once it is over; Tiny's one comment never shows outside that group."""
    clock = FixedClock()  # Monday 23 November
    short = settings.model_copy(update={"round_days": 1})
    service, _ = await make_service(db, short, clock)
    readings = []
    for team, people in (("Ward B", [f"b{i}" for i in range(6)]), ("Ward A", ward_a())):
        await service.open_round(await service.team_named(team))
        await answer(service, people)
        clock.now += timedelta(days=1)
        await service.close_due_rounds()  # the scheduler's tick closes it the next day
        readings.append(await read(service, "director", "Medicine"))
    await service.open_round(await service.team_named("Tiny"))  # Wednesday
    await answer(service, ["t0"], comment=LONE)
    clock.now += timedelta(days=1)
    await service.close_due_rounds()
    readings.append(await read(service, "director", "Medicine"))
    for _ in range(2):
        await after_the_week(service, clock)
        readings.append(await read(service, "director", "Medicine"))
    for before, after in itertools.pairwise(readings):
        assert_nothing_shown_changed(before, after)
    for reading in readings:
        if LONE in reading.comments:
            assert (21, 19) in reading.weeks.values(), reading.weeks
    assert readings[-1].weeks == {date(2026, 11, 23): (21, 19)}
    assert readings[-1].comments[LONE] == 1


async def test_three_people_answering_three_pulses_in_a_week_are_three_people(
    db: Database, settings: Settings
) -> None:
    """Ward B's b0, b1 and b2 answer all three of the week's pulses (while Ward A's runs all
    week): 9 cards, 3 people.  Below the threshold of 5, so no count, no score and no comment
    appears anywhere."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward A"))
    for _ in range(3):
        await service.open_round(await service.team_named("Ward B"))
        await answer(service, ["b0", "b1", "b2"])
        await service.close_round(await service.team_named("Ward B"))
    await service.close_round(await service.team_named("Ward A"))
    await after_the_week(service, clock)
    for who, team in (("manager.b", "Ward B"), ("director", "Medicine")):
        [view] = await Conversation(service).handle(email(who), f"pulse trends {team} 4")
        assert isinstance(view, TrendReportView)
        assert all(r.respondents is None and r.rate is None for r in view.rounds), view.rounds
        assert view.themes == () and view.comments == () and view.chart_png is None
        assert all(child.respondents is None for child in view.children)
        assert (await service.export_csv(await service.team_named(team), 4)).splitlines()[1:] == []


async def test_pulse_status_counts_people_who_answered_the_open_round(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    await answer(service, ward_a()[:6])
    assert "6 answered" in await service.status_report()


async def run_week(service: TeamPulse, clock: FixedClock, teams: dict[str, list[str]]) -> None:
    """Each team's pulse opened, answered by these people and closed; then the week is over."""
    for team in teams:
        await service.open_round(await service.team_named(team))
    for people in teams.values():
        await answer(service, people)
    for team in teams:
        await service.close_round(await service.team_named(team))
    await after_the_week(service, clock)


MOVING = f"""
name: Test Trust
teams:
  - name: Medicine
    managers: [{email("director")}]
  - name: Ward A
    parent: Medicine
    managers: [{email("manager.a")}]
    members: [{", ".join(email(f"a{i}") for i in range(12))}]
  - name: Tiny
    parent: Medicine
    managers: [{email("manager.t")}]
    members: [{", ".join(email(f"t{i}") for i in range(3))}]
  - name: Surgery
    managers: [{email("surgeon")}]
  - name: Theatres
    parent: Surgery
    managers: [{email("manager.th")}]
    members: [{", ".join(email(f"th{i}") for i in range(6))}]
  - name: Ward S
    parent: {{parent}}
    managers: [{email("manager.s")}]
    members: [{", ".join(email(f"s{i}") for i in range(10))}]
"""


async def test_a_reimport_that_moves_a_team_changes_no_published_week(
    db: Database, settings: Settings
) -> None:
    """Ward S (10) moves from Surgery to Medicine after a week was published.  Neither
    directorate's published figures for that week change, and Medicine's report for it does not
    take in Ward S's comments (they were counted under Surgery); weeks cut after the move count
    Ward S under Medicine."""
    clock = FixedClock()
    service = TeamPulse(db, settings, clock=clock)
    await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Surgery")))
    ward_s = [f"s{i}" for i in range(10)]
    await run_week(service, clock, {"Ward A": ward_a(), "Ward S": ward_s})
    medicine = await read(service, "director", "Medicine")
    surgery = await read(service, "surgeon", "Surgery")
    assert medicine.weeks == {date(2026, 11, 23): (12, 12)}
    assert surgery.weeks == {date(2026, 11, 23): (10, 10)}
    assert sum(medicine.comments.values()) == 12 and sum(surgery.comments.values()) == 10

    await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Medicine")))
    assert await read(service, "director", "Medicine") == medicine
    assert await read(service, "surgeon", "Surgery") == surgery
    assert not set(medicine.comments) & {f"A comment from {person}" for person in ward_s}

    # the next week follows the new hierarchy
    await run_week(service, clock, {"Ward A": ward_a(), "Ward S": ward_s})
    later = await read(service, "director", "Medicine")
    assert_nothing_shown_changed(medicine, later)
    assert later.weeks[date(2026, 11, 30)] == (22, 22)
    assert sum(later.comments.values()) == 12 + 22


async def test_a_round_opened_by_a_replica_whose_clock_lags_counts_in_the_next_uncut_week(
    db: Database, settings: Settings
) -> None:
    """One replica's clock says the week of 23 November is over and cuts it; another's, behind,
    still says Sunday 29 November and opens Ward B's pulse.  That pulse can't join the cut week: it
    counts in the next one, published once that is over, and the cut week never changes."""
    ahead, behind = FixedClock(), FixedClock()
    service, _ = await make_service(db, settings, ahead)
    await run_week(service, ahead, {"Ward A": ward_a()})  # cut at Monday 30 November, 09:00
    first = await read(service, "director", "Medicine")
    assert first.weeks == {date(2026, 11, 23): (12, 12)}
    lagging = TeamPulse(db, settings, clock=behind)
    behind.now = ahead.now - timedelta(hours=12)  # Sunday 29 November, 21:00
    await lagging.open_round(await lagging.team_named("Ward B"))
    await answer(lagging, [f"b{i}" for i in range(6)])
    await lagging.close_round(await lagging.team_named("Ward B"))
    assert await read(service, "director", "Medicine") == first
    await after_the_week(service, ahead)
    later = await read(service, "director", "Medicine")
    assert_nothing_shown_changed(first, later)
    assert later.weeks[date(2026, 11, 30)] == (6, 6)


async def test_a_round_opened_while_its_week_is_being_cut_waits_and_counts_in_the_next(
    db: Database, settings: Settings
) -> None:
    """A replica cuts the week of 23 November while another, whose clock still says Sunday,
    opens Ward B's pulse.  Opening waits for the cut (PostgreSQL: the week's advisory lock, shared
    against the cut's exclusive one; SQLite: one writer at a time), then sees the week cut and
    counts the pulse in the next week, so it can't slip into the week just cut."""
    ahead, behind = FixedClock(), FixedClock()
    service, _ = await make_service(db, settings, ahead)
    await service.open_round(await service.team_named("Ward A"))
    await answer(service, ward_a())
    await service.close_round(await service.team_named("Ward A"))
    behind.now = ahead.now + timedelta(days=6, hours=10)  # Sunday 29 November, 20:00
    lagging = TeamPulse(db, settings, clock=behind)
    ward_b = await lagging.team_named("Ward B")
    async with db.session() as cutting:
        assert await rollup.rebuild_week(cutting, date(2026, 11, 23), service.thresholds)
        opening = asyncio.create_task(lagging.open_round(ward_b))
        await until(lambda: waiting_for_the_week(db, opening))
        await cutting.commit()
    assert "Opened pulse #1 for Ward B" in await opening
    async with db.session() as session:
        pulse = await rounds.open_round_for(session, ward_b.id)
        assert pulse is not None and pulse.report_week == date(2026, 11, 30)


async def waiting_for_the_week(db: Database, opening: asyncio.Task[str]) -> bool:
    """Whether the opening is queued behind the cut: on PostgreSQL, a session waits for an
    advisory lock; on SQLite, the opening can't have finished (it needs the write lock)."""
    assert not opening.done()
    if not db.url.startswith("postgresql"):
        return True
    async with db.engine.connect() as connection:
        query = (  # this database's waits: pg_locks lists every database on the server
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return bool((await connection.execute(text(query))).scalar_one())

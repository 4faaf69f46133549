"""A report's kudos counts: kept per (team subtree, week, value) at each week's cut, counted live
for the days not cut yet (``surveys/kudos_counts.py``).  A kudos thanking two wards of one
directorate counts once for the directorate and once for each ward, before the cut and after
it; today's kudos count at once; retention and a person forgotten change nothing; a ward moved
after a cut leaves its cut weeks' kudos with its old directorate; migration 0015 counts the
weeks already cut as reports counted them before."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bot.conversation import Conversation
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import KudosPost, TrendReportView
from storage.engine import Database
from storage.migrate import downgrade, upgrade
from surveys import directory, recognition
from surveys.kudos_counts import counts_since
from surveys.organisation import spec_from_yaml
from surveys.rollup import week_of
from tests.support import FixedClock, after_the_week, email, make_service

Counts = tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]
NONE: Counts = ((), ())

MOVING = f"""
name: Test Trust
teams:
  - name: Medicine
    managers: [{email("director")}]
  - name: Surgery
    managers: [{email("surgeon")}]
  - name: Ward A
    parent: Medicine
    managers: [{email("manager.a")}]
    members: [{", ".join(email(f"a{i}") for i in range(12))}]
  - name: Ward B
    parent: {{parent}}
    managers: [{email("manager.b")}]
    members: [{", ".join(email(f"b{i}") for i in range(6))}]
"""


async def thank(service: TeamPulse, giver: str, *people: str, value: str = "teamwork") -> None:
    mentions = " ".join(f"@{person}" for person in people)
    [post] = await Conversation(service).handle(
        email(giver), f"kudos {mentions} thanks for the cover #{value}"
    )
    assert isinstance(post, KudosPost), post


async def counts(service: TeamPulse, manager: str) -> Counts:
    """Kudos received and given, as the manager's ``pulse trends`` shows them."""
    [report] = await Conversation(service).handle(email(manager), "pulse trends")
    assert isinstance(report, TrendReportView), report
    return report.recognition, report.recognition_given


async def cut_this_week(service: TeamPulse, clock: FixedClock) -> None:
    """A round of Ward A this week, closed; then next Monday's tick cuts the week."""
    ward = await service.team_named("Ward A")
    await service.open_round(ward)
    await service.close_round(ward)
    week = week_of(clock.now.date())
    await after_the_week(service, clock)
    assert week in await cut_weeks(service.db)


async def cut_weeks(db: Database) -> set[Any]:
    async with db.session() as session:
        connection = await session.connection()
        rows = (await connection.execute(text("SELECT week FROM rollup_cut"))).all()
    return {date.fromisoformat(week) if isinstance(week, str) else week for (week,) in rows}


async def kept_rows(db: Database) -> list[Any]:
    async with db.session() as session:
        connection = await session.connection()
        query = "SELECT team_id, week, value, received, given FROM rollup_kudos"
        return sorted(tuple(row) for row in (await connection.execute(text(query))).all())


async def test_a_kudos_to_two_wards_counts_once_for_their_directorate_before_and_after_the_cut(
    db: Database, settings: Settings
) -> None:
    """Ward B's b0 thanks a1 (Ward A) and b1 (Ward B): Medicine received one kudos, not two, and
    gave one; each ward received one; Ward A gave none.  The same once the week is cut (read from
    the kept counts), and a kudos given after the cut (today, not cut) counts at once beside it."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await thank(service, "b0", "a1", "b1")
    one = (("teamwork", 1),)
    today = {
        "director": (one, one),
        "manager.a": (one, ()),
        "manager.b": (one, one),
    }
    for manager, expected in today.items():
        assert await counts(service, manager) == expected, manager
    await cut_this_week(service, clock)
    assert await kept_rows(db)  # the cut week's counts are kept, and read from there
    for manager, expected in today.items():
        assert await counts(service, manager) == expected, manager
    await thank(service, "a0", "a2", value="learning")
    learning = ("learning", 1)
    assert await counts(service, "director") == ((learning, *one), (learning, *one))
    assert await counts(service, "manager.a") == ((learning, *one), (learning,))
    assert await counts(service, "manager.b") == (one, one)


async def test_todays_kudos_count_at_once_and_a_ward_sees_only_its_own(
    db: Database, settings: Settings
) -> None:
    """Nothing cut at all: the counts are live.  Ward B's manager, holding only their report,
    sees nothing of a kudos between two people of Ward A."""
    service, _ = await make_service(db, settings)
    assert await counts(service, "director") == NONE
    await thank(service, "a0", "a1", value="compassion")
    assert await counts(service, "director") == ((("compassion", 1),), (("compassion", 1),))
    assert await counts(service, "manager.b") == NONE
    assert await cut_weeks(db) == set()


async def test_a_week_cut_between_two_that_are_not_counts_each_kudos_once(
    db: Database, settings: Settings
) -> None:
    """A week with no round is never cut: its kudos count live beside a later week's kept
    counts and today's, each once (the live count's days stop where the cut week starts)."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await thank(service, "a0", "a1", value="compassion")  # a week with no round: not cut
    first = week_of(clock.now.date())
    clock.now += timedelta(weeks=1)
    await thank(service, "a0", "a2", value="learning")
    await cut_this_week(service, clock)  # this week's round closes; the week is cut
    await thank(service, "a0", "a3")  # today
    assert first not in await cut_weeks(db) and first + timedelta(weeks=1) in await cut_weeks(db)
    each = (("compassion", 1), ("learning", 1), ("teamwork", 1))
    assert await counts(service, "director") == (each, each)
    assert await counts(service, "manager.a") == (each, each)
    assert await counts(service, "manager.b") == NONE


async def test_retention_and_a_forgotten_person_leave_the_counts_as_they_were(
    db: Database, settings: Settings
) -> None:
    """Retention prunes comments, never kudos; forgetting the giver (and blanking the words)
    keeps their kudos: the counts, kept and live, stay as they were."""
    clock = FixedClock()
    one_month = settings.model_copy(update={"comment_retention_months": 1})
    service, _ = await make_service(db, one_month, clock)
    await thank(service, "b0", "a1", "b1")
    await cut_this_week(service, clock)
    await thank(service, "b2", "a3")
    before = await counts(service, "director")
    assert before == ((("teamwork", 2),), (("teamwork", 2),))
    clock.now += timedelta(weeks=9)
    await service.prune_comments()
    await service.forget_person(email("b0"), kudos_text=True)
    clock.now -= timedelta(weeks=9)
    assert await counts(service, "director") == before


async def test_a_ward_moved_after_a_cut_leaves_its_cut_weeks_kudos_with_its_old_directorate(
    db: Database, settings: Settings
) -> None:
    """The kept counts follow the tree as each week was cut, as the scores do: Ward B's kudos of
    a week cut under Medicine stay Medicine's after Ward B moves to Surgery; a kudos given after
    the move (not cut) counts for Surgery."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Medicine")))
    await thank(service, "a0", "b1")
    await cut_this_week(service, clock)
    await service.import_organisation(spec_from_yaml(MOVING.replace("{parent}", "Surgery")))
    one = (("teamwork", 1),)
    assert await counts(service, "director") == (one, one)
    assert await counts(service, "surgeon") == NONE
    await thank(service, "a0", "b2", value="voice")
    assert await counts(service, "director") == (one, (("teamwork", 1), ("voice", 1)))
    assert await counts(service, "surgeon") == ((("voice", 1),), ())


async def test_migration_0015_counts_the_weeks_already_cut_as_reports_did_and_goes_down(
    database_url: str, db: Database, settings: Settings
) -> None:
    """Kudos in two cut weeks and today; the schema down to 0014 and up again: 0015's SQL keeps
    the counts the cut kept, and every team's counts since the first week are what counting each
    kudos live gives, on both databases."""
    clock = FixedClock()
    start = week_of(clock.now.date())
    service, _ = await make_service(db, settings, clock)
    await thank(service, "b0", "a1", "b1")
    await thank(service, "a4", "a5", value="voice")
    await cut_this_week(service, clock)
    await thank(service, "a1", "b2", "b3", value="safe")
    await cut_this_week(service, clock)
    await thank(service, "b4", "a6")
    kept = await kept_rows(db)
    assert len({row[1] for row in kept}) == 2
    await db.dispose()
    await downgrade(database_url, "0014")
    assert await upgrade(database_url, "0015") == ["0015"]
    assert await kept_rows(db) == kept
    since = datetime.combine(start, datetime.min.time(), UTC)
    async with db.reading() as session:
        director = await directory.person_by_email(session, email("director"))
        assert director is not None
        for team in await directory.teams_in(session, director.organisation_id):
            assert team.id is not None
            found = await counts_since(session, team.id, start, service.today())
            ids = await directory.subtree(session, team.id)
            live = await recognition.counts_by_value(session, ids, since)
            given = await recognition.counts_by_value(session, ids, since, given=True)
            assert (found.received, found.given) == (live, given), team.name

"""A team's schedule as its manager sets it and as its people notice it: cadence (weekly,
fortnightly, monthly), day, time, timezone and round length; when each person's pulse arrives
(spread over the first hour, a night worker's in the evening, never in quiet hours); and the
clock changes of late March and late October, driven by an injected clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.conversation import Conversation
from bot.scheduler import PulseScheduler
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import TextReply, View
from storage.engine import Database
from storage.models import Delivery, Person, PulseRound, Team
from surveys.organisation import OrgError, spec_from_yaml
from tests.support import FixedClock, RecordingMessenger, email, make_service

LONDON = ZoneInfo("Europe/London")


def text_of(views: list[View]) -> str:
    [view] = views
    assert isinstance(view, TextReply), view
    return view.text


async def say(service: TeamPulse, who: str, text: str) -> str:
    return text_of(await Conversation(service).handle(email(who), text))


async def due_times(service: TeamPulse, team: str) -> dict[str, datetime]:
    """Each person's pulse in the team's open round: when it is due, in London time."""
    async with service.db.session() as session:
        query = (
            select(Person.email, Delivery.next_attempt_at)
            .join(Delivery, col(Delivery.person_id) == col(Person.id))
            .join(PulseRound, col(PulseRound.id) == col(Delivery.round_id))
            .join(Team, col(Team.id) == col(PulseRound.team_id))
            .where(Team.name == team, col(PulseRound.closed).is_(False))
        )
        rows = (await session.exec(query)).all()
    return {who.split("@")[0]: due.astimezone(LONDON) for who, due in rows if due is not None}


async def set_up_since(service: TeamPulse, day: date) -> None:
    """The organisation was set up on ``day`` (its teams' schedules run from then)."""
    async with service.db.session() as session:
        for team in (await session.exec(select(Team))).all():
            team.created_at = datetime.combine(day, time(), tzinfo=UTC)
            session.add(team)
        await session.commit()


def delivered_to(messenger: RecordingMessenger) -> set[str]:
    return {who.split("@")[0] for who, _ in messenger.direct}


# -- what a manager sets ----------------------------------------------------------------------


async def test_a_manager_sets_cadence_timezone_and_round_length(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    reply = await say(service, "manager.b", "pulse settings cadence monthly")
    assert "a monthly pulse" in reply and "the first Mon at 10:00 of each month" in reply
    reply = await say(service, "manager.b", "pulse settings Ward B timezone europe/dublin")
    assert "(Europe/Dublin)" in reply
    reply = await say(service, "manager.b", "pulse settings length 7")
    assert "open for answers for 7 days" in reply
    shown = await say(service, "manager.b", "pulse settings")
    assert "monthly" in shown and "Europe/Dublin" in shown and "7 days" in shown

    opened = await say(service, "manager.b", "pulse send")
    assert "it closes on Monday 30 November" in opened  # 7 days from Monday 23 November


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        ("timezone Mars/Olympus", "IANA name"),
        ("timezone London", "IANA name"),
        ("length 0", "between 1 and 14 days"),
        ("length 15", "between 1 and 14 days"),
        ("length five", "between 1 and 14 days"),
        ("cadence daily", "`weekly`, `fortnightly` or `monthly`"),
    ],
)
async def test_bad_settings_get_a_friendly_reply_and_change_nothing(
    db: Database, settings: Settings, words: str, problem: str
) -> None:
    service, _ = await make_service(db, settings)
    views = await Conversation(service).handle(email("manager.b"), f"pulse settings {words}")
    [view] = views
    assert isinstance(view, TextReply) and view.kind == "error" and problem in view.text
    shown = await say(service, "manager.b", "pulse settings")
    assert "a weekly pulse" in shown and "(Europe/London)" in shown and "for 5 days" in shown


async def test_a_monthly_team_opens_on_the_first_monday_of_each_month(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock(datetime(2026, 12, 7, 9, 59, tzinfo=UTC))  # Mon 7 Dec, 09:59 GMT
    service, _ = await make_service(db, settings, clock)
    await set_up_since(service, date(2026, 11, 24))
    await say(service, "manager.b", "pulse settings cadence monthly")
    scheduler = PulseScheduler(service)
    assert "Ward B" not in {team.name for team in await scheduler.due_teams()}
    clock.now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    await scheduler.tick()
    assert await due_times(service, "Ward B")  # opened on the first Monday of December

    for later in (date(2026, 12, 14), date(2026, 12, 28)):  # later Mondays of December
        clock.now = datetime.combine(later, time(10, 30), tzinfo=UTC)
        await scheduler.tick()
        assert await rounds_opened(service, "Ward B") == [date(2026, 12, 7)]
    clock.now = datetime(2027, 1, 4, 10, 30, tzinfo=UTC)  # the first Monday of January
    await scheduler.tick()
    assert await rounds_opened(service, "Ward B") == [date(2026, 12, 7), date(2027, 1, 4)]


async def test_a_changed_schedule_decides_the_next_tick(db: Database, settings: Settings) -> None:
    """The scheduler keeps each schedule's trigger from one tick to the next; a manager's change
    of day, time or timezone still decides the very next tick.  Monday 23 November, 10:30 GMT;
    Ward B was set up the day before, its pulse on Mondays at 10:00."""
    clock = FixedClock(datetime(2026, 11, 23, 10, 30, tzinfo=UTC))
    service, _ = await make_service(db, settings, clock)
    await set_up_since(service, date(2026, 11, 22))
    scheduler = PulseScheduler(service)

    async def ward_b_due() -> bool:
        return "Ward B" in {team.name for team in await scheduler.due_teams()}

    assert await ward_b_due()
    for words, due in [
        ("day tue", False),  # Tuesday 24, 10:00
        ("day mon", True),
        ("time 10:45", False),
        ("time 10:15", True),
        ("timezone America/New_York", False),  # 10:15 in New York: 15:15 GMT
        ("timezone Europe/London", True),
        ("cadence monthly", False),  # the first Monday of December
        ("cadence weekly", True),
        ("day tue", False),
    ]:
        await say(service, "manager.b", f"pulse settings {words}")
        assert await ward_b_due() is due, words
    await scheduler.tick()
    assert await rounds_opened(service, "Ward B") == []
    await say(service, "manager.b", "pulse settings day mon")
    await scheduler.tick()
    assert await rounds_opened(service, "Ward B") == [date(2026, 11, 23)]


async def rounds_opened(service: TeamPulse, team: str) -> list[date]:
    async with service.db.session() as session:
        query = (
            select(PulseRound.opened_on)
            .join(Team, col(Team.id) == col(PulseRound.team_id))
            .where(Team.name == team)
            .order_by(col(PulseRound.sequence))
        )
        return list((await session.exec(query)).all())


# -- when each person's pulse arrives -----------------------------------------------------------


async def test_a_scheduled_pulse_is_spread_over_the_first_hour_and_night_workers_wait(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))  # Monday 10:00 GMT
    service, messenger = await make_service(db, settings, clock)
    await set_up_since(service, date(2026, 11, 16))
    await say(service, "b1", "pulse me nights")
    await say(service, "b2", "pulse me quiet 00:00-10:30")
    await PulseScheduler(service).tick()

    due = await due_times(service, "Ward B")
    days = {who: at for who, at in due.items() if who not in {"b1", "b2"}}
    assert all(time(10, 0) <= at.time() < time(11, 0) for at in days.values()), days
    assert len(set(days.values())) > 1  # not all at 10:00:00
    assert time(19, 0) <= due["b1"].time() < time(20, 0)
    assert time(10, 30) <= due["b2"].time() < time(11, 30)
    assert {at.date() for at in due.values()} == {date(2026, 11, 23)}

    clock.now = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    await service.deliver_outbox()
    assert {"b0", "b3", "b4", "b5"} <= delivered_to(messenger)
    clock.now = datetime(2026, 11, 23, 18, 59, tzinfo=UTC)
    await service.deliver_outbox()
    assert "b2" in delivered_to(messenger)  # after her quiet hours
    assert "b1" not in delivered_to(messenger)  # the night nurse is not woken in the day
    clock.now = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    await service.deliver_outbox()
    assert "b1" in delivered_to(messenger)


async def test_a_managers_pulse_send_goes_at_once_to_day_workers(
    db: Database, settings: Settings
) -> None:
    service, messenger = await make_service(db, settings)  # Monday 10:00
    await say(service, "b1", "pulse me nights")
    await say(service, "manager.b", "pulse send")
    assert delivered_to(messenger) == {"b0", "b2", "b3", "b4", "b5"}
    assert time(19, 0) <= (await due_times(service, "Ward B"))["b1"].time() < time(21, 0)


# -- the clock changes ---------------------------------------------------------------------------

# (the Sunday before the change, the Sunday of the change): 10:00 local is 09:00 UTC in summer
# (BST) and 10:00 UTC in winter (GMT)
CHANGES = {
    "october": ((date(2026, 10, 18), 9), (date(2026, 10, 25), 10)),
    "march": ((date(2027, 3, 21), 10), (date(2027, 3, 28), 9)),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_a_team_at_ten_opens_at_ten_local_either_side_of_the_clock_change(
    db: Database, settings: Settings, change: str
) -> None:
    clock = FixedClock()
    service, messenger = await make_service(db, settings, clock)
    (first, _), _ = CHANGES[change]
    await set_up_since(service, first - timedelta(days=3))
    await say(service, "manager.b", "pulse settings day sun")
    await say(service, "b1", "pulse me nights")
    await say(service, "b2", "pulse me quiet 22:00-10:30")
    scheduler = PulseScheduler(service)

    for sunday, utc_hour in CHANGES[change]:
        clock.now = datetime.combine(sunday, time(utc_hour - 1, 59), tzinfo=UTC)
        await scheduler.tick()  # 09:59 local: not yet
        assert sunday not in await rounds_opened(service, "Ward B")
        clock.now = datetime.combine(sunday, time(utc_hour, 0), tzinfo=UTC)
        await scheduler.tick()  # 10:00 local
        assert sunday in await rounds_opened(service, "Ward B")

        due = await due_times(service, "Ward B")
        assert {at.date() for at in due.values()} == {sunday}
        assert all(time(10, 0) <= due[f"b{i}"].time() < time(11, 0) for i in (0, 3, 4, 5))
        assert time(19, 0) <= due["b1"].time() < time(20, 0)
        assert time(10, 30) <= due["b2"].time() < time(11, 30)
        clock.now = datetime.combine(sunday, time(23, 0), tzinfo=UTC)
        await service.deliver_outbox()
        await service.close_round(await service.team_named("Ward B"))
    ward_b = [who for who, _ in messenger.direct if who.startswith("b")]
    assert len(ward_b) == 12  # everyone, both Sundays


# -- the organisation file -------------------------------------------------------------------------

MONTHLY_YAML = f"""
name: Test Trust
teams:
  - name: Ward B
    managers: [{email("manager.b")}]
    schedule: {{cadence: monthly, day: wed, time: "08:30", timezone: Europe/Dublin, length: 7}}
"""


async def test_the_organisation_file_sets_a_monthly_schedule_and_its_length(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await service.import_organisation(spec_from_yaml(MONTHLY_YAML))
    shown = await say(service, "manager.b", "pulse settings")
    assert "a monthly pulse" in shown and "the first Wed at 08:30 of each month" in shown
    assert "(Europe/Dublin)" in shown and "for 7 days" in shown


def test_a_round_length_out_of_range_is_named_by_line() -> None:
    with pytest.raises(OrgError) as raised:
        spec_from_yaml(MONTHLY_YAML.replace("length: 7", "length: 30"))
    assert "schedule.length: must be between 1 and 14 days (got 30)" in str(raised.value)


# -- which teams are due, across a mixed organisation -------------------------------------------


def _team_yaml(name: str, schedule: str, members: int) -> str:
    slug = name.lower().replace(" ", ".")
    people = ", ".join(email(f"{slug}{i}") for i in range(members))
    lines = f"  - name: {name}\n    managers: [{email('manager.' + slug)}]\n"
    if members:
        lines += f"    members: [{people}]\n"
    return lines + f"    schedule: {{{schedule}}}\n"


MIXED = {  # team -> (schedule, members)
    "Never sent": ("cadence: weekly, day: mon, time: '10:00'", 3),
    "Sent last week": ("cadence: weekly, day: mon, time: '10:00'", 3),
    "Sent today": ("cadence: weekly, day: mon, time: '10:00'", 3),
    "Still open": ("cadence: weekly, day: mon, time: '10:00'", 3),
    "No members": ("cadence: weekly, day: mon, time: '10:00'", 0),
    "Later today": ("cadence: weekly, day: mon, time: '11:00'", 3),
    "Fortnight half": ("cadence: fortnightly, day: mon, time: '10:00'", 3),
    "Fortnight due": ("cadence: fortnightly, day: mon, time: '10:00'", 3),
    "Monthly sent": ("cadence: monthly, day: mon, time: '10:00'", 3),
    "Monthly never": ("cadence: monthly, day: mon, time: '10:00'", 3),
    "New York": ("cadence: weekly, day: mon, time: '10:00', timezone: America/New_York", 3),
    "Tokyo": ("cadence: weekly, day: mon, time: '10:00', timezone: Asia/Tokyo", 3),
}


async def test_the_teams_due_across_a_mixed_organisation(db: Database, settings: Settings) -> None:
    """Monday 23 November, 10:30 GMT, set up on 2 November: due are the teams whose time has
    come since their last round opened, with members and no round open; in name order."""
    yaml = "name: Mixed Trust\nteams:\n" + "".join(
        _team_yaml(name, schedule, members) for name, (schedule, members) in MIXED.items()
    )
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await service.import_organisation(spec_from_yaml(yaml))
    await set_up_since(service, date(2026, 11, 2))
    opened = {  # team -> the Mondays its rounds opened (each closed the same day, but the last)
        "Sent last week": [date(2026, 11, 9), date(2026, 11, 16)],
        "Sent today": [date(2026, 11, 23)],
        "Still open": [date(2026, 11, 16)],
        "Fortnight half": [date(2026, 11, 16)],
        "Fortnight due": [date(2026, 11, 9)],
        "Monthly sent": [date(2026, 11, 2)],
        "Later today": [date(2026, 11, 16)],
        "New York": [date(2026, 11, 16)],
        "Tokyo": [date(2026, 11, 16)],
    }
    for team, days in opened.items():
        ref = await service.team_named(team, "Mixed Trust")
        for day in days:
            clock.now = datetime.combine(day, time(10, 0), tzinfo=UTC)
            await service.open_round(ref)
            if team != "Still open":
                await service.close_round(ref)
    clock.now = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)

    due = [team.name for team in await PulseScheduler(service).due_teams()]
    mixed = [name for name in due if name in MIXED]
    assert mixed == ["Fortnight due", "Monthly never", "Never sent", "Sent last week", "Tokyo"]
    # the test organisation's wards were set up on 2 November too: due; Medicine has no members
    assert [name for name in due if name not in MIXED] == ["Tiny", "Ward A", "Ward B"]

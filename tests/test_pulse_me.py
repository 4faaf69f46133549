"""``pulse me …``: a person sets when pulses reach them (nights, quiet hours, leave), in the same
words on every platform, and notices it: no pulse while they are away, and a pulse waiting for
them that follows a change they make."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.conversation import Conversation
from bot.me import parse_day
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import TextReply
from storage.engine import Database
from storage.models import Delivery, Person
from tests.slack_support import Slack, texts, uid
from tests.support import FixedClock, email, make_service
from tests.teams_support import Teams, conversation_of, member

LONDON = ZoneInfo("Europe/London")


async def reply_to(service: TeamPulse, who: str, text: str) -> TextReply:
    [view] = await Conversation(service).handle(email(who), text)
    assert isinstance(view, TextReply), view
    return view


async def due_of(service: TeamPulse, who: str) -> datetime | None:
    """When this person's pulse is due (London time), or None when none is queued for them."""
    async with service.db.session() as session:
        query = (
            select(Delivery.next_attempt_at)
            .join(Person, col(Person.id) == col(Delivery.person_id))
            .where(Person.email == email(who))
        )
        due = (await session.exec(query)).first()
    return due.astimezone(LONDON) if due is not None else None


async def test_pulse_me_shows_and_changes_my_pulse_times(db: Database, settings: Settings) -> None:
    service, _ = await make_service(db, settings)  # Monday 23 November 2026
    shown = (await reply_to(service, "a0", "pulse me")).text
    assert "Working pattern: days" in shown and "Quiet hours: none" in shown
    assert "Away: no" in shown and "pulse me away until 12 Dec" in shown

    night = await reply_to(service, "a0", "pulse me nights")
    assert night.kind == "success" and "nights: pulses come between 19:00 and 21:00" in night.text
    quiet = (await reply_to(service, "a0", "pulse me quiet 22:00-07:00")).text
    assert "Quiet hours: 22:00 to 07:00" in quiet
    for typed in (
        "pulse me away until 12 Dec",
        "pulse me away until 12 December",
        "pulse me away 2026-12-12",
    ):
        away = (await reply_to(service, "a0", typed)).text
        assert "until Sat 12 December 2026" in away and "back on Sun 13 December" in away
    assert "Working pattern: nights" in away and "22:00 to 07:00" in away  # kept
    assert "Away: no" in (await reply_to(service, "a0", "pulse me back")).text
    assert "Working pattern: days" in (await reply_to(service, "a0", "pulse me days")).text
    assert "Quiet hours: none" in (await reply_to(service, "a0", "pulse me quiet off")).text
    await reply_to(service, "a0", "pulse me nights")
    covered = await reply_to(service, "a0", "pulse me quiet 18:00-22:00")  # the whole night window
    assert covered.kind == "error" and "no pulse could ever reach you" in covered.text
    assert "Quiet hours: none" in (await reply_to(service, "a0", "pulse me")).text
    # a yearless day that has passed this year is next year's
    assert (
        "until Tue 05 January 2027"
        in (await reply_to(service, "a0", "pulse me away until 5 jan")).text
    )


@pytest.mark.parametrize(
    ("typed", "told"),
    [
        ("pulse me away until 2026-11-01", "has passed"),
        ("pulse me away until someday", "couldn't read that date"),
        ("pulse me away until 31 Feb", "couldn't read that date"),
        ("pulse me away until 2029-01-01", "up to a year ahead"),
        ("pulse me quiet 25:00-07:00", "two 24-hour times"),
        ("pulse me quiet late", "two 24-hour times"),
        ("pulse me quiet 07:00-07:00", "different times"),
        ("pulse me sideways", "didn't understand"),
        ("pulse me nights please", "didn't understand"),
    ],
)
async def test_bad_words_get_a_friendly_reply_and_change_nothing(
    db: Database, settings: Settings, typed: str, told: str
) -> None:
    service, _ = await make_service(db, settings)
    reply = await reply_to(service, "a0", typed)
    assert reply.kind == "error" and told in reply.text
    shown = (await reply_to(service, "a0", "pulse me")).text
    assert "days" in shown and "Quiet hours: none" in shown and "Away: no" in shown


async def test_a_stranger_is_told_how_to_join(db: Database, settings: Settings) -> None:
    service, _ = await make_service(db, settings)
    [view] = await Conversation(service).handle("stranger@elsewhere.example", "pulse me nights")
    assert isinstance(view, TextReply) and "don't know you" in view.text


async def test_no_pulse_while_away_until_after_the_round_closes(
    db: Database, settings: Settings
) -> None:
    service, messenger = await make_service(db, settings)  # Monday 23 November, 10:00
    await reply_to(service, "a0", "pulse me away until 12 Dec")
    opened = (await reply_to(service, "manager.a", "pulse send")).text
    assert "11 people will be asked (1 on leave until after it closes)" in opened
    assert email("a0") not in {who for who, _ in messenger.direct}
    assert len(messenger.direct) == 11
    assert await due_of(service, "a0") is None  # nothing queued for them at all
    assert "No pulse is waiting" in (await reply_to(service, "a0", "pulse")).text


async def test_back_from_leave_mid_round_the_pulse_comes_on_the_day_back(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, messenger = await make_service(db, settings, clock)  # Monday 23 November, 10:00
    await reply_to(service, "a0", "pulse me away until 24 Nov")
    await reply_to(service, "manager.a", "pulse send")
    assert await due_of(service, "a0") == datetime(2026, 11, 25, 10, 0, tzinfo=LONDON)
    assert email("a0") not in {who for who, _ in messenger.direct}
    clock.now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    await service.deliver_outbox()
    assert email("a0") in {who for who, _ in messenger.direct}


async def test_a_change_moves_a_pulse_that_has_not_gone_yet(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, messenger = await make_service(db, settings, clock)  # Monday 23 November, 10:00
    await reply_to(service, "a0", "pulse me nights")
    await reply_to(service, "manager.a", "pulse send")
    assert (await due_of(service, "a0") or datetime.min).time() == time(19, 0)

    clock.now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    await reply_to(service, "a0", "pulse me days")  # back on days: it comes now
    assert await due_of(service, "a0") == datetime(2026, 11, 23, 12, 0, tzinfo=LONDON)
    await reply_to(service, "a0", "pulse me away until 30 Nov")  # after it closes: taken off
    assert await due_of(service, "a0") is None
    await service.deliver_outbox()
    assert email("a0") not in {who for who, _ in messenger.direct}


async def test_the_help_lists_pulse_me(db: Database, settings: Settings) -> None:
    service, _ = await make_service(db, settings)
    helped = (await reply_to(service, "a0", "pulse help")).text
    assert "pulse me nights" in helped and "pulse me away until 12 Dec" in helped
    assert "… timezone Europe/London" in helped and "… length 5" in helped


# -- the same words on Slack and Teams, through the real server ----------------------------------


async def test_pulse_me_on_slack(slack: Slack) -> None:
    response = await slack.command("/pulse", "me quiet 22:00-07:00", uid("b0"))
    assert response.status == 200
    [reply] = await slack.fake.wait_for("response_url")
    assert "Quiet hours: 22:00 to 07:00" in texts(reply.params)


async def test_pulse_me_on_teams(teams: Teams) -> None:
    a1 = member("a1")
    await teams.say(a1, "pulse me nights")
    await teams.say(a1, "pulse me")
    changed, shown = teams.fake.sent_texts(conversation_of(a1))
    assert "nights: pulses come between 19:00 and 21:00" in changed
    assert "Working pattern: nights" in shown


def test_leave_is_read_in_local_days() -> None:
    """The date words alone (no database): ``12 Dec`` from late November is this year's."""
    today = date(2026, 11, 30)
    assert parse_day("12 dec", today) == date(2026, 12, 12)
    assert parse_day("12  December", today) == date(2026, 12, 12)
    assert parse_day("1 march", today) == date(2027, 3, 1)
    assert parse_day("next tuesday", today) is None

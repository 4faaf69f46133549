"""The day before a pulse closes, its managers hear if it has fewer than k answers so far: once,
in words that name no one and give no count below k."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from bot.conversation import Conversation
from bot.scheduler import PulseScheduler
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import TextReply
from storage.engine import Database
from tests.support import FixedClock, RecordingMessenger, answers_for, email, make_service


async def answer(service: TeamPulse, *people: str) -> None:
    for who in people:
        [card] = await service.pending_pulses(email(who))
        await service.submit_pulse(email(who), card.round_id, answers_for(card))


def warnings_to(messenger: RecordingMessenger, who: str) -> list[str]:
    return [
        view.text
        for to, view in messenger.direct
        if to == email(who) and isinstance(view, TextReply) and "fewer than" in view.text
    ]


async def test_managers_hear_the_day_before_a_small_pulse_closes(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()  # Monday 23 November, 10:00: Ward B's pulse closes on Saturday
    service, messenger = await make_service(db, settings, clock)
    for team in ("Ward A", "Ward B"):
        await service.open_round(await service.team_named(team))
    await service.deliver_outbox()
    await answer(service, "b0", "b1", "b2")  # 3 of Ward B's 6
    await answer(service, *(f"a{i}" for i in range(6)))  # 6 of Ward A's 12: enough

    clock.now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # Thursday: not yet
    assert await service.warn_low_turnout() == 0
    clock.now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # Friday: it closes tomorrow
    scheduler = PulseScheduler(service)
    await scheduler.tick()
    await scheduler.reminded()  # sent off the tick

    [warning] = warnings_to(messenger, "manager.b")
    assert warning.startswith(
        "Ward B's pulse has fewer than 5 answers so far; it closes on Saturday 28 November."
    )
    assert re.findall(r"\d+", warning) == ["5", "28", "5"]  # k and the day, never the count
    for person in (f"b{i}" for i in range(6)):
        assert person not in warning.lower() and person.title() not in warning
    assert warnings_to(messenger, "manager.a") == []  # Ward A will be reported
    assert warnings_to(messenger, "director") == []  # the team's own managers only

    await scheduler.tick()  # the next tick: once per round
    await scheduler.reminded()
    clock.now = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert await service.warn_low_turnout() == 0
    assert len(warnings_to(messenger, "manager.b")) == 1


async def test_two_replicas_warn_once(db: Database, settings: Settings) -> None:
    clock = FixedClock()
    service, messenger = await make_service(db, settings, clock)
    other = TeamPulse(db, settings, messenger, clock=clock)
    await service.open_round(await service.team_named("Ward B"))
    clock.now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    sent = await asyncio.gather(service.warn_low_turnout(), other.warn_low_turnout())
    assert sorted(sent) == [0, 1]
    assert len(warnings_to(messenger, "manager.b")) == 1


async def test_a_one_day_pulse_is_not_warned_about_as_it_opens(
    db: Database, settings: Settings
) -> None:
    service, messenger = await make_service(db, settings)  # Monday 23 November, 10:00
    [view] = await Conversation(service).handle(email("manager.b"), "pulse settings length 1")
    assert isinstance(view, TextReply) and "for 1 day." in view.text
    await service.open_round(await service.team_named("Ward B"))
    assert await service.warn_low_turnout() == 0
    assert warnings_to(messenger, "manager.b") == []

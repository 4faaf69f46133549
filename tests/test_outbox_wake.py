"""The sender wakes when rows are queued (in this process, or on PostgreSQL in another one), and
a platform failing at random through the real server still reaches everyone once."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from bot.outbox import MAX_ATTEMPTS
from bot.ports import NullMessenger, Recipient
from bot.scheduler import PulseScheduler
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import View
from storage.engine import Database
from tests.conftest import BACKENDS
from tests.fake_platform import Canned
from tests.slack_support import Slack
from tests.support import FixedClock, RecordingMessenger, email, import_org

POSTGRESQL = [b for b in BACKENDS if b == "postgresql"]
NEVER = 3600.0  # the scheduler's backstop poll, too slow to be what sent anything here


@dataclass
class WatchedMessenger(RecordingMessenger):
    """Sets ``first`` when the first direct message goes out."""

    first: asyncio.Event = field(default_factory=asyncio.Event)

    async def send_direct(self, person: Recipient, view: View, *, key: str | None = None) -> None:
        await super().send_direct(person, view, key=key)
        self.first.set()


async def test_pulse_send_wakes_the_sender_without_waiting_for_the_poll(
    db: Database, settings: Settings
) -> None:
    await import_org(db)
    platform = WatchedMessenger()
    service = TeamPulse(db, settings, platform, clock=FixedClock())
    scheduler = PulseScheduler(service, poll_seconds=NEVER)
    await scheduler.start_sender()
    try:
        await service.open_round(await service.team_named("Ward B"))
        await asyncio.wait_for(platform.first.wait(), 30)
    finally:
        await scheduler.stop()
    assert scheduler.woken >= 1
    assert platform.direct[0][0].startswith("b")


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
async def test_a_round_opened_by_another_process_wakes_the_sender(
    db: Database, settings: Settings
) -> None:
    """``teampulse pulse send`` runs in a process of its own: its NOTIFY wakes the server's."""
    await import_org(db)
    platform = WatchedMessenger()
    server = TeamPulse(db, settings, platform, clock=FixedClock())
    scheduler = PulseScheduler(server, poll_seconds=NEVER)
    await scheduler.start_sender()
    cli_db = Database(db.url)
    try:
        cli = TeamPulse(cli_db, settings, NullMessenger(), clock=FixedClock())
        await asyncio.wait_for(scheduler.idle.wait(), 30)  # its start-up drain is over
        woken = scheduler.woken
        await cli.open_round(await cli.team_named("Ward B"))
        await asyncio.wait_for(platform.first.wait(), 30)
    finally:
        await cli_db.dispose()
        await scheduler.stop()
    assert scheduler.woken > woken
    assert {to for to, _ in platform.direct} <= {email(f"b{i}") for i in range(6)}


async def test_slack_failing_at_random_reaches_everyone_once(slack: Slack) -> None:
    clock = FixedClock()
    slack.service.clock = clock
    dice = random.Random(7)
    for method in ("conversations.open", "chat.postMessage"):
        for _ in range(dice.randint(3, 8)):
            slack.fake.queue(method, Canned(503, {"ok": False, "error": "service_unavailable"}))
    await slack.service.open_round(await slack.service.team_named("Ward A"))
    first = await slack.service.deliver_outbox()
    assert first < 12
    status = await slack.service.status_report()
    assert f"{12 - first} retrying" in status
    assert "@" not in status  # counts, naming no one
    for _ in range(MAX_ATTEMPTS):
        clock.now += timedelta(hours=1)  # past the longest back-off
        await slack.service.deliver_outbox()
    posted = [call.params["channel"] for call in slack.fake.called("chat.postMessage")]
    assert len(posted) == len(set(posted)) == 12
    assert "Outbox: 0 pending, 0 in flight, 12 sent, 0 retrying, 0 failed" in (
        await slack.service.status_report()
    )

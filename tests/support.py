"""Test helpers: a small organisation and a messenger that records what the core sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from aiohttp import web

from bot.cli import _serve_app
from bot.logs import AccessLogger
from bot.ports import Recipient, TeamTarget
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import PulseCard, View
from storage.engine import Database
from surveys.organisation import import_spec, spec_from_yaml
from surveys.rollup import week_of

DOMAIN = "trust.example"
# Invariant 1: every column an answer row may have (nothing about the person who gave it).
ALLOWED_RESPONSE_COLUMNS = {
    "id",
    "submission_id",
    "round_id",
    "team_id",
    "question_id",
    "score",
    "comment",
    "sentiment",
    "day",
}


def answers_for(card: PulseCard, score: int = 4) -> dict[str, int]:
    """The same choice for every statement of a pulse card."""
    return {question.id: score for question in card.questions}


def email(name: str) -> str:
    return f"{name}@{DOMAIN}"


ORG_YAML = f"""
name: Test Trust
teams:
  - name: Medicine
    managers: [{email("director")}]
  - name: Ward A
    parent: Medicine
    managers: [{email("manager.a")}]
    members: [{", ".join(email(f"a{i}") for i in range(12))}]
  - name: Ward B
    parent: Medicine
    managers: [{email("manager.b")}]
    members: [{", ".join(email(f"b{i}") for i in range(6))}]
  - name: Tiny
    parent: Medicine
    managers: [{email("manager.t")}]
    members: [{", ".join(email(f"t{i}") for i in range(3))}]
"""


@dataclass
class RecordingMessenger:
    direct: list[tuple[str, View]] = field(default_factory=list)
    channel: list[tuple[str, View]] = field(default_factory=list)
    fail_for: set[str] = field(default_factory=set)

    # the delivery keys of what arrived, as a platform that carries them would remember
    keys: set[str] = field(default_factory=set)

    async def send_direct(self, person: Recipient, view: View, *, key: str | None = None) -> None:
        if person.email in self.fail_for:
            raise ConnectionError("platform unavailable")
        self.direct.append((person.email, view))
        if key is not None:
            self.keys.add(key)

    async def delivered(self, person: Recipient, key: str, *, round_id: int) -> bool | None:
        return key in self.keys

    async def post_to_team(self, team: TeamTarget, view: View) -> None:
        self.channel.append((team.name, view))


class FixedClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def after_the_week(service: TeamPulse, clock: FixedClock) -> None:
    """Move the clock to the next Monday morning and run the scheduler's tick: the weeks that are
    over and whose pulses have all closed are cut, and their results appear."""
    monday = week_of(clock.now.date()) + timedelta(days=7)
    clock.now = datetime.combine(monday, time(9, 0), tzinfo=UTC)
    await service.close_due_rounds()


async def import_org(db: Database, text: str = ORG_YAML) -> None:
    async with db.session() as session:
        await import_spec(session, spec_from_yaml(text))


async def make_service(
    db: Database, settings: Settings, clock: FixedClock | None = None
) -> tuple[TeamPulse, RecordingMessenger]:
    await import_org(db)
    messenger = RecordingMessenger()
    return TeamPulse(db, settings, messenger, clock=clock or FixedClock()), messenger


@dataclass
class Running:
    """The real server, started on a random port of 127.0.0.1."""

    app: web.Application
    runner: web.AppRunner
    url: str


async def serve(settings: Settings) -> Running:
    """Without the scheduler: its first tick runs at start-up and delivers the outbox, racing the
    test that opens a round and delivers it itself.  Tests drive the outbox and rounds through
    the service, and ``tests/test_workers.py`` runs the real ``teampulse serve``, scheduler and
    all."""
    app = await _serve_app(settings, run_scheduler=False)
    runner = web.AppRunner(app, access_log_class=AccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return Running(app, runner, f"http://{host}:{port}")


class HighWater:
    """The most connections the engine's pool had handed out at once."""

    def __init__(self) -> None:
        self.out = self.most = 0

    def checkout(self, *_args: Any) -> None:
        self.out += 1
        self.most = max(self.most, self.out)

    def checkin(self, *_args: Any) -> None:
        self.out -= 1

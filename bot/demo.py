"""Demo data: a trust with 3 directorates, 8 teams and about 60 people, with 8 weeks of history
entered through the real submit path, so trends show something at once.

Everything here is clearly marked as demo: the organisation is called "Riverside NHS Trust
(demo)", its row has ``is_demo`` set, and every address is at ``riverside-demo.nhs.uk``.  It is
loaded only in local mode, into an empty database (``ensure_demo``).

History is made the way real use makes it: each past week a round is opened for every ward team
(with the clock set to that Monday), most members fetch their pending card and submit it through
``TeamPulse.submit_pulse``, and the round is closed.  So the anonymity rules (random response ids,
participation digests, days only) hold for demo data exactly as they do for real answers, and
nothing here logs who gave which answer.
"""

from __future__ import annotations

import logging
import time as timer
from datetime import UTC, datetime, time, timedelta

from sqlmodel import select

from bot.demo_history import History, quiet
from bot.demo_trust import (
    DEMO_DIRECTOR,
    DEMO_MANAGER,
    DEMO_NURSE,
    ORGANISATION,
    WARD_TEAMS,
    WARDS,
    demo_spec,
)
from bot.service import TeamPulse
from storage.models import Organisation
from surveys.organisation import import_spec

__all__ = [
    "DEMO_DIRECTOR",
    "DEMO_MANAGER",
    "DEMO_NURSE",
    "HISTORY_WEEKS",
    "ORGANISATION",
    "WARD_TEAMS",
    "demo_spec",
    "ensure_demo",
    "load_demo",
]

log = logging.getLogger(__name__)

HISTORY_WEEKS = 8


async def load_demo(service: TeamPulse, weeks: int = HISTORY_WEEKS, seed: int = 13) -> None:
    """Import the demo trust, make ``weeks`` weeks of history, then open this week's pulses.

    The same seed gives the same answers.  The default seed is one where ``pulse trends 4`` shows
    the two stories as real changes (Ward 7 teamwork ▲, Emergency Department health and
    wellbeing ▼) and no chance "significant" change elsewhere in those two teams.
    """
    async with service.db.session() as session:
        await import_spec(session, demo_spec(), is_demo=True)
    teams = {unit.name: await service.team_named(unit.name, ORGANISATION) for unit in WARDS}
    history = History(service, seed, teams)
    this_monday = service.today() - timedelta(days=service.today().weekday())
    mondays = [
        datetime.combine(this_monday - timedelta(weeks=back), time(10, 0), tzinfo=UTC)
        for back in range(weeks, 0, -1)
    ]
    with quiet("bot.service"):
        for week, monday in enumerate(mondays):
            await history.week(week, monday)
        if mondays:
            await history.kudos(mondays)
    for unit in WARDS:
        await service.open_round(teams[unit.name])
    await service.cut_due_weeks()  # the last history week is over: publish it
    await service.deliver_outbox()


async def ensure_demo(service: TeamPulse) -> bool:
    """Load the demo organisation into an empty database; returns whether it did."""
    async with service.db.session() as session:
        if (await session.exec(select(Organisation.id).limit(1))).first() is not None:
            return False
    started = timer.perf_counter()
    await load_demo(service)
    spec = demo_spec()
    log.info(
        "Loaded demo organisation %s: %d teams, %d people, %d weeks of pulses in %.1f s "
        "(demo data)",
        spec.name,
        len(spec.teams),
        len(spec.people),
        HISTORY_WEEKS,
        timer.perf_counter() - started,
    )
    return True

"""The day before a round closes, tell its team's managers if it has fewer than k answers so
far, so they can encourage the whole team before it closes.  The message names no one and gives
no number below k ("fewer than 5"), and goes once per round (``surveys/turnout.py``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.ports import Recipient
from bot.views import TextReply
from storage.models import PulseRound, Role, Team
from surveys import directory, turnout

if TYPE_CHECKING:
    from bot.service import TeamPulse

log = logging.getLogger(__name__)

LOW_TURNOUT = (
    "{team}'s pulse has fewer than {k} answers so far; it closes on {closes:%A %d %B}. "
    "Results are shown only for groups of at least {k} people, so a word to the whole team "
    "may help. (I never say who has or hasn't answered.)"
)


async def warn_low_turnout(service: TeamPulse) -> int:
    """Warn the managers of each round closing tomorrow that has fewer than k answers; returns
    how many warnings were sent.  The rounds are marked checked and committed first (so a
    warning goes at most once), and no database lock is held while the platform is called."""
    k = service.settings.min_group
    warnings: list[tuple[Recipient, str]] = []
    async with service.db.session() as session:
        for pulse_round in await turnout.rounds_to_check(session, service.today()):
            assert pulse_round.id is not None
            if not await turnout.claim_check(session, pulse_round.id):
                continue
            if await turnout.below_threshold(session, pulse_round.id, k):
                warnings += await _warnings(session, pulse_round, k)
        await session.commit()
    return await _send(service, warnings)


async def _warnings(
    session: AsyncSession, pulse_round: PulseRound, k: int
) -> list[tuple[Recipient, str]]:
    team = await session.get(Team, pulse_round.team_id)
    assert team is not None and team.id is not None
    text = LOW_TURNOUT.format(team=team.name, k=k, closes=pulse_round.closes_on)
    managers = await directory.members(session, team.id, Role.MANAGER)
    return [(Recipient.of(manager), text) for manager in managers]


async def _send(service: TeamPulse, warnings: list[tuple[Recipient, str]]) -> int:
    sent = 0
    for manager, text in warnings:
        try:
            await service.messenger.send_direct(manager, TextReply(text))
            sent += 1
        except Exception:  # a missed warning is logged, not retried
            log.warning("turnout warning not delivered")
    return sent

"""Rounds that may not reach the reporting threshold: found the day before they close, each
checked once (the round's ``turnout_warned`` flag, claimed with one conditional update so two
replicas never both warn).  Only the count of answers is read, never who gave them."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import ColumnElement, and_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import PulseRound
from surveys import rounds


async def rounds_to_check(session: AsyncSession, today: date) -> list[PulseRound]:
    """Open rounds closing tomorrow (or sooner) whose turnout has not been checked; not on the
    day a round opened (a one-day round has had no time to be answered)."""
    return list((await session.exec(select(PulseRound).where(to_check(today)))).all())


def to_check(today: date) -> ColumnElement[bool]:
    """The condition of ``rounds_to_check``."""
    return and_(
        col(PulseRound.closed).is_(False),
        col(PulseRound.turnout_warned).is_(False),
        col(PulseRound.closes_on) <= today + timedelta(days=1),
        col(PulseRound.opened_on) < today,
    )


async def claim_check(session: AsyncSession, round_id: int) -> bool:
    """Mark the round checked; True for the one caller (on any replica) that marked it."""
    claim = (
        update(PulseRound)
        .where(col(PulseRound.id) == round_id, col(PulseRound.turnout_warned).is_(False))
        .values(turnout_warned=True)
    )
    result = await (await session.connection()).execute(claim)
    return bool(result.rowcount == 1)


async def below_threshold(session: AsyncSession, round_id: int, k: int) -> bool:
    """Whether fewer than ``k`` people have answered the round so far (counted from the
    answers themselves)."""
    return await rounds.respondent_count(session, round_id) < k

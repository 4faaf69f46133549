"""Whether the day-before work (reminders, low-turnout warnings) has anything to do: one query,
run by the scheduler's minute tick before it starts that work off the tick (``bot/scheduler.py``).
It reads flags and counts rows only: nothing about who answered."""

from __future__ import annotations

from datetime import date

from sqlalchemy import exists, or_
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from surveys import outbox, turnout


async def due(session: AsyncSession, today: date) -> bool:
    """A round whose reminders are to be queued or whose turnout is to be checked (the same
    conditions as ``outbox.queue_reminders`` and ``turnout.rounds_to_check``), or a reminder row
    not yet claimed (left by a drain that stopped part way)."""
    rounds = exists().where(or_(outbox.to_remind(today), turnout.to_check(today)))
    waiting = exists().where(outbox.pending_reminder())
    found = await session.exec(select(or_(rounds, waiting)))
    return bool(found.one())

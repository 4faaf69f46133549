"""Sending for ``TeamPulse``: the outbox's pulse cards and the day-before reminders, each sent
while the core holds its session (``sending_session``)."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.ports import Recipient
from storage.models import Delivery, DeliveryStatus, Person, PulseRound, Team
from surveys import rounds

if TYPE_CHECKING:
    from bot.service import TeamPulse

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6

REMINDER = (
    "Reminder: this pulse closes on {closes}. It takes under a minute, and your answers are "
    "anonymous and shown only as part of a group."
)

# The session the core is sending in (the outbox and reminders hold it, and on SQLite its write
# lock, while a platform delivers): adapters' bookkeeping joins it through ``TeamPulse.session``.
_SENDING_SESSION: ContextVar[AsyncSession | None] = ContextVar("sending_session", default=None)


def sending_session() -> AsyncSession | None:
    """The core's session while it sends (outbox, reminders), else ``None``."""
    return _SENDING_SESSION.get()


async def send_reminders(service: TeamPulse) -> int:
    """The day before a round closes, remind whoever has not answered.  Only the bot knows
    who that is; the round is marked reminded (never the people) and committed before sending,
    so a reminder is sent at most once."""
    async with service.db.session() as session:
        due = await rounds.rounds_to_remind(session, service.today())
        for pulse_round in due:
            pulse_round.reminded = True
            session.add(pulse_round)
        await session.commit()
        sent = 0
        token = _SENDING_SESSION.set(session)
        try:
            for pulse_round in due:
                sent += await _remind(service, session, pulse_round)
            await session.commit()
        finally:
            _SENDING_SESSION.reset(token)
    return sent


async def _remind(service: TeamPulse, session: AsyncSession, pulse_round: PulseRound) -> int:
    assert pulse_round.id is not None
    team = await session.get(Team, pulse_round.team_id)
    assert team is not None
    sent = 0
    deliveries = await rounds.sent_deliveries(session, pulse_round.id)
    done = await service.answered(session, [(d.round_id, d.person_id) for d in deliveries])
    for delivery in deliveries:
        if (delivery.round_id, delivery.person_id) in done:
            continue
        person = await session.get(Person, delivery.person_id)
        assert person is not None
        card = service.card(
            pulse_round, team, rounds.questions_for(pulse_round, delivery.group_index)
        )
        reminder = replace(card, reminder=True, intro=REMINDER.format(closes=card.closes_on))
        try:
            await service.messenger.send_direct(Recipient.of(person), reminder)
            service.metrics.reminders.inc()
            sent += 1
        except Exception:  # a missed reminder is logged, not retried
            log.warning("reminder not delivered", extra={"round_id": pulse_round.id})
    return sent


async def deliver_outbox(service: TeamPulse, batch: int = 50) -> int:
    """Send due outbox rows; each row is marked sent in the same transaction that claimed it."""
    sent = 0
    while True:
        async with service.db.session() as session:
            claimed = await rounds.claim_deliveries(session, service.clock(), batch)
            if not claimed:
                return sent
            token = _SENDING_SESSION.set(session)
            try:
                for delivery in claimed:
                    sent += await _deliver(service, session, delivery)
            finally:
                _SENDING_SESSION.reset(token)
            await session.commit()
        if len(claimed) < batch:
            return sent


async def _deliver(service: TeamPulse, session: AsyncSession, delivery: Delivery) -> int:
    pulse_round = await session.get(PulseRound, delivery.round_id)
    person = await session.get(Person, delivery.person_id)
    assert pulse_round is not None and person is not None
    team = await session.get(Team, pulse_round.team_id)
    assert team is not None
    now = service.clock()
    if pulse_round.closed:
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = "round closed before delivery"
        session.add(delivery)
        return 0
    card = service.card(pulse_round, team, rounds.questions_for(pulse_round, delivery.group_index))
    try:
        await service.messenger.send_direct(Recipient.of(person), card)
    except Exception as error:
        service.metrics.deliveries.labels("failed").inc()
        delivery.attempts += 1
        delivery.last_error = f"{type(error).__name__}: {error}"[:500]
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = now + timedelta(minutes=2**delivery.attempts)
        session.add(delivery)
        log.warning("pulse delivery failed; will retry", extra={"delivery_id": delivery.id})
        return 0
    delivery.status = DeliveryStatus.SENT
    delivery.sent_at = now
    service.metrics.deliveries.labels("sent").inc()
    session.add(delivery)
    return 1

"""The day-before reminders for ``TeamPulse``: queued once per round, sent to whoever has not
answered, after any new pulse cards.

Cards first.  A round's reminders go to everyone it reached who has not answered (thousands on a
trust's Monday), at the platform's pace, for minutes; a round opened meanwhile must not wait for
them.  So before each claim of reminders the drain checks for new pulse cards waiting (due now,
or being sent by any process, never tried yet: ``surveys/outbox.cards_waiting``) and, if there
are, claims no more: once the reminders in flight are done, this process's sender sends the
cards, then takes the reminders up again (``bot/outbox.deliver_outbox``).

Reminders and privacy.  Who answered a round must never be stored or inferable per person
(docs/anonymity.md), and "who was reminded" is exactly "who had not answered".  So no row ever
says who was reminded: when a round is due its reminder, one reminder row is queued for *every*
person the pulse was delivered to (the round is marked reminded by an atomic update, so two
replicas cannot both queue), and each row is marked done in the transaction that claims it, before
anything is sent (at most once: a crash loses a reminder, which is acceptable).  Whether a person
has answered is looked up after that commit and used only in memory to skip them.  The rows of an
answerer and of a non-answerer are therefore written identically and at the same moments; nothing
about a send's outcome is written back to them, and the log names no one.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from bot.drain import Pipe, drain
from bot.ports import Recipient
from surveys import outbox as rows
from surveys import rounds
from surveys.outbox import Claimed

if TYPE_CHECKING:
    from bot.service import TeamPulse

log = logging.getLogger(__name__)

REMINDER = (
    "Reminder: this pulse closes on {closes}. It takes under a minute, and your answers are "
    "anonymous and shown only as part of a group."
)


async def send_reminders(service: TeamPulse) -> int:
    """Queue the reminders of rounds closing by tomorrow (once per round), then send them, until
    new pulse cards are waiting: this process's sender then sends the cards, and the reminders
    after them (``deliver_outbox``)."""
    async with service.db.session() as session:
        queued = await rows.queue_reminders(session, service.today())
        await session.commit()
    if queued:
        service.wake_outbox()
    sent, yielded = await drain_reminders(service, service.settings.outbox_concurrency)
    if yielded:
        service.wake_outbox()
    return sent


async def drain_reminders(service: TeamPulse, width: int) -> tuple[int, bool]:
    """Send queued reminders until none is left, or until new pulse cards are waiting (due, or
    being sent by any process: ``surveys/outbox.cards_waiting``), checked before each claim:
    a new round's cards never wait behind a round's thousands of reminders, only behind those
    already in flight.  How many were sent, and whether it stopped for the cards."""
    yielded = False

    async def claim(limit: int) -> tuple[int, list[Claimed]]:
        nonlocal yielded
        async with service.db.session() as session:
            if await rows.cards_waiting(session, service.clock()):
                yielded = True
                return 0, []
            claimed = await rows.claim_reminders(session, limit)
            await session.commit()
        if not claimed:
            return 0, []
        # in memory only, after the claim has committed (see the module's docstring)
        pairs = [(job.pulse_round.id or 0, job.person.id or 0) for job in claimed]
        async with service.db.session() as session:
            answered = await service.answered(session, pairs)
        due = [job for job, pair in zip(claimed, pairs, strict=True) if pair not in answered]
        return len(claimed), due

    # no release: a reminder row is done once claimed, and giving back only the rows of people
    # who had not answered would write who they are; so none is claimed ahead either (a claim
    # waits for half the slots to be free instead: ``Pipe.wanted``)
    sent = await drain(width, Pipe(claim, partial(_remind, service)))
    return sent, yielded


async def _remind(service: TeamPulse, job: Claimed) -> int:
    try:
        questions = rounds.questions_for(job.pulse_round, job.group_index)
        card = service.card(job.pulse_round, job.team, questions)
        reminder = replace(card, reminder=True, intro=REMINDER.format(closes=card.closes_on))
        await service.messenger.send_direct(Recipient.of(job.person), reminder)
    except Exception:  # a missed reminder is logged (naming no one), never retried
        log.warning("reminder not delivered", extra={"round_id": job.pulse_round.id})
        return 0
    service.metrics.reminders.inc()
    return 1

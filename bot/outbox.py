"""Sending for ``TeamPulse``: the outbox's pulse cards (then the day-before reminders:
``bot/reminders.py``).

Claim, then send, then record, each in its own short step:

- a short transaction claims due rows (``surveys/outbox.py``), a sender's width of them ahead
  of the sends, and commits; rows claimed but not started when the sender stops are given back;
- the sends run with no transaction open, a bounded number at once
  (``TEAMPULSE_OUTBOX_CONCURRENCY``); each platform's own pacing stays in its adapter;
- each delivery's outcome is committed right after its call, before its send counts as done:
  sent; or retried later with back-off and jitter, and failed (kept, never retried) after
  ``MAX_ATTEMPTS``.  Outcomes of sends finishing together share one transaction (a group
  commit, ``outcome_batches``: no timer, a batch is whatever queued while the last one ran), so
  a send waits for its own outcome's commit but not one commit per send.  A person no
  platform can reach yet (``Unreachable``: no Teams chat until they first talk to the bot) is
  retried the same way, so they are not tried forever.  An error building one card touches only
  that row.

A row whose lease expired (its process died mid-send) is claimed again; the platform that knows the
person is first asked whether the delivery's key (``pulse:<id>``) already arrived
(``Messenger.delivered``), and a yes is recorded as sent without sending again.  A row whose
outcome is unknown stays so until a platform has answered that question: if asking fails, or a
send's answer is lost and can't be checked (``OutcomeUnknown``), it is retried as unchecked and
asked again first (``surveys/outbox.py``).  The lease (``TEAMPULSE_OUTBOX_LEASE_SECONDS``, five
minutes) must outlast any one send, 429 waits included: a send still running when its lease
runs out may be checked before it has arrived, and sent twice.  So a check-and-send must end
within half the lease counted from its claim (``SEND_SHARE``; a row claimed ahead waits its turn
on that lease): one still running then is abandoned and left unknown, checked again after its
back-off before any resend; one that waited more than half of that share is given back unsent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from bot.batching import GroupCommit
from bot.drain import Pipe, drain, give_back
from bot.ports import OutcomeUnknown, Recipient
from bot.reminders import drain_reminders
from bot.views import PulseCard
from storage.engine import Database, dropped
from surveys import outbox as rows
from surveys import rounds
from surveys.outbox import Claimed, Outcome

if TYPE_CHECKING:
    from bot.service import TeamPulse

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
RECORD_TRIES = 5  # commits of one outcome while the database is busy
LEASE = timedelta(minutes=5)  # the default lease: a send longer is taken for dead, claimed again
SEND_SHARE = 0.5  # of the lease, that one check-and-send may take before it is abandoned
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)


def _passing(error: BaseException) -> bool:
    """A database error worth one more try: busy (SQLite's one writer) or a dropped
    connection (the pool hands out a fresh one)."""
    return isinstance(error, OperationalError) or dropped(error)


def outcome_batches(db: Database) -> GroupCommit[Outcome, None]:
    """Outcomes committed together: those of sends that finish while a commit runs share the
    next one (``bot/batching.py``; a failed batch is run again one outcome at a time)."""

    async def record(outcomes: Sequence[Outcome]) -> list[None]:
        async with db.session() as session:
            await rows.record_outcomes(session, outcomes)
            await session.commit()
        return [None] * len(outcomes)

    return GroupCommit(record)


def delivery_key(row_id: int) -> str:
    """The stable key of one pulse delivery, carried to the platform with the message."""
    return f"pulse:{row_id}"


def backoff(attempts: int) -> timedelta:
    """Exponential back-off with jitter (between half and all of the step)."""
    step: timedelta = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return step * random.uniform(0.5, 1.0)


# -- pulse cards -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ticket:
    """A claimed pulse row and the loop time by which its check-and-send must end:
    ``SEND_SHARE`` of its lease after it was claimed (a row claimed ahead waits its turn on
    that lease), so no send outlives its lease.  It is started only while at least half of
    that share is left (``start_by``), so no send starts with too little time to finish."""

    job: Claimed
    start_by: float
    deadline: float

    @classmethod
    def at(cls, job: Claimed, claimed: float, share: float) -> Ticket:
        return cls(job, claimed + share / 2, claimed + share)


async def deliver_outbox(service: TeamPulse, width: int | None = None) -> int:
    """Send every due pulse row, then the queued reminders, new cards always first: a reminder
    drain stops claiming while cards are waiting (``drain_reminders``), and this one goes back
    to the cards, then on with the reminders.  It stops once cards are waiting that it can't
    claim (another process's, being sent): its next wake or poll takes the reminders up again.
    Returns how many were sent."""
    width = width or service.settings.outbox_concurrency
    sent, returning = 0, False
    while True:
        cards, claimed = await _drain_cards(service, width)
        sent += cards
        if returning and not claimed:
            return sent
        reminded, yielded = await drain_reminders(service, width)
        sent += reminded
        if not yielded:
            return sent
        returning = True


async def _drain_cards(service: TeamPulse, width: int) -> tuple[int, int]:
    """Send every due pulse row: how many were sent, and how many rows were claimed."""
    claimed_rows = 0
    lease = service.settings.outbox_lease
    share = lease.total_seconds() * SEND_SHARE
    loop = asyncio.get_running_loop()

    async def claim(limit: int) -> tuple[int, list[Ticket]]:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(dropped), stop=stop_after_attempt(2), reraise=True
        ):
            with attempt:
                started = loop.time()
                async with service.db.session() as session:
                    claimed = await rows.claim_deliveries(session, service.clock(), limit, lease)
                    await session.commit()
        nonlocal claimed_rows
        claimed_rows += len(claimed)
        return len(claimed), [Ticket.at(job, started, share) for job in claimed]

    release = partial(_release, service)
    pipe = Pipe(claim, partial(_deliver, service, Cards(service), release), release)
    return await drain(width, pipe), claimed_rows


async def _release(service: TeamPulse, tickets: list[Ticket]) -> None:
    async with service.db.session() as session:
        await rows.release(session, [ticket.job for ticket in tickets], service.clock())
        await session.commit()


class Cards:
    """A round's card for each of its question groups, built once per drain: it names no one,
    so everyone in the group is sent the same one."""

    def __init__(self, service: TeamPulse) -> None:
        self.service = service
        self._made: dict[tuple[int | None, int], PulseCard] = {}

    def __call__(self, job: Claimed) -> PulseCard:
        key = (job.pulse_round.id, job.group_index)
        card = self._made.get(key)
        if card is None:  # (an error building it is raised each time, for each row)
            questions = rounds.questions_for(job.pulse_round, job.group_index)
            card = self.service.card(job.pulse_round, job.team, questions)
            self._made[key] = card
        return card


async def _deliver(
    service: TeamPulse,
    cards: Cards,
    release: Callable[[list[Ticket]], Awaitable[None]],
    ticket: Ticket,
) -> int:
    """Check (if the outcome is unknown), then send, by the ticket's deadline: a send still
    running then is abandoned as unknown, so no send outlives its lease (another replica could
    claim the row and, the post not having landed yet, send it again).  A row whose share of
    its lease mostly ran out while it waited its turn is given back unsent."""
    job = ticket.job
    if asyncio.get_running_loop().time() >= ticket.start_by:
        await give_back(release, [ticket])
        return 0
    try:
        async with asyncio.timeout_at(ticket.deadline):
            await _check_then_send(service, cards, job)
    except (OutcomeUnknown, TimeoutError) as error:
        return await _record(service, job, error, unknown=True)
    except Exception as error:  # this row only; CancelledError is not an Exception
        return await _record(service, job, error)
    return await _record(service, job, None)


async def _check_then_send(service: TeamPulse, cards: Cards, job: Claimed) -> None:
    recipient = Recipient.of(job.person)
    key = delivery_key(job.row_id)
    if job.unknown:
        try:
            arrived = await service.messenger.delivered(recipient, key, round_id=job.round_id)
        except Exception as error:  # not checked: still unknown, asked again before any send
            raise OutcomeUnknown(f"not checked: {_describe(error)}") from error
        if arrived:
            return
    await service.messenger.send_direct(recipient, cards(job), key=key)


async def _record(
    service: TeamPulse, job: Claimed, error: Exception | None, *, unknown: bool = False
) -> int:
    """Commit one delivery's outcome (with those finishing alongside), tried again a few times
    while the database is busy (SQLite's one writer, under many sends at once: an outcome lost
    would leave the row to its lease, and a platform that can't tell whether it arrived would
    send it again) or its connection was dropped.  If it still fails the row keeps its lease
    and is claimed again (and checked) once the lease runs out.  ``unknown``: the failed
    delivery may have arrived, so its retry checks first."""
    outcome = _outcome(job, error, service.clock(), unknown)
    try:
        await _commit(service, outcome)
    except Exception:
        log.warning("delivery outcome not recorded", extra={"delivery_id": job.row_id})
        return 0
    if error is None:
        service.metrics.deliveries.labels("sent").inc()
        return 1
    service.metrics.deliveries.labels("failed").inc()
    log.warning(
        "pulse delivery failed: %s", type(error).__name__, extra={"delivery_id": job.row_id}
    )
    return 0


async def _commit(service: TeamPulse, outcome: Outcome) -> None:
    """Once; then, after an error worth another try, a few more times with back-off (the
    retrying machinery costs more than the commit, so only a failure pays for it)."""
    try:
        await service.outcomes(outcome)
    except Exception as error:
        if not _passing(error):
            raise
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_passing),
            stop=stop_after_attempt(RECORD_TRIES - 1),
            wait=wait_random_exponential(multiplier=0.05, max=1),
            reraise=True,
        ):
            with attempt:
                await service.outcomes(outcome)


def _outcome(job: Claimed, error: Exception | None, now: datetime, unknown: bool) -> Outcome:
    attempts = job.attempts + 1
    if error is None:
        return Outcome.sent(job.row_id, now)
    if attempts >= MAX_ATTEMPTS:
        return Outcome.failed(job.row_id, attempts, _describe(error))
    at = now + backoff(attempts)
    return Outcome.retry(job.row_id, attempts, at, _describe(error), unknown=unknown)


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"

"""Sending for ``TeamPulse``: the outbox's pulse cards and the day-before reminders.

Claim, then send, then record, each in its own short step:

- a short transaction claims due rows (``surveys/outbox.py``) and commits;
- the sends run with no transaction open, a bounded number at once
  (``TEAMPULSE_OUTBOX_CONCURRENCY``); each platform's own pacing stays in its adapter;
- each delivery's outcome is committed on its own right after its call: sent; or retried later
  with back-off and jitter, and failed (kept, never retried) after ``MAX_ATTEMPTS``.  A person no
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
runs out may be checked before it has arrived, and sent twice.  So a send is abandoned after half
the lease (``SEND_SHARE``) and left unknown: checked again, after its back-off, before any resend.

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

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from bot.ports import OutcomeUnknown, Recipient
from surveys import outbox as rows
from surveys import rounds
from surveys.outbox import Claimed

if TYPE_CHECKING:
    from bot.service import TeamPulse

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
RECORD_TRIES = 5  # commits of one outcome while the database is busy
LEASE = timedelta(minutes=5)  # the default lease: a send longer is taken for dead, claimed again
SEND_SHARE = 0.5  # of the lease, that one check-and-send may take before it is abandoned
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)

REMINDER = (
    "Reminder: this pulse closes on {closes}. It takes under a minute, and your answers are "
    "anonymous and shown only as part of a group."
)

# claim up to n rows (committed) -> (rows claimed, the sends to run)
Claim = Callable[[int], Awaitable[tuple[int, list[Callable[[], Awaitable[int]]]]]]


def delivery_key(row_id: int) -> str:
    """The stable key of one pulse delivery, carried to the platform with the message."""
    return f"pulse:{row_id}"


def backoff(attempts: int) -> timedelta:
    """Exponential back-off with jitter (between half and all of the step)."""
    step: timedelta = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    return step * random.uniform(0.5, 1.0)


async def drain(width: int, claim: Claim) -> int:
    """Keep up to ``width`` sends in flight, claiming more as each finishes, until no row is
    due.  Cancelled, it cancels its sends (their rows are left to their lease)."""
    in_flight: set[asyncio.Task[int]] = set()
    sent = 0
    more = True
    try:
        while True:
            free = width - len(in_flight)
            if more and free > 0:
                try:
                    count, sends = await claim(free)
                except Exception:  # the sends in flight still finish and record their outcome
                    log.warning("claiming outbox rows failed; the next wake tries again")
                    count, sends = 0, []
                more = count == free
                in_flight |= {asyncio.ensure_future(send()) for send in sends}
                if more and not sends:
                    continue
            if not in_flight:
                return sent
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            sent += sum(task.result() for task in done)
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)


# -- pulse cards -------------------------------------------------------------------------------
async def deliver_outbox(service: TeamPulse, width: int | None = None) -> int:
    """Send every due pulse row, then any queued reminders; returns how many were sent."""
    width = width or service.settings.outbox_concurrency
    lease = service.settings.outbox_lease

    async def claim(limit: int) -> tuple[int, list[Callable[[], Awaitable[int]]]]:
        async with service.db.session() as session:
            claimed = await rows.claim_deliveries(session, service.clock(), limit, lease)
            await session.commit()
        return len(claimed), [_sender(service, job) for job in claimed]

    return await drain(width, claim) + await drain_reminders(service, width)


def _sender(service: TeamPulse, job: Claimed) -> Callable[[], Awaitable[int]]:
    return lambda: _deliver(service, job)


async def _deliver(service: TeamPulse, job: Claimed) -> int:
    """Check (if the outcome is unknown), then send, within ``SEND_SHARE`` of the lease: a send
    still running then is abandoned as unknown, so no send outlives its lease (another replica
    could claim the row and, the post not having landed yet, send it again)."""
    deadline = service.settings.outbox_lease.total_seconds() * SEND_SHARE
    try:
        async with asyncio.timeout(deadline):
            await _check_then_send(service, job)
    except (OutcomeUnknown, TimeoutError) as error:
        return await _record(service, job, error, unknown=True)
    except Exception as error:  # this row only; CancelledError is not an Exception
        return await _record(service, job, error)
    return await _record(service, job, None)


async def _check_then_send(service: TeamPulse, job: Claimed) -> None:
    recipient = Recipient.of(job.person)
    key = delivery_key(job.row_id)
    if job.unknown:
        try:
            arrived = await service.messenger.delivered(recipient, key, round_id=job.round_id)
        except Exception as error:  # not checked: still unknown, asked again before any send
            raise OutcomeUnknown(f"not checked: {_describe(error)}") from error
        if arrived:
            return
    questions = rounds.questions_for(job.pulse_round, job.group_index)
    card = service.card(job.pulse_round, job.team, questions)
    await service.messenger.send_direct(recipient, card, key=key)


async def _record(
    service: TeamPulse, job: Claimed, error: Exception | None, *, unknown: bool = False
) -> int:
    """Commit one delivery's outcome on its own, tried again a few times while the database is
    busy (SQLite's one writer, under many sends at once: an outcome lost would leave the row to
    its lease, and a platform that can't tell whether it arrived would send it again).  If it
    still fails the row keeps its lease and is claimed again (and checked) once the lease runs
    out.  ``unknown``: the failed delivery may have arrived, so its retry checks first."""
    now = service.clock()
    attempts = job.attempts + 1
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(OperationalError),
            stop=stop_after_attempt(RECORD_TRIES),
            wait=wait_random_exponential(multiplier=0.05, max=1),
            reraise=True,
        ):
            with attempt:
                await _commit_outcome(service, job, error, now, attempts, unknown)
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


async def _commit_outcome(
    service: TeamPulse,
    job: Claimed,
    error: Exception | None,
    now: datetime,
    attempts: int,
    unknown: bool,
) -> None:
    async with service.db.session() as session:
        if error is None:
            await rows.record_sent(session, job.row_id, now)
        elif attempts >= MAX_ATTEMPTS:
            await rows.record_failed(session, job.row_id, attempts, _describe(error))
        else:
            at = now + backoff(attempts)
            await rows.record_retry(
                session, job.row_id, attempts, at, _describe(error), unknown=unknown
            )
        await session.commit()


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


# -- reminders ---------------------------------------------------------------------------------
async def send_reminders(service: TeamPulse) -> int:
    """Queue the reminders of rounds closing by tomorrow (once per round), then send them."""
    async with service.db.session() as session:
        queued = await rows.queue_reminders(session, service.today())
        await session.commit()
    if queued:
        service.wake_outbox()
    return await drain_reminders(service, service.settings.outbox_concurrency)


async def drain_reminders(service: TeamPulse, width: int) -> int:
    async def claim(limit: int) -> tuple[int, list[Callable[[], Awaitable[int]]]]:
        async with service.db.session() as session:
            claimed = await rows.claim_reminders(session, limit)
            await session.commit()
        if not claimed:
            return 0, []
        # in memory only, after the claim has committed (see the module's docstring)
        pairs = [(job.pulse_round.id or 0, job.person.id or 0) for job in claimed]
        async with service.db.session() as session:
            answered = await service.answered(session, pairs)
        due = [job for job, pair in zip(claimed, pairs, strict=True) if pair not in answered]
        return len(claimed), [_reminder(service, job) for job in due]

    return await drain(width, claim)


def _reminder(service: TeamPulse, job: Claimed) -> Callable[[], Awaitable[int]]:
    return lambda: _remind(service, job)


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

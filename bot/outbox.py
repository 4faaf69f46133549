"""Sending for ``TeamPulse``: the outbox's pulse cards and the day-before reminders.

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
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Generic, TypeVar

from sqlalchemy.exc import OperationalError
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from bot.batching import GroupCommit
from bot.ports import OutcomeUnknown, Recipient
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

REMINDER = (
    "Reminder: this pulse closes on {closes}. It takes under a minute, and your answers are "
    "anonymous and shown only as part of a group."
)

Job = TypeVar("Job")


@dataclass(frozen=True)
class Pipe(Generic[Job]):
    """What ``drain`` claims and sends.  ``claim(n)`` claims up to ``n`` rows (committed) and
    gives how many it claimed and the jobs to send; ``release`` gives back jobs claimed but
    never started.  With a ``release``, rows are claimed ahead of need, ``width`` at a time."""

    claim: Callable[[int], Awaitable[tuple[int, list[Job]]]]
    send: Callable[[Job], Awaitable[int]]
    release: Callable[[list[Job]], Awaitable[None]] | None = None

    def wanted(self, width: int, ready: int, in_flight: int) -> int:
        """How many rows to claim now (0: none)."""
        if self.release is None:
            return width - in_flight
        return width if ready < width else 0


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


async def drain(width: int, pipe: Pipe[Job]) -> int:
    """Keep up to ``width`` sends in flight until no row is due.  A pipe that can give rows back
    is claimed ahead, ``width`` rows at a time, so a claim's transaction is paid once per
    ``width`` sends (up to ``2 * width - 1`` claimed rows wait their turn); otherwise as each
    send finishes.  Cancelled, it cancels its sends (their rows are left to their lease) and
    gives back the rows it never started."""
    in_flight: set[asyncio.Task[int]] = set()
    ready: deque[Job] = deque()
    sent = 0
    more = True
    try:
        while True:
            wanted = pipe.wanted(width, len(ready), len(in_flight)) if more else 0
            if wanted > 0:
                try:
                    count, jobs = await pipe.claim(wanted)
                except Exception:  # the sends in flight still finish and record their outcome
                    log.warning("claiming outbox rows failed; the next wake tries again")
                    count, jobs = 0, []
                more = count == wanted
                ready.extend(jobs)
            while ready and len(in_flight) < width:
                in_flight.add(asyncio.ensure_future(pipe.send(ready.popleft())))
            if not in_flight:
                if more:  # every row claimed was settled without a send: claim again
                    continue
                return sent
            done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            sent += sum(task.result() for task in done)
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        if ready and pipe.release is not None:
            await _give_back(pipe.release, list(ready))


async def _give_back(release: Callable[[list[Job]], Awaitable[None]], jobs: list[Job]) -> None:
    try:
        await release(jobs)
    except Exception:  # they wait for their lease instead
        log.warning("claimed outbox rows not given back; their lease will run out")


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
    """Send every due pulse row, then any queued reminders; returns how many were sent."""
    width = width or service.settings.outbox_concurrency
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
        return len(claimed), [Ticket.at(job, started, share) for job in claimed]

    release = partial(_release, service)
    pipe = Pipe(claim, partial(_deliver, service, Cards(service), release), release)
    return await drain(width, pipe) + await drain_reminders(service, width)


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
        await _give_back(release, [ticket])
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
    async def claim(limit: int) -> tuple[int, list[Claimed]]:
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
        return len(claimed), due

    # no release: a reminder row is done once claimed, and giving back only the rows of people
    # who had not answered would write who they are; so none is claimed ahead either
    return await drain(width, Pipe(claim, partial(_remind, service)))


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

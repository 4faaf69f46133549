"""The outbox's rows: claiming them in short transactions, recording each outcome on its own,
queueing a round's reminders once, and counting rows by state (never naming anyone).

A pulse delivery moves ``pending -> sending -> sent | pending (retry) | unchecked (retry) |
failed``.  ``sending`` carries a lease in ``next_attempt_at``: a row still ``sending`` after it
(its process died mid-send) is claimed again, flagged as an unknown outcome so the sender can ask
the platform whether it arrived before sending again.  A row whose outcome stayed unknown (the
platform could not be asked, or a send's answer was lost and could not be checked) is retried as
``unchecked``, and every claim of it is flagged the same way until the platform has answered.
A reminder row is done the moment it is claimed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    exists,
    false,
    func,
    or_,
    text,
    update,
)
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from storage.engine import on_postgresql
from storage.models import Delivery, DeliveryStatus, Person, PulseRound, Reminder, Team

NOTIFY_CHANNEL = "teampulse_outbox"
CLOSED = "round closed before delivery"
# a row claimed in one of these states may already have arrived: checked before any resend
UNKNOWN_OUTCOME = (DeliveryStatus.SENDING, DeliveryStatus.UNCHECKED)


@dataclass(frozen=True)
class Claimed:
    """One claimed row and what sending it needs (detached from any session)."""

    row_id: int
    person: Person
    pulse_round: PulseRound
    team: Team
    group_index: int
    attempts: int
    unknown: bool  # a previous send may have arrived (its lease expired, or it was unchecked)

    @property
    def round_id(self) -> int:
        assert self.pulse_round.id is not None
        return self.pulse_round.id


async def notify(session: AsyncSession) -> None:
    """Wake every replica's sender when this transaction commits (PostgreSQL ``NOTIFY``)."""
    if on_postgresql(session):
        await (await session.connection()).execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


async def _context(
    session: AsyncSession, round_ids: set[int], person_ids: set[int]
) -> tuple[dict[int, PulseRound], dict[int, Team], dict[int, Person]]:
    found_rounds = {
        r.id: r
        for r in (await session.exec(select(PulseRound).where(col(PulseRound.id).in_(round_ids))))
    }
    team_ids = {r.team_id for r in found_rounds.values()}
    teams = {t.id: t for t in (await session.exec(select(Team).where(col(Team.id).in_(team_ids))))}
    people = {
        p.id: p for p in (await session.exec(select(Person).where(col(Person.id).in_(person_ids))))
    }
    return (
        {k: v for k, v in found_rounds.items() if k is not None},
        {k: v for k, v in teams.items() if k is not None},
        {k: v for k, v in people.items() if k is not None},
    )


def _due(now: datetime) -> ColumnElement[bool]:
    """Pulse rows to claim now: pending and due, or in flight past their lease."""
    return or_(
        and_(
            col(Delivery.status) == DeliveryStatus.PENDING,
            or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now),
        ),
        and_(
            col(Delivery.status).in_(UNKNOWN_OUTCOME),
            col(Delivery.next_attempt_at) <= now,
        ),
    )


async def cards_waiting(session: AsyncSession, now: datetime) -> bool:
    """Whether new pulse cards (not tried yet) are due now or being sent by any process:
    reminders wait for them (``bot/reminders.py``).  A retry doesn't hold them up (it has
    waited its back-off already, and a person no platform can reach yet would hold them up at
    every try); a card held by a process that died counts until its lease runs out, when it is
    due again."""
    fresh = col(Delivery.attempts) == 0
    waiting = and_(fresh, or_(_due(now), col(Delivery.status) == DeliveryStatus.SENDING))
    return bool((await session.exec(select(exists().where(waiting)))).one())


async def claim_deliveries(
    session: AsyncSession, now: datetime, limit: int, lease: timedelta
) -> list[Claimed]:
    """Claim due pulse rows (pending and due, or in flight past their lease) for ``lease``;
    other replicas skip the locked rows (PostgreSQL).  The caller commits at once."""
    query = (
        select(Delivery)
        .where(_due(now))
        .order_by(col(Delivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list((await session.exec(query)).all())
    if not rows:
        return []
    found_rounds, teams, people = await _context(
        session, {d.round_id for d in rows}, {d.person_id for d in rows}
    )
    claimed = []
    for delivery in rows:
        assert delivery.id is not None
        pulse_round = found_rounds[delivery.round_id]
        unknown = delivery.status in UNKNOWN_OUTCOME
        if pulse_round.closed:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = CLOSED
        else:
            delivery.status = DeliveryStatus.SENDING
            delivery.next_attempt_at = now + lease
            claimed.append(
                Claimed(
                    delivery.id,
                    people[delivery.person_id],
                    pulse_round,
                    teams[pulse_round.team_id],
                    delivery.group_index,
                    delivery.attempts,
                    unknown,
                )
            )
        session.add(delivery)
    return claimed


@dataclass(frozen=True)
class Outcome:
    """One delivery's outcome, to record while the row is still this claim's (in flight)."""

    row_id: int
    values: tuple[tuple[str, object], ...]  # the columns it sets

    @classmethod
    def sent(cls, row_id: int, now: datetime) -> Outcome:
        return cls(row_id, (("status", DeliveryStatus.SENT.value), ("sent_at", now)))

    @classmethod
    def retry(
        cls, row_id: int, attempts: int, at: datetime, error: str, *, unknown: bool = False
    ) -> Outcome:
        """Due again at ``at``; ``unknown``: it may have arrived, so it is checked first then."""
        status = DeliveryStatus.UNCHECKED if unknown else DeliveryStatus.PENDING
        return cls(
            row_id,
            (
                ("status", status.value),
                ("attempts", attempts),
                ("next_attempt_at", at),
                ("last_error", error[:500]),
            ),
        )

    @classmethod
    def failed(cls, row_id: int, attempts: int, error: str) -> Outcome:
        values = (("status", DeliveryStatus.FAILED.value), ("attempts", attempts))
        return cls(row_id, (*values, ("last_error", error[:500])))


async def record_outcomes(session: AsyncSession, outcomes: Sequence[Outcome]) -> None:
    """Record several deliveries' outcomes, each only while its row is still in flight (a row
    claimed again since is not this claim's to settle).  Outcomes setting the same columns go
    as one statement with many parameter sets (one round trip on asyncpg).  The caller
    commits."""
    table = Delivery.__table__  # type: ignore[attr-defined]
    by_columns: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for outcome in outcomes:
        columns = tuple(name for name, _ in outcome.values)
        params = {f"new_{name}": value for name, value in outcome.values}
        by_columns.setdefault(columns, []).append({"row_id": outcome.row_id, **params})
    connection = await session.connection()
    for columns, rows in by_columns.items():
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"), table.c.status == DeliveryStatus.SENDING)
            .values({name: bindparam(f"new_{name}") for name in columns})
        )
        await connection.execute(statement, rows)


async def release(session: AsyncSession, claims: Sequence[Claimed], now: datetime) -> None:
    """Give back claimed rows that were never sent (the sender stopped first): due again now.
    A row whose earlier outcome was unknown goes back as ``unchecked``, so it is still checked
    before it is sent.  The caller commits."""
    for unknown in (False, True):
        ids = [c.row_id for c in claims if c.unknown == unknown]
        if not ids:
            continue
        status = DeliveryStatus.UNCHECKED if unknown else DeliveryStatus.PENDING
        await session.exec(
            update(Delivery)
            .where(col(Delivery.id).in_(ids), col(Delivery.status) == DeliveryStatus.SENDING)
            .values(status=status.value, next_attempt_at=now)
        )


# -- reminders ---------------------------------------------------------------------------------
def to_remind(today: date) -> ColumnElement[bool]:
    """The rounds whose reminders are due and not yet queued: open, closing by tomorrow."""
    return and_(
        col(PulseRound.closed).is_(False),
        col(PulseRound.reminded).is_(False),
        col(PulseRound.closes_on) <= today + timedelta(days=1),
    )


async def queue_reminders(session: AsyncSession, today: date) -> int:
    """For each open round closing by tomorrow and not yet reminded, mark it reminded (an atomic
    ``UPDATE … WHERE NOT reminded``: of two replicas only one wins) and queue a reminder row for
    every person the pulse was delivered to.  Committed by the caller; returns rows queued."""
    query = select(PulseRound.id).where(to_remind(today))
    queued = 0
    for round_id in (await session.exec(query)).all():
        won = await session.exec(
            update(PulseRound)
            .where(col(PulseRound.id) == round_id, col(PulseRound.reminded).is_(False))
            .values(reminded=True)
        )
        if won.rowcount != 1:
            continue
        people = await session.exec(
            select(Delivery.person_id)
            .where(Delivery.round_id == round_id, Delivery.status == DeliveryStatus.SENT)
            .order_by(col(Delivery.person_id))
        )
        assert round_id is not None
        for person_id in people.all():
            session.add(Reminder(round_id=round_id, person_id=person_id))
            queued += 1
    if queued:
        await notify(session)
    return queued


def pending_reminder() -> ColumnElement[bool]:
    """A reminder row not yet claimed: ``done = false``, an equality ``ix_reminder_pending``
    (done, id) seeks to, on both databases."""
    return col(Reminder.done) == false()


def claimable_reminders(limit: int) -> SelectOfScalar[Reminder]:
    """The next ``limit`` reminder rows not yet claimed, locked (other replicas skip them)."""
    # ordered as ix_reminder_pending is (``done`` first, one value here), so only that index
    # gives the order: by ``id`` alone, a planner whose statistics date from the queueing (all
    # waiting) chose the primary key and read past every row done since
    return (
        select(Reminder)
        .where(pending_reminder())
        .order_by(col(Reminder.done), col(Reminder.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


async def claim_reminders(session: AsyncSession, limit: int) -> list[Claimed]:
    """Claim reminder rows and mark them done in this same transaction (at most once: a crash
    after it loses the reminder).  Rows of closed rounds are done and left out."""
    rows = list((await session.exec(claimable_reminders(limit))).all())
    if not rows:
        return []
    found_rounds, teams, people = await _context(
        session, {r.round_id for r in rows}, {r.person_id for r in rows}
    )
    groups = await session.exec(
        select(Delivery.round_id, Delivery.person_id, Delivery.group_index).where(
            col(Delivery.round_id).in_({r.round_id for r in rows}),
            col(Delivery.person_id).in_({r.person_id for r in rows}),
        )
    )
    group_of = {(r, p): g for r, p, g in groups.all()}
    claimed = []
    for reminder in rows:
        assert reminder.id is not None
        reminder.done = True
        session.add(reminder)
        pulse_round = found_rounds[reminder.round_id]
        if not pulse_round.closed:
            group = group_of.get((reminder.round_id, reminder.person_id), 0)
            claimed.append(
                Claimed(
                    reminder.id,
                    people[reminder.person_id],
                    pulse_round,
                    teams[pulse_round.team_id],
                    group,
                    0,
                    False,
                )
            )
    return claimed


# -- what an operator sees ---------------------------------------------------------------------
STATES = ("pending", "in flight", "sent", "retrying", "failed")


async def counts_by_state(session: AsyncSession) -> dict[str, int]:
    """Pulse deliveries by state, as counts only (``STATES``)."""
    query = select(Delivery.status, Delivery.attempts, func.count()).group_by(
        col(Delivery.status), col(Delivery.attempts)
    )
    counts: Counter[str] = Counter({state: 0 for state in STATES})
    for status, attempts, count in (await session.exec(query)).all():
        if status == DeliveryStatus.PENDING:
            counts["retrying" if attempts else "pending"] += count
        elif status == DeliveryStatus.UNCHECKED:
            counts["retrying"] += count
        elif status == DeliveryStatus.SENDING:
            counts["in flight"] += count
        else:
            counts[str(status)] += count
    return {state: counts[state] for state in STATES}

"""How long data is kept, and a person's identity erased on request (docs/data-protection.md).

* ``prune_comments``: comments older than the retention period are deleted, the words and the
  mood read from them; the answers' scores stay, and so does every published figure
  (``rollup_cell``, ``rollup_week``: built from scores and head counts, never from comment text)
  but the comment counts.
  A statement's comment is dated by its answer's day; a general comment by its round's last day,
  so none goes before it is certainly older.  Rows go in bounded batches, each its own short
  transaction, so a first prune of years of comments never holds a long lock.  The rollups'
  comment counts (how many a report says there are, and their mood: surveys/comment_counts.py)
  lose each batch's comments in that batch's transaction, so a report never counts a comment
  that is gone.
* ``forget_person``: the person's row keeps its id (kudos, deliveries and the participation
  digests point at it) but loses its email and name; their platform accounts, conversation
  references, own pulse times and team memberships are deleted, their unsent pulses and
  reminders dropped, and on request the words of kudos they gave or received are blanked.
  Anonymous answers hold nothing of the person (docs/anonymity.md), so there is nothing of theirs
  there to find or erase.
"""

from __future__ import annotations

import calendar
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import String, cast, func, null, or_, update
from sqlalchemy import select as select_columns
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    ConversationReference,
    Delivery,
    DeliveryStatus,
    GeneralComment,
    Membership,
    Person,
    PersonSchedule,
    PlatformIdentity,
    PulseRound,
    Question,
    Recognition,
    RecognitionRecipient,
    Reminder,
    Response,
)
from surveys.comment_counts import Tally, uncount
from surveys.directory import normalise_email
from surveys.outbox import pending_reminder

BATCH = 500  # rows changed per transaction
FORGOTTEN_DOMAIN = "forgotten.invalid"  # RFC 2606: never a real address
FORGOTTEN_NAME = "Someone who left"
REMOVED_KUDOS = "(message removed)"

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def months_before(day: date, months: int) -> date:
    """``day`` moved back ``months`` calendar months (31 March less one month: 28/29 February)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


@dataclass(frozen=True)
class Pruned:
    cutoff: date | None  # None: comments are kept (retention 0)
    statement_comments: int = 0
    general_comments: int = 0


async def prune_comments(sessions: Sessions, today: date, months: int) -> Pruned:
    """Delete comments older than ``months`` calendar months before ``today`` (0: keep all)."""
    if months <= 0:
        return Pruned(None)
    cutoff = months_before(today, months)
    statements = await _in_batches(sessions, lambda session: _clear_statements(session, cutoff))
    general = await _in_batches(sessions, lambda session: _delete_general(session, cutoff))
    return Pruned(cutoff, statements, general)


Cleared = dict[tuple[date, int, str | None], Tally]


def _tally(rows: Sequence[Any]) -> Cleared:
    """(week counted in, round's team, theme or None) -> the comments of ``rows`` (id, week,
    team, theme, mood) that a week's cut counted (a round never counted was never counted)."""
    cleared: Cleared = defaultdict(Tally)
    for _, week, team, theme, mood in rows:
        if week is not None:
            cleared[week, team, theme].add(Tally(1, int(mood is not None), mood or 0.0))
    return cleared


async def _clear_statements(session: AsyncSession, cutoff: date) -> int:
    """Clear one batch of old comments on statements, and take them off the rollups' counts.
    The rows are read locked (PostgreSQL), so two prunes at once never count one out twice."""
    old = (
        select_columns(
            col(Response.id),
            col(PulseRound.counted_in),
            col(PulseRound.team_id),
            col(Question.theme),
            col(Response.sentiment),
        )
        .join(PulseRound, col(PulseRound.id) == col(Response.round_id))
        .join(Question, col(Question.id) == col(Response.question_id))
        .where(col(Response.day) < cutoff, col(Response.comment).is_not(None))
        .limit(BATCH)
        .with_for_update(of=Response)
    )
    rows = (await (await session.connection()).execute(old)).all()
    if rows:
        ids = [row[0] for row in rows]
        cleared = update(Response).where(col(Response.id).in_(ids))
        await session.exec(cleared.values(comment=None, sentiment=None))
        await uncount(session, _tally(rows))
    return len(rows)


async def _delete_general(session: AsyncSession, cutoff: date) -> int:
    """Delete one batch of general comments of rounds closed before ``cutoff``, and take them
    off the rollups' counts."""
    old = (
        select_columns(
            col(GeneralComment.id),
            col(PulseRound.counted_in),
            col(PulseRound.team_id),
            cast(null(), String),
            col(GeneralComment.sentiment),
        )
        .join(PulseRound, col(PulseRound.id) == col(GeneralComment.round_id))
        .where(col(PulseRound.closes_on) < cutoff)
        .limit(BATCH)
        .with_for_update(of=GeneralComment)
    )
    rows = (await (await session.connection()).execute(old)).all()
    if rows:
        ids = [row[0] for row in rows]
        await session.exec(delete(GeneralComment).where(col(GeneralComment.id).in_(ids)))
        await uncount(session, _tally(rows))
    return len(rows)


async def _in_batches(sessions: Sessions, batch: Callable[[AsyncSession], Awaitable[int]]) -> int:
    """Run ``batch`` (rows changed) in one transaction after another until one changes fewer
    than a full batch."""
    total = 0
    while True:
        async with sessions() as session:
            changed = await batch(session)
            await session.commit()
        total += changed
        if changed < BATCH:
            return total


@dataclass(frozen=True)
class Forgotten:
    """What ``forget_person`` removed, in counts: nothing here names anyone."""

    accounts: int
    references: int
    memberships: int
    unsent: int
    kudos_blanked: int | None  # None: kudos words were not asked to be removed


async def forget_person(session: AsyncSession, email: str, *, kudos_text: bool) -> Forgotten | None:
    """Erase the identity of the person with ``email`` (None: no one has it).  The caller
    commits ``session``."""
    found = await session.exec(select(Person).where(Person.email == normalise_email(email)))
    person = found.first()
    if person is None or person.id is None:
        return None
    person_id = person.id
    person.email = f"forgotten-{secrets.token_hex(8)}@{FORGOTTEN_DOMAIN}"
    person.display_name = FORGOTTEN_NAME
    session.add(person)
    mine = (
        delete(PlatformIdentity).where(col(PlatformIdentity.person_id) == person_id),
        delete(ConversationReference).where(col(ConversationReference.person_id) == person_id),
        delete(Membership).where(col(Membership.person_id) == person_id),
        delete(PersonSchedule).where(col(PersonSchedule.person_id) == person_id),
    )
    counts = [await _delete(session, statement) for statement in mine]
    unsent = await _delete(
        session,
        delete(Delivery).where(
            col(Delivery.person_id) == person_id,
            col(Delivery.status).in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
        ),
    )
    await _delete(
        session,
        delete(Reminder).where(col(Reminder.person_id) == person_id, pending_reminder()),
    )
    blanked = await _blank_kudos(session, person_id) if kudos_text else None
    return Forgotten(counts[0], counts[1], counts[2], unsent, blanked)


async def _delete(session: AsyncSession, statement: object) -> int:
    """Run a DELETE or UPDATE; how many rows it changed."""
    result = await session.exec(statement)  # type: ignore[call-overload]
    return int(result.rowcount)


async def _blank_kudos(session: AsyncSession, person_id: int) -> int:
    received = select(RecognitionRecipient.recognition_id).where(
        RecognitionRecipient.person_id == person_id
    )
    theirs = or_(
        col(Recognition.giver_id) == person_id,
        col(Recognition.id).in_(received.scalar_subquery()),
    )
    return await _delete(
        session,
        update(Recognition)
        .where(theirs, col(Recognition.message) != REMOVED_KUDOS)
        .values(message=REMOVED_KUDOS),
    )


async def comment_count(session: AsyncSession) -> int:
    """Comments held (on statements and general): what ``teampulse data prune`` reports."""
    statements = await session.exec(
        select(func.count()).select_from(Response).where(col(Response.comment).is_not(None))
    )
    general = await session.exec(select(func.count()).select_from(GeneralComment))
    return statements.one() + general.one()

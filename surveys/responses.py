"""Submitting a pulse: one card, all answers, one transaction, no link to the person.

Under load, the cards that arrive together are recorded together (``submit_many``, driven by the
service's group commit): one transaction, one lock per round, one multi-row insert.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from textblob import TextBlob

from storage.models import Delivery, Participation, PulseRound, Response, random_id
from surveys.anonymity import format_digests, parse_digests, participation_digest
from surveys.rounds import questions_for

MAX_COMMENT = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and line breaks are kept


class SubmitOutcome(StrEnum):
    ACCEPTED = "accepted"
    ALREADY_ANSWERED = "already_answered"
    CLOSED = "closed"
    NOT_INVITED = "not_invited"
    INVALID = "invalid"


@dataclass(frozen=True)
class SubmitResult:
    outcome: SubmitOutcome
    reason: str = ""


_ALREADY = SubmitResult(SubmitOutcome.ALREADY_ANSWERED, "You have already answered this pulse.")


@dataclass(frozen=True)
class Submission:
    round_id: int
    answers: dict[str, int]
    comments: dict[str, str]


def sentiment_of(text: str) -> float:
    """TextBlob's lexicon polarity in [-1, 1]; computed once, when the comment is stored."""
    return float(TextBlob(text).sentiment.polarity)


async def has_answered(session: AsyncSession, secret: bytes, round_id: int, person_id: int) -> bool:
    participation = await session.get(Participation, round_id)
    digests = parse_digests(participation.digests) if participation else set()
    return participation_digest(secret, round_id, person_id) in digests


async def pending_rounds(
    session: AsyncSession, secret: bytes, person_id: int
) -> list[tuple[PulseRound, list[str]]]:
    """Open rounds this person was asked and has not answered, with their questions."""
    query = (
        select(PulseRound, Delivery)
        .join(Delivery, col(Delivery.round_id) == col(PulseRound.id))
        .where(Delivery.person_id == person_id, col(PulseRound.closed).is_(False))
        .order_by(col(PulseRound.opened_on))
    )
    pending = []
    for pulse_round, delivery in (await session.exec(query)).all():
        assert pulse_round.id is not None
        if not await has_answered(session, secret, pulse_round.id, person_id):
            pending.append((pulse_round, questions_for(pulse_round, delivery.group_index)))
    return pending


def _validate(submission: Submission, asked: list[str]) -> str | None:
    if set(submission.answers) != set(asked):
        missing = len(set(asked) - set(submission.answers))
        if missing:
            return f"Please answer all {len(asked)} statements ({missing} left)."
        return "That answer does not match the questions you were asked."
    if any(not isinstance(s, int) or not 1 <= s <= 5 for s in submission.answers.values()):
        return "Each answer must be one of the five choices (1 to 5)."
    if set(submission.comments) - set(asked):
        return "A comment must be about one of the statements you were asked."
    if any(len(c) > MAX_COMMENT for c in submission.comments.values()):
        return f"Comments are limited to {MAX_COMMENT} characters."
    return None


@dataclass(frozen=True)
class Entry:
    """One person's card, as handed to ``submit_many``."""

    person_id: int
    submission: Submission


async def submit(
    session: AsyncSession, secret: bytes, person_id: int, submission: Submission, today: date
) -> SubmitResult:
    """Record one pulse.  Commits before returning ACCEPTED, so an acked answer is never lost."""
    [result] = await submit_many(session, secret, [Entry(person_id, submission)], today)
    return result


async def submit_many(
    session: AsyncSession, secret: bytes, entries: Sequence[Entry], today: date
) -> list[SubmitResult]:
    """Record several people's pulses in one transaction (a group commit); one result per entry,
    each what it would have been alone.  Commits before returning if any was ACCEPTED.

    The rows go in in a random order, so their order on disk (PostgreSQL's heap) does not follow
    the order the cards arrived in.
    """
    invitations = await _invitations(session, entries)
    results = [_check(invitations.get(_key(entry)), entry.submission) for entry in entries]
    valid = [i for i, result in enumerate(results) if result is None]
    # the comments' polarity is worked out before the participation rows are locked, so TextBlob's
    # time is not spent while other people's answers to those rounds wait
    rows = {i: _rows(entries[i].submission, invitations[_key(entries[i])], today) for i in valid}
    digests = await _locked_digests(session, {entries[i].submission.round_id for i in valid})
    admitted = _admit(secret, [entries[i] for i in valid], digests)
    first = [i for i, ok in zip(valid, admitted, strict=True) if ok]
    for i in valid:
        results[i] = SubmitResult(SubmitOutcome.ACCEPTED) if i in first else _ALREADY
    if first:
        rounds = {entries[i].submission.round_id for i in first}
        answers = [row for i in first for row in rows[i]]
        await _store(session, answers, {round_id: digests[round_id] for round_id in rounds})
        await session.commit()
    else:
        await session.rollback()
    return [result for result in results if result is not None]


def _admit(secret: bytes, entries: list[Entry], digests: dict[int, set[str]]) -> list[bool]:
    """Whether each card is its person's first answer to its round, adding the digests of those
    that are (so a second card from the same person in the same batch is refused too)."""
    admitted = []
    for entry in entries:
        round_id = entry.submission.round_id
        digest = participation_digest(secret, round_id, entry.person_id)
        admitted.append(digest not in digests[round_id])
        digests[round_id].add(digest)
    return admitted


def _key(entry: Entry) -> tuple[int, int]:
    return entry.submission.round_id, entry.person_id


async def _invitations(
    session: AsyncSession, entries: Sequence[Entry]
) -> dict[tuple[int, int], tuple[PulseRound, int]]:
    """(round, person) -> (the round, the person's question group) for each pulse sent."""
    query = (
        select(PulseRound, Delivery.person_id, Delivery.group_index)
        .join(Delivery, col(Delivery.round_id) == col(PulseRound.id))
        .where(
            col(PulseRound.id).in_({e.submission.round_id for e in entries}),
            col(Delivery.person_id).in_({e.person_id for e in entries}),
        )
    )
    found = {}
    for pulse_round, person_id, group_index in (await session.exec(query)).all():
        assert pulse_round.id is not None
        found[(pulse_round.id, person_id)] = (pulse_round, group_index)
    return found


def _check(
    invitation: tuple[PulseRound, int] | None, submission: Submission
) -> SubmitResult | None:
    """Why the card can't be taken, or None when it can (the digest is checked later)."""
    if invitation is None:
        return SubmitResult(SubmitOutcome.NOT_INVITED, "This pulse was not sent to you.")
    pulse_round, group_index = invitation
    if pulse_round.closed:
        return SubmitResult(
            SubmitOutcome.CLOSED, "This pulse has closed, so it no longer takes answers."
        )
    problem = _validate(submission, questions_for(pulse_round, group_index))
    return SubmitResult(SubmitOutcome.INVALID, problem) if problem else None


def _rows(
    submission: Submission, invitation: tuple[PulseRound, int], today: date
) -> list[dict[str, Any]]:
    """The card's response rows: a fresh random submission id, no link to the person."""
    pulse_round = invitation[0]
    submission_id = random_id()
    rows = []
    for question_id, score in submission.answers.items():
        comment = _clean(submission.comments.get(question_id) or "") or None
        rows.append(
            {
                "id": random_id(),
                "submission_id": submission_id,
                "round_id": pulse_round.id,
                "team_id": pulse_round.team_id,
                "question_id": question_id,
                "score": score,
                "comment": comment,
                "sentiment": sentiment_of(comment) if comment else None,
                "day": today,
            }
        )
    return rows


def _clean(comment: str) -> str:
    """The comment's words without control characters (PostgreSQL refuses NUL in text, and no
    one means to write a bell), tabs and line breaks kept."""
    return _CONTROL.sub("", comment).strip()


async def _locked_digests(session: AsyncSession, round_ids: set[int]) -> dict[int, set[str]]:
    """The rounds' participation digests, their rows locked until the commit (in round order,
    so two batches never wait for each other in a circle)."""
    if not round_ids:
        return {}
    query = (
        select(Participation.round_id, Participation.digests)
        .where(col(Participation.round_id).in_(round_ids))
        .order_by(col(Participation.round_id))
        .with_for_update()
    )
    return {round_id: parse_digests(text) for round_id, text in (await session.exec(query)).all()}


async def _store(
    session: AsyncSession, rows: list[dict[str, Any]], digests: dict[int, set[str]]
) -> None:
    """Two executemanys of plain rows: the rounds' new digests, then the answers."""
    participation = Participation.__table__  # type: ignore[attr-defined]
    set_digests = (
        update(participation)
        .where(participation.c.round_id == bindparam("key"))
        .values(digests=bindparam("text"), respondents=bindparam("count"))
    )
    connection = await session.connection()
    await connection.execute(
        set_digests,
        [
            {"key": round_id, "text": format_digests(found), "count": len(found)}
            for round_id, found in digests.items()
        ],
    )
    random.SystemRandom().shuffle(rows)
    await connection.execute(insert(Response.__table__), rows)  # type: ignore[attr-defined]


async def streak(session: AsyncSession, secret: bytes, person_id: int) -> int:
    """How many of the most recent closed rounds this person was asked, in a row, they answered.

    Only for showing the person themself (their own Home tab): it reads the participation
    digests, which say whether they answered, never what.
    """
    query = (
        select(PulseRound)
        .join(Delivery, col(Delivery.round_id) == col(PulseRound.id))
        .where(Delivery.person_id == person_id, col(PulseRound.closed).is_(True))
        .order_by(col(PulseRound.opened_on).desc(), col(PulseRound.id).desc())
    )
    count = 0
    for pulse_round in (await session.exec(query)).all():
        assert pulse_round.id is not None
        if not await has_answered(session, secret, pulse_round.id, person_id):
            break
        count += 1
    return count

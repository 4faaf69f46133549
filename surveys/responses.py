"""Submitting a pulse: one card, all answers, one transaction, no link to the person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from textblob import TextBlob

from storage.models import Delivery, Participation, PulseRound, Response, random_id
from surveys.anonymity import format_digests, parse_digests, participation_digest
from surveys.rounds import questions_for

MAX_COMMENT = 1000


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


async def submit(
    session: AsyncSession, secret: bytes, person_id: int, submission: Submission, today: date
) -> SubmitResult:
    """Record a pulse.  Commits before returning ACCEPTED, so an acked answer is never lost."""
    pulse_round = await session.get(PulseRound, submission.round_id)
    delivery = None
    if pulse_round is not None:
        query = select(Delivery).where(
            Delivery.round_id == submission.round_id, Delivery.person_id == person_id
        )
        delivery = (await session.exec(query)).first()
    if pulse_round is None or delivery is None:
        return SubmitResult(SubmitOutcome.NOT_INVITED, "This pulse was not sent to you.")
    if pulse_round.closed:
        return SubmitResult(
            SubmitOutcome.CLOSED, "This pulse has closed, so it no longer takes answers."
        )
    problem = _validate(submission, questions_for(pulse_round, delivery.group_index))
    if problem:
        return SubmitResult(SubmitOutcome.INVALID, problem)
    return await _record(session, secret, person_id, pulse_round, submission, today)


async def _record(
    session: AsyncSession,
    secret: bytes,
    person_id: int,
    pulse_round: PulseRound,
    submission: Submission,
    today: date,
) -> SubmitResult:
    assert pulse_round.id is not None
    # the comment's polarity is worked out before the round's participation row is locked, so
    # TextBlob's time is not spent while other people's answers to the round wait
    comments = {
        question_id: (submission.comments.get(question_id) or "").strip() or None
        for question_id in submission.answers
    }
    moods = {qid: sentiment_of(text) for qid, text in comments.items() if text}
    locked = select(Participation).where(Participation.round_id == pulse_round.id).with_for_update()
    participation = (await session.exec(locked)).one()
    digests = parse_digests(participation.digests)
    digest = participation_digest(secret, pulse_round.id, person_id)
    if digest in digests:
        await session.rollback()
        return SubmitResult(SubmitOutcome.ALREADY_ANSWERED, "You have already answered this pulse.")
    digests.add(digest)
    participation.digests = format_digests(digests)
    participation.respondents = len(digests)
    session.add(participation)
    submission_id = random_id()
    for question_id, score in submission.answers.items():
        session.add(
            Response(
                submission_id=submission_id,
                round_id=pulse_round.id,
                team_id=pulse_round.team_id,
                question_id=question_id,
                score=score,
                comment=comments[question_id],
                sentiment=moods.get(question_id),
                day=today,
            )
        )
    await session.commit()
    return SubmitResult(SubmitOutcome.ACCEPTED)


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

"""Submitting a pulse: one card, all answers, one transaction, no link to the person.

An answer's transaction writes answer rows and nothing else: who answered is admitted by a
``participation.Gate`` (held in memory, written later in batches of at least k people, so the
database's own log cannot pair an answer with its author: ``surveys/participation.py``).

Under load, the cards that arrive together are recorded together (``submit_many``, driven by the
service's group commit): one transaction, one multi-row insert.

A card's comment is either tied to one of its statements (stored on that answer's row, and shown
under that statement's theme) or general (a ``general_comment`` row holding only its round and its
words, shown under "General").  Both are written in the answers' own transaction and nowhere else.
Their mood (``moods_of``) is worked out before the card joins a batch, by the request that sent it:
the first comment of a process loads TextBlob's lexicon (``surveys/mood.py``), and only its author
should wait for that, not every card committed with it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Delivery, GeneralComment, PulseRound, Response, random_id
from surveys import mood
from surveys.anonymity import participation_digest
from surveys.forms import ABOUT, COMMENT, PICK_ONE, FieldProblem
from surveys.invitations import Invitation, by_person
from surveys.participation import Answered, Gate, Key
from surveys.rounds import questions_for

MAX_COMMENT = 1000
NOT_SENT = "This pulse was not sent to you."
# The ``comments`` key of a comment about the card as a whole, tied to no statement (no question
# id is empty): what a platform sends when the person leaves "about" on General.
GENERAL = ""
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
    problems: tuple[FieldProblem, ...] = ()  # INVALID: what is wrong, field by field
    team: str = ""  # ACCEPTED: the name of the team the pulse was sent to (for the receipt)


_ALREADY = SubmitResult(SubmitOutcome.ALREADY_ANSWERED, "You have already answered this pulse.")


@dataclass(frozen=True)
class Submission:
    """One card: its answers (question id -> 1..5), its comments on statements (question id ->
    words; ``GENERAL`` -> a general comment) and ``general_comment`` (the same, as an argument).
    """

    round_id: int
    answers: dict[str, int]
    comments: dict[str, str]
    general_comment: str = ""

    @property
    def general(self) -> str:
        """The card's general comment, however it was given ("" when none)."""
        if self.general_comment.strip():
            return self.general_comment
        return self.comments.get(GENERAL) or ""

    def tied(self) -> dict[str, str]:
        """The comments tied to a statement: question id -> words."""
        return {about: words for about, words in self.comments.items() if about != GENERAL}


# A card's comments' polarity, by their cleaned words (``_clean``): what ``submit_many`` stores
Moods = Mapping[str, float]


async def moods_of(submission: Submission, max_comment: int = MAX_COMMENT) -> dict[str, float]:
    """The polarity of each of the card's comments, to hand to ``submit_many`` with it.

    Called by the submitting request before its card joins the group commit, so no other card
    waits on it: the process's first comment loads TextBlob's lexicon in a thread
    (``mood.prepare``), and nothing CPU-heavy runs in the answers' transaction.  A comment too
    long to be accepted is skipped (the card is refused anyway)."""
    words = [*submission.tied().values(), submission.general]
    cleaned = {_clean(text) for text in words if len(text) <= max_comment}
    cleaned.discard("")
    if not cleaned:
        return {}
    await mood.prepare()
    return {text: sentiment_of(text) for text in cleaned}


def moods_wait(submission: Submission) -> bool:
    """Whether ``moods_of(submission)`` may wait: a comment before TextBlob's lexicon has been
    loaded in this process."""
    if mood.ready():
        return False
    return any(text.strip() for text in (*submission.tied().values(), submission.general))


def sentiment_of(text: str) -> float:
    """TextBlob's lexicon polarity in [-1, 1], ``TextBlob(text).sentiment.polarity``; computed
    once, when the comment is stored.  Asked of the lexicon's scorer itself (``surveys/mood.py``),
    which TextBlob's default analyser calls after defining a new named-tuple class for every text
    (a third of its time; tests/test_comment_moods.py holds the two equal)."""
    return mood.polarity(text)


async def pending_rounds(
    session: AsyncSession, person_id: int, answered: Answered, round_id: int | None = None
) -> list[tuple[PulseRound, list[str]]]:
    """Open rounds this person was asked and has not answered (only ``round_id`` when given),
    with their questions."""
    query = (
        select(PulseRound, Delivery)
        .join(Delivery, col(Delivery.round_id) == col(PulseRound.id))
        .where(Delivery.person_id == person_id, col(PulseRound.closed).is_(False))
        .order_by(col(PulseRound.opened_on))
    )
    if round_id is not None:
        query = query.where(PulseRound.id == round_id)
    found = [(r, d) for r, d in (await session.exec(query)).all() if r.id is not None]
    done = await answered(session, [(r.id, person_id) for r, _ in found if r.id is not None])
    return [
        (pulse_round, questions_for(pulse_round, delivery.group_index))
        for pulse_round, delivery in found
        if (pulse_round.id, person_id) not in done
    ]


def _invalid(reason: str, *problems: FieldProblem) -> SubmitResult:
    return SubmitResult(SubmitOutcome.INVALID, reason, problems)


def _validate(
    submission: Submission, asked: list[str], max_comment: int = MAX_COMMENT
) -> SubmitResult | None:
    """The one check of a card's answers and comments (every platform's form relies on it)."""
    missing = [question for question in asked if question not in submission.answers]
    if missing:
        return _invalid(
            f"Please answer all {len(asked)} statements ({len(missing)} left).",
            *(FieldProblem(question, PICK_ONE) for question in missing),
        )
    if set(submission.answers) != set(asked):
        return _invalid("That answer does not match the questions you were asked.")
    wrong = [q for q, s in submission.answers.items() if not _is_score(s)]
    if wrong:
        return _invalid(
            "Each answer must be one of the five choices (1 to 5).",
            *(FieldProblem(question, PICK_ONE) for question in wrong),
        )
    if set(submission.tied()) - set(asked):
        text = "A comment must be about one of the statements you were asked, or general."
        return _invalid(text, FieldProblem(ABOUT, text))
    problem = _comment_problem(submission, max_comment)
    return _invalid(problem, FieldProblem(COMMENT, problem)) if problem else None


def _is_score(value: object) -> bool:
    """1 to 5, as a number (``true`` is not one, though Python counts it as 1)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5


def _comment_problem(submission: Submission, max_comment: int) -> str | None:
    tied = submission.tied()
    if submission.general_comment.strip() and (submission.comments.get(GENERAL) or "").strip():
        return "Please send one general comment."
    words = [*tied.values(), submission.general]
    if any(len(c) > max_comment for c in words):
        return f"Comments are limited to {max_comment} characters."
    return None


@dataclass(frozen=True)
class Entry:
    """One person's card, as handed to ``submit_many``."""

    person_id: int
    submission: Submission
    moods: Moods  # its comments' polarity (``moods_of``), worked out before the batch


async def submit_many(
    session: AsyncSession,
    secret: bytes,
    entries: Sequence[Entry],
    today: date,
    gate: Gate,
    max_comment: int = MAX_COMMENT,
    invitations: dict[tuple[int, int], Invitation] | None = None,
) -> list[SubmitResult]:
    """Record several people's pulses in one transaction (a group commit); one result per entry,
    each what it would have been alone.  Commits before returning if any was ACCEPTED.

    The transaction inserts answer rows only; ``gate`` decides which cards are first answers
    and keeps who answered out of it.  The rows go in in a random order, so their order on disk
    (PostgreSQL's heap) does not follow the order the cards arrived in.

    ``invitations``: the entries' invitations, read in this transaction already (with their
    people: ``surveys.invitations.by_email``); read here otherwise.
    """
    if invitations is None:
        invitations = await by_person(session, (_key(entry) for entry in entries))
    results = [
        _check(invitations.get(_key(entry)), entry.submission, max_comment) for entry in entries
    ]
    valid = [i for i, result in enumerate(results) if result is None]
    rows = {i: _rows(entries[i], invitations[_key(entries[i])], today) for i in valid}
    general = {i: _general_row(entries[i], invitations[_key(entries[i])]) for i in valid}
    keys: list[Key] = [(entries[i].submission.round_id, _digest(secret, entries[i])) for i in valid]
    admitted = await gate.admit(session, keys)
    first = [i for i, ok in zip(valid, admitted, strict=True) if ok]
    accepted = set(first)
    for i in valid:
        team = invitations[_key(entries[i])].team
        results[i] = SubmitResult(SubmitOutcome.ACCEPTED, team=team) if i in accepted else _ALREADY
    if not first:
        await session.rollback()
        return [result for result in results if result is not None]
    taken = [key for key, ok in zip(keys, admitted, strict=True) if ok]
    try:
        await _store(session, [row for i in first for row in rows[i]])
        await _store_general(session, [row for i in first if (row := general[i]) is not None])
    except BaseException:
        await gate.settle(taken, committed=False)
        raise
    try:
        await session.commit()
    except BaseException:  # cut off in flight, the commit may have landed (``Gate.settle``)
        await gate.settle(taken, committed=False, in_doubt=True)
        raise
    await gate.settle(taken, committed=True)
    return [result for result in results if result is not None]


def _digest(secret: bytes, entry: Entry) -> str:
    return participation_digest(secret, entry.submission.round_id, entry.person_id)


def _key(entry: Entry) -> tuple[int, int]:
    return entry.submission.round_id, entry.person_id


def _check(
    invitation: Invitation | None, submission: Submission, max_comment: int
) -> SubmitResult | None:
    """Why the card can't be taken, or None when it can (the digest is checked later)."""
    if invitation is None:
        return SubmitResult(SubmitOutcome.NOT_INVITED, NOT_SENT)
    if invitation.closed:
        return SubmitResult(
            SubmitOutcome.CLOSED, "This pulse has closed, so it no longer takes answers."
        )
    return _validate(submission, invitation.questions(), max_comment)


def _rows(entry: Entry, invitation: Invitation, today: date) -> list[dict[str, Any]]:
    """The card's response rows: a fresh random submission id, no link to the person."""
    submission_id = random_id()
    rows = []
    tied = entry.submission.tied()
    for question_id, score in entry.submission.answers.items():
        comment = _clean(tied.get(question_id) or "") or None
        rows.append(
            {
                "id": random_id(),
                "submission_id": submission_id,
                "round_id": invitation.round_id,
                "team_id": invitation.team_id,
                "question_id": question_id,
                "score": score,
                "comment": comment,
                "sentiment": entry.moods[comment] if comment else None,
                "day": today,
            }
        )
    return rows


def _general_row(entry: Entry, invitation: Invitation) -> dict[str, Any] | None:
    """The card's general comment row, if it has one: its round and its words, nothing that
    joins it to the card's answers (no card id, score or day)."""
    comment = _clean(entry.submission.general)
    if not comment:
        return None
    return {
        "id": random_id(),
        "round_id": invitation.round_id,
        "comment": comment,
        "sentiment": entry.moods[comment],
    }


def _clean(comment: str) -> str:
    """The comment's words without control characters (PostgreSQL refuses NUL in text, and no
    one means to write a bell), tabs and line breaks kept."""
    return _CONTROL.sub("", comment).strip()


async def _store(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """One executemany of plain rows, in a random order."""
    random.SystemRandom().shuffle(rows)
    connection = await session.connection()
    await connection.execute(insert(Response.__table__), rows)  # type: ignore[attr-defined]


async def _store_general(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """The batch's general comments, in a random order (not the order the cards arrived in)."""
    if rows:
        random.SystemRandom().shuffle(rows)
        connection = await session.connection()
        await connection.execute(insert(GeneralComment.__table__), rows)  # type: ignore[attr-defined]


async def streak(session: AsyncSession, person_id: int, answered: Answered) -> int:
    """How many of the most recent closed rounds this person was asked, in a row, they answered.

    Only for showing the person themself (their own Home tab): it reads who answered (the
    participation digests, written and pending), which says whether they answered, never what.
    """
    query = (
        select(PulseRound.id)
        .join(Delivery, col(Delivery.round_id) == col(PulseRound.id))
        .where(Delivery.person_id == person_id, col(PulseRound.closed).is_(True))
        .order_by(col(PulseRound.opened_on).desc(), col(PulseRound.id).desc())
    )
    round_ids = [round_id for round_id in (await session.exec(query)).all() if round_id]
    done = await answered(session, [(round_id, person_id) for round_id in round_ids])
    count = 0
    for round_id in round_ids:
        if (round_id, person_id) not in done:
            break
        count += 1
    return count

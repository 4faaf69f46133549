"""A pulse card opened and submitted from a platform's form (a Slack modal, an Adaptive Card,
the console): the core says whether it may be opened and checks what comes back, once."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.outage import Deadline, StillRunning, within
from bot.service import GENERAL_COMMENT, TeamPulse, UnknownPerson
from bot.views import PulseCard, Receipt, TextReply, View
from bot.words import GONE, NOT_KNOWN
from surveys.rounds import is_round_id


@dataclass(frozen=True)
class CardForm:
    """What a pulse form carries back when it is submitted (Slack's modal metadata, an Adaptive
    Card's submit data): the round, its questions in order, and where the card was shown, in the
    platform's own words (``shown_in``: a message's channel and ts, say), to put the receipt
    there.  Serialised with readable keys."""

    round_id: int
    questions: tuple[str, ...]
    shown_in: tuple[tuple[str, str], ...] = ()

    def dumps(self) -> str:
        data = {"round": self.round_id, "questions": list(self.questions), **dict(self.shown_in)}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, text: Any, renamed: Mapping[str, str] | None = None) -> CardForm | None:
        """The form back, or None when it isn't one; ``renamed``: a platform's older key names
        (a form opened before an upgrade still submits)."""
        try:
            data = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        data = {(renamed or {}).get(key, key): value for key, value in data.items()}
        round_id, questions = data.pop("round", None), data.pop("questions", None)
        if not is_round_id(round_id) or not isinstance(questions, list):
            return None
        if not all(isinstance(question, str) for question in questions):
            return None
        # where the card was shown only places the receipt: an older form's flag (``1``) is
        # read as text, a missing place (``null``) as none, and neither refuses the answers
        shown_in = tuple(
            (key, str(value))
            for key, value in data.items()
            if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
        )
        return cls(round_id, tuple(questions), shown_in)

    def where(self, key: str) -> str | None:
        return dict(self.shown_in).get(key)


def comments_for(comment: str, about: str | None, asked: Sequence[str]) -> dict[str, str]:
    """Where a card's one comment is filed (the one place that decides this): under the
    statement ``about`` names (its theme's), or ``GENERAL_COMMENT`` for a general comment, the
    default every platform offers.  ``about=None``: the form offered no choice (a Slack modal
    opened before it did), so the comment goes under the first statement, as such forms did."""
    comment = comment.strip()
    if not comment:
        return {}
    if about is not None:
        return {about: comment}
    return {asked[0]: comment} if asked else {GENERAL_COMMENT: comment}


async def open_card(service: TeamPulse, email: str, round_id: int) -> PulseCard | TextReply:
    """The card of one round waiting for this person, or a notice saying why there is none."""
    try:
        card = await service.pending_pulse(email, round_id)
    except UnknownPerson:
        return TextReply(NOT_KNOWN, kind="error")
    return card if card is not None else TextReply(GONE)


async def submit_card(
    service: TeamPulse,
    email: str,
    round_id: int,
    answers: dict[str, int],
    comment: str,
    about: str | None,
    *,
    asked: Sequence[str] = (),
    by: Deadline,
) -> Receipt | TextReply | StillRunning[Receipt | TextReply]:
    """Record a card: a ``Receipt``, or a ``TextReply`` saying why not (with ``problems`` field
    by field when the form itself needs changing).  ``asked``: the card's question ids in order,
    when the form carries them; otherwise the card is looked up if a comment needs them.  The
    person waits until ``by`` (``DatabaseUnavailable`` past it; ``StillRunning`` when the card's
    commit was under way then, see ``bot/outage.py``)."""
    try:
        if comment.strip() and about is None and not asked:  # (a form older than ``asked``)
            asked = await within(by, _asked(service, email, round_id), "a pulse submission")
        comments = comments_for(comment, about, asked)
        view = await service.submit_pulse_by(by, email, round_id, answers, comments)
    except UnknownPerson:
        return TextReply(NOT_KNOWN, kind="error")
    if isinstance(view, StillRunning):
        return view.then(_reply_after)
    return _reply(view)


async def _asked(service: TeamPulse, email: str, round_id: int) -> list[str]:
    card = await service.pending_pulse(email, round_id)
    return [question.id for question in card.questions] if card else []


def _reply(view: View) -> Receipt | TextReply:
    return view if isinstance(view, Receipt | TextReply) else TextReply(GONE)


async def _reply_after(running: Awaitable[View]) -> Receipt | TextReply:
    try:
        return _reply(await running)
    except UnknownPerson:
        return TextReply(NOT_KNOWN, kind="error")

"""Pulse cards for ``TeamPulse``: a round's card, the cards waiting for a person, and a batch of
submitted cards committed together (``bot.batching``), each answered with the view it would have
got alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.members import UnknownPerson
from bot.views import CardQuestion, PulseCard, Receipt, TextReply, View
from storage.models import PulseRound, Team
from surveys import invitations, responses, rounds
from surveys.bank import load_bank

if TYPE_CHECKING:
    from bot.service import TeamPulse

RECEIPT = (
    "Thank you, your answers to the {team} pulse are in. They are stored with no link to you: "
    "no name, no account id and no time finer than the day. Results are shown only for groups of "
    "at least {k} people, after the pulse closes. Because nothing links the answers to you, they "
    "cannot be changed or withdrawn."
)


@dataclass(frozen=True)
class SubmittedCard:
    """A pulse card on its way into the group commit, with its comments' polarity worked out
    beforehand by the request that sent it (``responses.moods_of``)."""

    email: str
    submission: responses.Submission
    moods: responses.Moods


def card(
    pulse_round: PulseRound, team: Team, question_ids: list[str], comment_max: int
) -> PulseCard:
    bank = load_bank()
    questions = tuple(
        CardQuestion(id=q.id, text=q.text, theme=bank.theme_name(q.theme))
        for q in (bank.question(qid) for qid in question_ids)
    )
    assert pulse_round.id is not None
    return PulseCard(
        round_id=pulse_round.id,
        team=team.name,
        closes_on=f"{pulse_round.closes_on:%A %d %B}",
        questions=questions,
        comment_max=comment_max,
    )


async def pending(service: TeamPulse, email: str, round_id: int | None = None) -> list[PulseCard]:
    """The cards waiting for this person (open, sent to them, not answered), or that of one
    round; ``UnknownPerson`` for someone outside the organisation."""
    if round_id is not None and not rounds.is_round_id(round_id):
        return []
    async with service.db.session() as session:
        person = await service.person(session, email)
        assert person.id is not None
        cards = []
        for pulse_round, question_ids in await responses.pending_rounds(
            session, person.id, service.answered, round_id
        ):
            team = await session.get(Team, pulse_round.team_id)
            assert team is not None
            cards.append(card(pulse_round, team, question_ids, service.settings.comment_max_chars))
        return cards


async def submit_cards(
    service: TeamPulse, cards: Sequence[SubmittedCard]
) -> list[View | Exception]:
    """One transaction for the batch; each card gets the view it would have got alone.  Who
    answered is written afterwards, in its own transaction, once a round has enough pending
    (``bot/ledger.py``)."""
    service.metrics.submit_batch.observe(len(cards))
    async with service.participants.lock:
        await service.participants.reserve(c.submission.round_id for c in cards)
        async with service.db.session() as session:
            people, found = await invitations.by_email(
                session, ((c.submission.round_id, c.email) for c in cards)
            )
            known = [c for c in cards if c.email in people]
            entries = [responses.Entry(people[c.email], c.submission, c.moods) for c in known]
            results = await responses.submit_many(
                session,
                service.secret,
                entries,
                service.today(),
                service.participants,
                service.settings.comment_max_chars,
                found,
            )
        await service.participants.flush_due()
    by_card = dict(zip(map(id, known), results, strict=True))
    return [_card_view(service, each, by_card.get(id(each))) for each in cards]


def _card_view(
    service: TeamPulse,
    submitted: SubmittedCard,
    result: responses.SubmitResult | None,
) -> View | Exception:
    if result is None:
        return UnknownPerson(submitted.email)
    if result.outcome is responses.SubmitOutcome.ACCEPTED:
        return Receipt(
            round_id=submitted.submission.round_id,
            team=result.team,
            text=RECEIPT.format(team=result.team, k=service.settings.min_group),
        )
    kind = "info" if result.outcome is responses.SubmitOutcome.ALREADY_ANSWERED else "error"
    return TextReply(result.reason, kind=kind, problems=result.problems)

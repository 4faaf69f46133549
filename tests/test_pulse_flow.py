"""The pulse flow through the core, with a recording messenger in place of a platform."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.settings import Settings
from bot.team_choice import TeamChoiceError
from bot.views import PulseCard, Receipt, TextReply
from storage.engine import Database
from surveys.rounds import RoundError
from tests.support import FixedClock, answers_for, email, make_service


async def test_round_delivers_one_card_per_member_through_the_outbox(
    db: Database, settings: Settings
) -> None:
    service, messenger = await make_service(db, settings)
    message = await service.open_round(await service.team_named("Ward A"))
    assert "12 people" in message
    assert await service.deliver_outbox() == 12
    assert await service.deliver_outbox() == 0  # nothing is sent twice
    cards = [view for _, view in messenger.direct]
    assert sorted(to for to, _ in messenger.direct) == sorted(email(f"a{i}") for i in range(12))
    assert all(isinstance(card, PulseCard) and len(card.questions) == 3 for card in cards)


async def test_failed_delivery_is_retried_later_not_lost(db: Database, settings: Settings) -> None:
    clock = FixedClock()
    service, messenger = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward B"))
    messenger.fail_for = {email("b0")}
    assert await service.deliver_outbox() == 5
    messenger.fail_for = set()
    assert await service.deliver_outbox() == 0  # not due yet
    clock.now += timedelta(minutes=3)
    assert await service.deliver_outbox() == 1
    assert [to for to, _ in messenger.direct].count(email("b0")) == 1


async def test_submit_gives_receipt_and_refuses_a_second_answer(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    [card] = await service.pending_pulses(email("a1"))
    receipt = await service.submit_pulse(email("a1"), card.round_id, answers_for(card))
    assert isinstance(receipt, Receipt)
    assert "cannot be changed" in receipt.text
    again = await service.submit_pulse(email("a1"), card.round_id, answers_for(card, 1))
    assert isinstance(again, TextReply) and "already answered" in again.text
    assert await service.pending_pulses(email("a1")) == []


async def test_invalid_answers_are_refused_with_a_reason(db: Database, settings: Settings) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    [card] = await service.pending_pulses(email("a2"))
    partial = dict(list(answers_for(card).items())[:1])
    reply = await service.submit_pulse(email("a2"), card.round_id, partial)
    assert isinstance(reply, TextReply) and "Please answer all 3" in reply.text
    out_of_range = {qid: 9 for qid in answers_for(card)}
    reply = await service.submit_pulse(email("a2"), card.round_id, out_of_range)
    assert isinstance(reply, TextReply) and "five choices" in reply.text
    # nothing was recorded, so the pulse is still waiting
    assert len(await service.pending_pulses(email("a2"))) == 1


async def test_people_outside_the_round_and_closed_rounds_are_refused(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    [card] = await service.pending_pulses(email("a3"))
    outsider = await service.submit_pulse(email("b0"), card.round_id, answers_for(card))
    assert isinstance(outsider, TextReply) and "not sent to you" in outsider.text
    await service.close_round(await service.team_named("Ward A"))
    late = await service.submit_pulse(email("a3"), card.round_id, answers_for(card))
    assert isinstance(late, TextReply) and "closed" in late.text


async def test_a_team_cannot_have_two_open_rounds(db: Database, settings: Settings) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward B"))
    with pytest.raises(RoundError, match="already has an open pulse"):
        await service.open_round(await service.team_named("Ward B"))
    with pytest.raises(TeamChoiceError, match="no team called"):
        await service.open_round(await service.team_named("Ward Z"))


async def test_everyone_in_a_team_gets_the_same_statements_in_a_round(
    db: Database, settings: Settings
) -> None:
    """A card's statements must not tell which part of a team it came from (docs/anonymity.md)."""
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    question_sets = set()
    for i in range(12):
        [card] = await service.pending_pulses(email(f"a{i}"))
        question_sets.add(tuple(q.id for q in card.questions))
    assert len(question_sets) == 1


async def test_each_person_sees_every_question_before_any_repeats(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    seen: list[str] = []
    while True:
        await service.open_round(await service.team_named("Ward B"))
        [card] = await service.pending_pulses(email("b0"))
        new = [q.id for q in card.questions]
        if set(new) & set(seen):
            break
        seen.extend(new)
        await service.close_round(await service.team_named("Ward B"))
        clock.now += timedelta(days=7)
    async with db.session() as session:
        from sqlmodel import col, select

        from storage.models import Question

        active = (await session.exec(select(Question).where(col(Question.active)))).all()
    total = len(active)
    # the repeat only comes once every question has been asked (the last window may wrap)
    assert len(set(seen)) >= total - 2
    assert len(seen) == len(set(seen))


async def test_reminders_go_once_to_those_who_have_not_answered(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, messenger = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward B"))  # closes in 5 days
    await service.deliver_outbox()
    for i in range(4):
        [card] = await service.pending_pulses(email(f"b{i}"))
        await service.submit_pulse(email(f"b{i}"), card.round_id, answers_for(card))
    assert await service.send_reminders() == 0  # not due yet
    clock.now += timedelta(days=4)
    messenger.direct.clear()
    assert await service.send_reminders() == 2
    reminded = sorted(to for to, _ in messenger.direct)
    assert reminded == [email("b4"), email("b5")]
    assert all(isinstance(view, PulseCard) and view.reminder for _, view in messenger.direct)
    assert await service.send_reminders() == 0  # never twice

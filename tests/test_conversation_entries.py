"""The conversation's entries for forms and replies, as every platform calls them: a card opened
and submitted, kudos from a form, and who each reply is for."""

from __future__ import annotations

from sqlmodel import select

from bot.conversation import Conversation
from bot.settings import Settings
from bot.views import Audience, KudosPost, PulseCard, Receipt, TextReply
from storage.engine import Database
from storage.models import Recognition, Response
from surveys.trends import change_label
from tests.support import answers_for, email, make_service


async def test_cards_and_reports_are_private_and_the_rest_goes_to_the_asker(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    chat = Conversation(service)
    [help_reply] = await chat.ask(email("b1"), "pulse help")
    assert help_reply.audience is Audience.ASKER
    await service.open_round(await service.team_named("Ward B"))
    [card] = await chat.ask(email("b1"), "pulse")
    assert isinstance(card.view, PulseCard) and card.audience is Audience.PRIVATE
    assert "direct messages" in card.elsewhere
    [refused] = await chat.ask(email("b1"), "pulse trends")
    assert isinstance(refused.view, TextReply) and refused.audience is Audience.ASKER


async def test_opening_a_card_gives_the_card_or_says_why_not(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    chat = Conversation(service)
    await service.open_round(await service.team_named("Ward B"))
    [waiting] = await service.pending_pulses(email("b2"))
    card = await chat.open_card(email("b2"), waiting.round_id)
    assert card == waiting
    not_mine = await chat.open_card(email("a2"), waiting.round_id)
    assert isinstance(not_mine, TextReply) and "already answered" in not_mine.text
    stranger = await chat.open_card("stranger@elsewhere.example", waiting.round_id)
    assert isinstance(stranger, TextReply) and "don't know you" in stranger.text
    await chat.submit_card(email("b2"), waiting.round_id, answers_for(waiting), "", None)
    assert isinstance(await chat.open_card(email("b2"), waiting.round_id), TextReply)


async def test_a_submitted_card_is_checked_once_with_problems_by_field(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    chat = Conversation(service)
    await service.open_round(await service.team_named("Ward B"))
    [card] = await service.pending_pulses(email("b3"))
    first, *rest = [q.id for q in card.questions]

    partial = await chat.submit_card(email("b3"), card.round_id, {first: 4}, "", None)
    assert isinstance(partial, TextReply) and f"({len(rest)} left)" in partial.text
    assert {p.field for p in partial.problems} == set(rest)
    too_long = await chat.submit_card(
        email("b3"), card.round_id, answers_for(card), "x" * 1001, None
    )
    assert isinstance(too_long, TextReply)
    assert [p.field for p in too_long.problems] == ["comment"]

    last = rest[-1]
    receipt = await chat.submit_card(
        email("b3"), card.round_id, answers_for(card), "  Rota is fairer now ", last
    )
    assert isinstance(receipt, Receipt)
    async with service.db.session() as session:
        rows = (await session.exec(select(Response))).all()
    assert [(r.question_id, r.comment) for r in rows if r.comment] == [(last, "Rota is fairer now")]
    again = await chat.submit_card(email("b3"), card.round_id, answers_for(card), "", None)
    assert isinstance(again, TextReply) and "already answered" in again.text and not again.problems


async def test_a_comment_about_nothing_in_particular_is_filed_under_the_first_statement(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward B"))
    [card] = await service.pending_pulses(email("b4"))
    receipt = await Conversation(service).submit_card(
        email("b4"), card.round_id, answers_for(card), "Good handovers", None
    )
    assert isinstance(receipt, Receipt)
    async with service.db.session() as session:
        rows = (await session.exec(select(Response))).all()
    assert [(r.question_id, r.comment) for r in rows if r.comment] == [
        (card.questions[0].id, "Good handovers")
    ]


async def test_kudos_from_a_form_take_the_same_checks_and_path_as_the_command(
    db: Database, settings: Settings
) -> None:
    service, messenger = await make_service(db, settings)
    chat = Conversation(service)
    problem = chat.kudos_problems([], "   ", "")
    assert problem is not None
    assert {p.field for p in problem.problems} == {"recipients", "message", "value"}
    assert chat.kudos_problems([email("b1")], "thanks", "teamwork") is None

    [wrong] = await chat.give_kudos(email("a0"), [email("b1")], "thanks", "awesome")
    assert isinstance(wrong.view, TextReply) and "isn't one of our values" in wrong.view.text
    [yourself] = await chat.give_kudos(email("a0"), [email("a0")], "thanks", "teamwork")
    assert isinstance(yourself.view, TextReply) and "can't thank yourself" in yourself.view.text
    [given] = await chat.give_kudos(
        email("a0"), [email("b1")], " thanks\n for  the cover ", "teamwork"
    )
    assert isinstance(given.view, KudosPost) and given.audience is Audience.ASKER
    assert given.view.message == "thanks for the cover"
    assert {to for to, _ in messenger.direct} == {email("b1")}
    async with service.db.session() as session:
        assert len((await session.exec(select(Recognition))).all()) == 1


def test_a_change_is_worded_once_for_every_platform() -> None:
    assert change_label(0.4, significant=True) == "▲ +0.40"
    assert change_label(-0.3, significant=True) == "▼ -0.30"
    assert change_label(0.1, significant=False) == "· +0.10 (not a real change)"
    assert change_label(None, significant=False) == ""

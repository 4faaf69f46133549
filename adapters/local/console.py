"""``teampulse chat --as EMAIL``: the same conversation as the web chat, in a terminal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import click

from adapters.local.messenger import LocalMessenger
from adapters.local.render import to_text
from bot.conversation import Conversation
from bot.ports import Messenger
from bot.saving import StillSaving
from bot.service import GENERAL_COMMENT, TeamPulse, UnknownPerson
from bot.settings import Settings
from bot.views import PulseCard, TrendReportView, View

OpenService = Callable[[Settings, Messenger], Awaitable[TeamPulse]]


async def _ask(prompt: str) -> str:
    return await asyncio.to_thread(input, prompt)


async def answer_card(conversation: Conversation, email: str, card: PulseCard) -> View:
    click.echo(to_text(card))
    answers: dict[str, int] = {}
    for number, question in enumerate(card.questions, 1):
        scale = "  ".join(f"{value}={label}" for value, label in card.scale)
        while True:
            reply = (await _ask(f"{number}. {question.text}\n   {scale}\n   > ")).strip()
            if reply in {"1", "2", "3", "4", "5"}:
                answers[question.id] = int(reply)
                break
            click.echo("   Please type a number from 1 to 5.")
    comment = await _ask("Anything to add? (optional, press Enter to skip) > ")
    about = await _about(card) if comment.strip() else GENERAL_COMMENT
    asked = [question.id for question in card.questions]
    found = await conversation.submit_card(
        email, card.round_id, answers, comment, about, asked=asked
    )
    if isinstance(found, StillSaving):  # said now; the outcome (a terminal waits for it) after
        show(found.notice)
        return await found.outcome
    return found


async def _about(card: PulseCard) -> str:
    """What the comment is about: a statement's question id, or (Enter) General."""
    by_number = {str(n): question.id for n, question in enumerate(card.questions, 1)}
    numbers = ", ".join(by_number)
    while True:
        reply = (
            await _ask(f"   About which statement ({numbers})? Press Enter for general > ")
        ).strip()
        if not reply:
            return GENERAL_COMMENT
        if reply in by_number:
            return by_number[reply]
        click.echo(f"   Please type one of {numbers}, or press Enter for general.")


def show(view: View) -> None:
    click.echo(to_text(view))
    if isinstance(view, TrendReportView) and view.chart_png:
        click.echo(f"  (chart: {view.chart_alt})")


async def run_console(settings: Settings, email: str, open_service: OpenService) -> None:
    messenger = LocalMessenger()
    service = await open_service(settings, messenger)
    conversation = Conversation(service)
    try:
        try:
            cards = await service.pending_pulses(email)
        except UnknownPerson:
            raise click.ClickException(f"{email} is not in the organisation") from None
        click.echo(f"Chatting as {email}. Type `pulse help` for commands, `quit` to leave.")
        for card in cards:
            show(await answer_card(conversation, email, card))
        await _loop(conversation, messenger, email)
    finally:
        # who answered is written if it may be (bot/ledger.py); a lone answer to a round still
        # open stays unwritten, so the pulse shows again in a later chat
        await service.close()
        await service.db.dispose()


async def _loop(conversation: Conversation, messenger: LocalMessenger, email: str) -> None:
    """Every reply is shown here: the terminal is the person's own chat, private and asker
    alike."""
    while True:
        try:
            text = (await _ask("you> ")).strip()
        except EOFError:
            return
        if text.lower() in {"quit", "exit"}:
            return
        if not text:
            continue
        for reply in await conversation.ask(email, text):
            if isinstance(reply.view, PulseCard):
                show(await answer_card(conversation, email, reply.view))
            else:
                show(reply.view)
        for view in messenger.take_inbox(email):
            show(view)

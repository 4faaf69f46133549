"""An Adaptive Card's buttons: ``Action.Execute`` (an ``adaptiveCard/action`` invoke, answered
with the card that replaces the one clicked) and its ``Action.Submit`` fallback for older clients
(a message whose ``value`` is the card's data; the answer replaces the card's message).

* ``pulse.submit``: the answers go to ``Conversation.submit_card``; the card becomes a receipt
  that shows no answer, or shows each refused field's problem beside it, with what was chosen
  kept.  A double click or a retried activity is recorded once: the core refuses a second card
  from the same person for a round, and the card then says the answers are already in.
  When the person's wait runs out while their answers' commit is under way, the card says they
  are still being saved, and the outcome replaces it after (``bot/saving.py``), as a proactive
  update of the card's message.
* ``pulse.open`` (the home card's "Answer"): the pulse card in place of the home card.
* ``trends`` (the home card, for managers): the report is sent below; the home card stays.

Only in the person's 1:1 chat: a card clicked in a channel or a group chat (a forwarded or
forged one) is answered with a notice and nothing else, since the card that replaces it (a
refused form keeps the answers chosen) and any report sent below it are seen by everyone there.

The pulse's path writes nothing that names the person (``remember=False``; no reference kept),
and is not de-duplicated by activity id (that would be a row written beside the answer).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from adapters.teams.adaptive import CONTENT_TYPE
from adapters.teams.cards import (
    PulseSubmission,
    attachment,
    card_for,
    notice_card,
    read_pulse_submission,
)
from adapters.teams.references import Json
from adapters.teams.render import rendered
from bot.outage import DatabaseUnavailable, within
from bot.saving import StillSaving
from bot.views import HomeView, PulseCard, Receipt, TextReply, View
from bot.words import NOT_KNOWN, UNAVAILABLE

if TYPE_CHECKING:
    from adapters.teams.sdk.inbound import Turn

if TYPE_CHECKING:
    from adapters.teams.chat import TeamsChat

SUBMIT, OPEN, TRENDS = "pulse.submit", "pulse.open", "trends"
ACTION = "adaptiveCard/action"
UNKNOWN_ACTION = "That button isn't one I know any more. Say `home` for your current card."
PERSONAL_ONLY = (
    "Everyone here would see this, so I only answer it in our personal chat. "
    "Open teampulse from your Teams apps and use the card there."
)


# Universal Actions' answer that shows a message and leaves the clicked card as it is
MESSAGE_TYPE = "application/vnd.microsoft.activity.message"


class KeepCard(Exception):
    """Nothing was done (the database is away): the card clicked stays, and ``text`` is shown."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class CardActions:
    def __init__(self, chat: TeamsChat) -> None:
        self.chat = chat

    async def on_invoke(self, turn: Turn) -> None:
        """Answer an ``Action.Execute`` with the card that replaces the clicked one."""
        if turn.activity.name != ACTION:
            return  # (the endpoint answers 400: teampulse answers no other invoke)
        action = turn.activity.value.get("action")
        action = action if isinstance(action, dict) else {}
        data = action.get("data")
        verb = action.get("verb")
        acted = self.act(
            turn, verb if isinstance(verb, str) else "", data if isinstance(data, dict) else {}
        )
        try:
            card = await within(None, acted, "a Teams card action")
        except (DatabaseUnavailable, KeepCard) as kept:
            # the clicked card stays as it was, every choice on it, and Teams shows the words
            said = kept.text if isinstance(kept, KeepCard) else UNAVAILABLE
            turn.invoke_response = {"statusCode": 200, "type": MESSAGE_TYPE, "value": said}
            return
        turn.invoke_response = {"statusCode": 200, "type": CONTENT_TYPE, "value": card}

    async def on_submit(self, turn: Turn) -> None:
        """The ``Action.Submit`` fallback: the same actions; the answer replaces the card."""
        value = turn.activity.value
        verb = {"pulse": SUBMIT, "open": OPEN, "trends": TRENDS}.get(str(value.get("teampulse")))
        try:
            card = await within(None, self.act(turn, verb or "", value), "a Teams card action")
        except (DatabaseUnavailable, KeepCard) as kept:  # the card stays; the words below it
            await turn.send_text(kept.text if isinstance(kept, KeepCard) else UNAVAILABLE)
            return
        replacement = {"type": "message", "attachments": [attachment(card)]}
        # (``replyToId`` is the sender's client's to write: elsewhere it could name any of the
        # bot's messages there, a kudos celebration, say)
        if turn.activity.reply_to_id and turn.activity.is_personal:
            await turn.update(turn.activity.reply_to_id, replacement)
        else:
            await turn.send(replacement)

    async def act(self, turn: Turn, verb: str, data: dict[str, Any]) -> dict[str, Any]:
        if not turn.activity.is_personal:
            return notice_card(TextReply(PERSONAL_ONLY, kind="error"))
        on_pulse = verb in {SUBMIT, OPEN}
        email = await self.chat.email_of(turn, remember=not on_pulse)
        if email is None:
            return notice_card(TextReply(NOT_KNOWN, kind="error"))
        if verb == SUBMIT:
            return await self.submit(turn, email, data)
        if verb == OPEN:
            return await self.open(email, data.get("round"))
        if verb == TRENDS:
            return await self.trends(turn, email)
        return notice_card(TextReply(UNKNOWN_ACTION))

    async def submit(self, turn: Turn, email: str, data: dict[str, Any]) -> dict[str, Any]:
        form = read_pulse_submission(data)
        if isinstance(form, TextReply):
            return notice_card(form)
        done = await self.chat.conversation.submit_card(
            email, form.round_id, form.answers, form.comment, form.about, asked=form.asked
        )
        if isinstance(done, StillSaving):  # the card says so; the outcome replaces it after
            card = turn.activity.reply_to_id if turn.activity.is_personal else None
            done.then(partial(self.saved, turn.reference(), card, email, form))
            return notice_card(done.notice)
        if isinstance(done, TextReply) and done.retry:
            raise KeepCard(done.text)  # nothing saved: the card stays, to submit again
        if isinstance(done, TextReply) and done.problems:
            return await self.refused(email, form, done)
        return card_of(done)

    async def saved(
        self,
        chat: Json,
        card: str | None,
        email: str,
        form: PulseSubmission,
        outcome: Receipt | TextReply,
    ) -> None:
        """The outcome of answers that were still being saved, in the "still saving" card's
        place (``card``, its message; a new message when unknown).  Not saved after all: the
        pulse card again, with what was chosen, and the words below it."""
        outbound = self.chat.messenger.outbound
        shown, below = card_of(outcome), None
        if isinstance(outcome, TextReply) and outcome.retry:
            pulse = await self.chat.conversation.open_card(email, form.round_id)
            if isinstance(pulse, PulseCard):  # (else the words alone, in the card's place)
                shown, below = card_for(pulse, values=form.values) or shown, outcome
        replacement = {"type": "message", "attachments": [attachment(shown)]}
        if card:
            await outbound.update(chat, card, replacement)
        else:
            await outbound.send(chat, replacement)
        if below is not None:
            await outbound.send(chat, await rendered(below))

    async def refused(self, email: str, form: PulseSubmission, done: TextReply) -> dict[str, Any]:
        """The pulse card again, each problem beside its field, with what was chosen kept."""
        card = await self.chat.conversation.open_card(email, form.round_id)
        if not isinstance(card, PulseCard):
            return notice_card(card)
        found = card_for(card, problems=done.problems, values=form.values)
        return found if found is not None else notice_card(done)

    async def open(self, email: str, round_id: Any) -> dict[str, Any]:
        if not isinstance(round_id, int) or isinstance(round_id, bool):
            return notice_card(TextReply(UNKNOWN_ACTION))
        return card_of(await self.chat.conversation.open_card(email, round_id))

    async def trends(self, turn: Turn, email: str) -> dict[str, Any]:
        for reply in await self.chat.conversation.ask(email, "trends"):
            await turn.send(await rendered(reply.view))
        return card_of(await self.chat.conversation.home(email))


def card_of(view: View | HomeView) -> dict[str, Any]:
    """The card that shows ``view`` in place of a clicked one (a notice for plain words)."""
    found = card_for(view)
    if found is None:
        assert isinstance(view, TextReply), "every other view has its card"
        return notice_card(view)
    return found

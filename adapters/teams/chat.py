"""Teams activities in, ``Conversation`` replies out.

* A message in the person's 1:1 chat is answered there: cards as Adaptive Cards, words as
  Markdown.  ``home`` (or a first install) shows the home card.
* A message in a team's channel or a group chat (where the bot is ``@mentioned``) is seen by
  everyone there and Teams has no message only the asker sees, so every reply goes to the
  person's 1:1 chat, with one line in the channel saying so; a kudos celebration is posted to the
  team's channel by the core, as on every platform.  ``settings [team] sync`` in a channel ties
  a teampulse team to the Teams team's roster (``adapters/teams/sync.py``).
* An Adaptive Card's action (``Action.Execute`` invoke, or its ``Action.Submit`` fallback) goes
  to ``adapters/teams/card_actions.py``; installs and roster changes to ``installs.py``.

The person is found by email (the Bot Connector's member lookup, once per account, then
``service.identities``); their conversation reference is kept for later proactive sends.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from adapters.teams.activity import MAX_MENTIONS, Activity, words
from adapters.teams.messenger import TeamsMessenger
from adapters.teams.references import PLATFORM, person_reference
from adapters.teams.render import message, rendered
from adapters.teams.sync import HELP as SYNC_HELP
from adapters.teams.sync import TeamsSync, sync_request
from bot.bindings import STRANGER
from bot.conversation import Conversation
from bot.identities import Identities
from bot.lru import LRU
from bot.outage import DatabaseUnavailable, within
from bot.ports import Unreachable
from bot.service import TeamPulse
from bot.views import Reply, View
from bot.words import NOT_KNOWN, UNAVAILABLE

if TYPE_CHECKING:
    from adapters.teams.sdk.inbound import Turn

log = logging.getLogger(__name__)

# How to send a message's reply, in whichever turn of it (its first delivery, or a redelivery)
Answer = Callable[["Turn"], Awaitable[Any]]
UNSENT_KEPT = 1_000  # replies waiting for their redelivery (Teams retries within minutes)

HOME_WORDS = {"home", "start", "hi", "hello"}
ANSWERED_PRIVATELY = "I've answered you in our personal chat."
CANNOT_REACH = (
    "I couldn't reach you in a personal chat, so I haven't answered here (everyone in this "
    "conversation would see it). Open teampulse from your Teams apps and ask me there."
)


class TeamsChat:
    def __init__(self, service: TeamPulse, messenger: TeamsMessenger) -> None:
        self.service = service
        self.messenger = messenger
        # replies to messages already answered that the Bot Connector refused, by delivery
        self.unsent: LRU[str, Answer] = LRU(UNSENT_KEPT)
        self.conversation = Conversation(service, platform_help=SYNC_HELP)
        self.sync = TeamsSync(self)

    @property
    def identities(self) -> Identities:
        return self.service.identities

    async def on_message(self, turn: Turn) -> None:
        """Answer a message once, however often Teams delivers it.  A failure before anything
        was done (the Bot Connector's member lookup, say) is left to Teams to deliver again;
        once the command is done (a kudos given), a reply the Bot Connector refused waits here
        for that redelivery, which sends it instead of doing the command again."""
        activity = turn.activity
        if not activity.text and not activity.mentions:
            return
        key = self.delivery(activity)
        if not await self.service.inbound.first_time(PLATFORM, key):
            unsent = self.unsent.pop(key, None)  # (a redelivery: answered once)
            if unsent is not None:
                await self.send_or_keep(turn, key, unsent)
            return
        try:
            answer = await within(None, self.answer_message(turn), "a Teams message")
        except DatabaseUnavailable:  # nothing was done: said so, not left to a redelivery
            await self.service.inbound.forget(PLATFORM, key)
            await turn.send_text(UNAVAILABLE)
            return
        except Exception:  # (the Bot Connector failed, say: Teams delivers it again)
            await self.service.inbound.forget(PLATFORM, key)
            raise
        await self.send_or_keep(turn, key, answer)

    async def send_or_keep(self, turn: Turn, key: str, answer: Answer) -> None:
        """Send the answer; kept for the activity's redelivery when the Bot Connector fails it
        (in this process only: a redelivery reaching another replica is not answered twice,
        nor replied to)."""
        try:
            await answer(turn)
        except Exception:
            self.unsent.remember(key, answer)
            raise

    async def answer_message(self, turn: Turn) -> Answer:
        """Do what the message asks; returns how to send the reply (in any turn of it)."""
        activity = turn.activity
        email = await self.email_of(turn)
        if email is None:  # (a guest or a bot without an email: not someone the core can know)
            return lambda again: again.send_text(NOT_KNOWN)
        await self.keep_reference(turn, email)
        if activity.is_personal and activity.text.lower() in HOME_WORDS:
            home = message(await self.conversation.home(email))
            return lambda again: again.send(home)
        found = await self.answer(turn, email)
        return lambda again: self.reply(again, email, found)

    def delivery(self, activity: Activity) -> str:
        """What a redelivery of ``activity`` repeats: its id, which Teams makes a timestamp unique
        only within its conversation (two people's messages of the same millisecond share it),
        and a keyed digest of the conversation (its id names a person's chat; this names nobody
        to someone without the secret)."""
        conversation = f"teams inbound:{activity.conversation_id}".encode()
        where = hmac.new(self.service.secret, conversation, "sha256")
        return f"{activity.id}:{where.hexdigest()[:16]}"

    async def answer(self, turn: Turn, email: str) -> list[Reply]:
        activity = turn.activity
        request = sync_request(activity.text)
        if request is not None:
            return await self.sync.run(turn, email, request)
        return await self.conversation.ask(email, await self.core_words(turn))

    async def core_words(self, turn: Turn) -> str:
        """The message as the core's words: each ``<at>`` mention of a colleague becomes their
        email (known accounts from ``identities``, the rest from the Bot Connector, then kept).
        The entities are the sender's client's to write: each account is looked up once, and
        only the first ``MAX_MENTIONS`` (the rest stay as typed), so one message can't spend
        the tenant's Bot Connector budget."""
        activity = turn.activity
        emails: dict[str, str] = {}
        found: dict[str, str | None] = {}
        for mention in activity.mentions:
            if mention.account == activity.bot_account:
                continue
            if mention.account not in found:
                if len(found) == MAX_MENTIONS:
                    break
                found[mention.account] = await self.email_of_mentioned(turn, mention.account)
            email = found[mention.account]
            if email is not None:
                emails[mention.text] = email
        return words(activity.text, emails)

    async def email_of_mentioned(self, turn: Turn, account: str) -> str | None:
        email = await self.identities.email_of(PLATFORM, account)
        if email is not None and not await self.admitted(turn, email):
            return None  # (typed as it was: no one here)
        return email if email is not None else await self.looked_up(turn, account)

    async def reply(self, turn: Turn, email: str, found: list[Reply]) -> None:
        """In the 1:1 chat, here; elsewhere, each reply to the 1:1 chat and one line here."""
        if turn.activity.is_personal:
            for item in found:
                await turn.send(await rendered(item.view))
            return
        reached = [await self.to_person(email, item.view) for item in found]
        if found:
            await turn.send_text(ANSWERED_PRIVATELY if all(reached) else CANNOT_REACH)

    async def to_person(self, email: str, view: View) -> bool:
        """Send to the person's 1:1 chat with the bot; False when Teams can't reach them."""
        recipient = await self.identities.recipient(email)
        if recipient is None:
            return False
        try:
            await self.messenger.send_direct(recipient, view)
        except Unreachable:
            return False
        return True

    # -- who is asking ----------------------------------------------------------------------------
    async def email_of(self, turn: Turn, *, remember: bool = True) -> str | None:
        """``remember=False`` on the pulse's own path: nothing person-linked is written beside an
        answer (only this process learns the account's email)."""
        account = turn.activity.account
        email = await self.identities.email_of(PLATFORM, account)
        learned = email is None
        if email is None:
            email = await turn.member_email()
            if email is None:
                return None
        if not await self.admitted(turn, email):
            return STRANGER  # (nothing kept for the account: it is no one here)
        if learned:
            await self.identities.learned(PLATFORM, account, email, remember=remember)
        return email

    async def admitted(self, turn: Turn, email: str) -> bool:
        """Whether an account of the activity's tenant may be matched to ``email``'s person."""
        tenant = turn.activity.tenant
        return await self.identities.bindings.admits(PLATFORM, {tenant} - {""}, email)

    async def looked_up(self, turn: Turn, account: str) -> str | None:
        member = await turn.member(account)
        email = (member or {}).get("email") or (member or {}).get("userPrincipalName")
        if not isinstance(email, str) or not email or not await self.admitted(turn, email):
            return None  # (an account of a tenant its person's organisation doesn't name: no one)
        await self.identities.learned(PLATFORM, account, email)
        return email

    async def keep_reference(self, turn: Turn, email: str) -> None:
        """Store the person's 1:1 conversation reference (and tenant, account) when it is new or
        changed (compared with the stored one: another replica's messenger may have dropped it
        since); a channel's reference is a place, kept by ``installs``."""
        activity = turn.activity
        if not activity.is_personal:
            return
        recipient = await self.identities.recipient(email)
        if recipient is None:
            return
        reference: dict[str, Any] = person_reference(
            turn.reference(), activity.account, activity.aad_object_id, activity.tenant
        )
        stored = await self.identities.reference(PLATFORM, recipient)
        if any(stored.get(key) != value for key, value in reference.items()):
            await self.identities.update_reference(PLATFORM, recipient, reference)


def is_card_submission(activity: Activity) -> bool:
    """An ``Action.Submit`` (the fallback of a card's ``Action.Execute``) arrives as a message
    whose ``value`` is the card's data and inputs, with no text."""
    return activity.type == "message" and bool(activity.value) and not activity.text

"""Teams messages in, ``Conversation`` replies out: the person is found by email (the Bot
Connector's member lookup, once per account, then ``service.identities``), and their conversation
reference is kept for later proactive sends.

This step answers the person's 1:1 chat with the bot.  In a group chat or a channel every reply
would be seen by everyone there (Teams has no message only the asker sees), and private replies
need a proactive 1:1 send; both come with the next steps, so such messages are not answered yet.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from adapters.teams.render import to_markdown
from adapters.teams.sdk import Turn
from bot.conversation import Conversation
from bot.identities import LRU, Identities
from bot.service import TeamPulse
from bot.words import NOT_KNOWN

log = logging.getLogger(__name__)

PLATFORM = "teams"


class TeamsChat:
    def __init__(self, service: TeamPulse) -> None:
        self.service = service
        self.conversation = Conversation(service)
        # account -> the reference last stored (JSON), for a large trust's staff at most
        self._references: LRU[str, str] = LRU()

    @property
    def identities(self) -> Identities:
        return self.service.identities

    async def on_turn(self, turn: Turn) -> None:
        if not turn.is_message or not turn.text:
            return  # (installs, card submits and the rest come with the next steps)
        if not turn.is_personal:
            log.info("Teams message outside a personal chat left unanswered")
            return
        if not await self.service.inbound.first_time(PLATFORM, turn.activity_id):
            return
        email = await self.email_of(turn)
        if email is None:  # (a guest or a bot without an email: not someone the core can know)
            await turn.send_text(NOT_KNOWN)
            return
        for reply in await self.conversation.ask(email, turn.text):
            await turn.send_text(to_markdown(reply.view))
        await self.keep_reference(turn, email)

    async def email_of(self, turn: Turn) -> str | None:
        email = await self.identities.email_of(PLATFORM, turn.account)
        if email is None:
            email = await turn.member_email()
            if email is None:
                return None
            await self.identities.learned(PLATFORM, turn.account, email)
        return email

    async def keep_reference(self, turn: Turn, email: str) -> None:
        """Store the person's conversation reference when it is new or changed."""
        recipient = await self.identities.recipient(email)
        if recipient is None:
            return
        reference: dict[str, Any] = turn.reference()
        text = json.dumps(reference, sort_keys=True)
        if self._references.get(turn.account) == text:
            return
        await self.identities.update_reference(PLATFORM, recipient, {"conversation": reference})
        self._references.remember(turn.account, text)

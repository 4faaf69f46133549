"""Which part of the Teams adapter takes an activity: messages (``chat``), card actions
(``card_actions``), installs and roster changes (``installs``).  Other activity types (typing,
reactions, message edits) are acknowledged and left alone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.teams.card_actions import CardActions
from adapters.teams.chat import TeamsChat, is_card_submission
from adapters.teams.installs import Installs
from adapters.teams.messenger import TeamsMessenger
from bot.service import TeamPulse

if TYPE_CHECKING:
    from adapters.teams.sdk.inbound import Turn


class TeamsBot:
    def __init__(self, service: TeamPulse, messenger: TeamsMessenger) -> None:
        self.chat = TeamsChat(service, messenger)
        self.cards = CardActions(self.chat)
        self.installs = Installs(self.chat)

    async def on_turn(self, turn: Turn) -> None:
        activity = turn.activity
        match activity.type:
            case "message" if is_card_submission(activity):
                await self.cards.on_submit(turn)
            case "message":
                if activity.team_id:  # (spoken to in a team's channel: the place is kept)
                    await self.installs.keep_place(turn)
                await self.chat.on_message(turn)
            case "invoke":
                await self.cards.on_invoke(turn)
            case "installationUpdate":
                await self.installs.on_installation_update(turn)
            case "conversationUpdate":
                await self.installs.on_conversation_update(turn)

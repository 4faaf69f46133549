"""Installs, uninstalls and roster changes (``installationUpdate`` and ``conversationUpdate``).

* Installed for a person (personal scope): their 1:1 reference is kept (pulses reach them from
  then on, after a restart too) and they are welcomed with their home card, once.
* Installed in a team or a group chat: the place is kept (tenant, team, its channels' references),
  so the core's kudos posts reach a team's channel (``Team.teams_channel``).
* Uninstalled: a person's 1:1 reference is dropped, so deliveries to them stop; a team's places
  are forgotten.
* People joining or leaving a Teams team: every teampulse team kept in step with it is synced.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from adapters.teams.references import (
    NAME,
    PLATFORM,
    REFERENCE,
    SERVICE_URL,
    TEAM,
    TENANT,
    channel_key,
    team_key,
    tenant_key,
    without_conversation,
)
from adapters.teams.render import message
from bot.places import Places

if TYPE_CHECKING:
    from adapters.teams.sdk.inbound import Turn

if TYPE_CHECKING:
    from adapters.teams.chat import TeamsChat

log = logging.getLogger(__name__)

ADDED, REMOVED = ("add", "add-upgrade"), ("remove", "remove-upgrade")
WELCOME = (
    "Hello! I'm teampulse. Every so often I'll send you a short pulse: a few statements about "
    "how work feels. Your answers are anonymous and only ever shown as part of a group. "
    "Say `help` to see what I can do, or `home` for this card again."
)
WELCOMED = "welcome:"  # (an inbound key: a person is welcomed once, by whichever replica)


class Installs:
    def __init__(self, chat: TeamsChat) -> None:
        self.chat = chat

    @property
    def places(self) -> Places:
        return self.chat.service.places

    async def on_installation_update(self, turn: Turn) -> None:
        action = turn.activity.action
        if action in ADDED:
            await self.installed(turn, welcome=True)
        elif action in REMOVED:
            await self.uninstalled(turn)

    async def on_conversation_update(self, turn: Turn) -> None:
        activity = turn.activity
        bot = activity.bot_account
        if bot in activity.members_added:
            await self.installed(turn, welcome=False)
        elif bot in activity.members_removed:
            await self.uninstalled(turn)
        elif activity.team_id and (activity.members_added or activity.members_removed):
            await self.chat.sync.follow(activity.team_id)
        elif activity.team_id and activity.channel_id:  # (a channel created or renamed)
            await self.keep_place(turn)

    async def installed(self, turn: Turn, *, welcome: bool) -> None:
        if not turn.activity.is_personal:
            await self.keep_place(turn)
            return
        email = await self.chat.email_of(turn)
        if email is None:
            return
        await self.chat.keep_reference(turn, email)
        key = WELCOMED + self.chat.delivery(turn.activity)
        first = await self.chat.service.inbound.first_time(PLATFORM, key)
        if welcome and first:
            await turn.send_text(WELCOME)
            await turn.send(message(await self.chat.conversation.home(email)))

    async def uninstalled(self, turn: Turn) -> None:
        activity = turn.activity
        if activity.is_personal:
            await self.forget_person(turn)
        elif activity.team_id:
            await self.forget_team(activity.team_id)

    async def forget_person(self, turn: Turn) -> None:
        """Their 1:1 chat is gone: nothing more is sent to them in Teams until they install
        the app again (their account and tenant stay known)."""
        account = turn.activity.account
        email = await self.chat.identities.email_of(PLATFORM, account)
        recipient = await self.chat.identities.recipient(email) if email else None
        if recipient is not None:
            await self.chat.identities.update_reference(PLATFORM, recipient, without_conversation())

    async def keep_place(self, turn: Turn) -> None:
        """The tenant's service URL; a team's name and General channel; the channel spoken in."""
        activity = turn.activity
        # (a place, never a person: the reference's ``user``, whoever wrote there last, is left
        # out; a post to a channel needs only the bot and the conversation)
        reference = {key: value for key, value in turn.reference().items() if key != "user"}
        if activity.tenant:
            await self.places.put(
                PLATFORM, tenant_key(activity.tenant), {SERVICE_URL: activity.service_url}
            )
        if not activity.team_id:
            return
        general = in_conversation(reference, activity.team_id)
        team = {
            NAME: activity.team_name or None,
            TENANT: activity.tenant or None,
            SERVICE_URL: activity.service_url,
            REFERENCE: general,
        }
        await self.places.put(PLATFORM, team_key(activity.team_id), team)
        for channel in {activity.team_id, activity.channel_id} - {""}:
            channel_reference = {
                **general,
                "conversation": {**general["conversation"], "id": channel},
            }
            place = {REFERENCE: channel_reference, TEAM: activity.team_id}
            await self.places.put(PLATFORM, channel_key(channel), place)

    async def forget_team(self, team_id: str) -> None:
        await self.places.forget(PLATFORM, team_key(team_id))
        for key in await self.places.keys(PLATFORM, channel_key("")):
            if (await self.places.get(PLATFORM, key)).get(TEAM) == team_id:
                await self.places.forget(PLATFORM, key)
        log.info("Teams: the app was removed from a team; its places are forgotten")


def in_conversation(reference: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    """A copy of a channel's reference that points at another conversation of the same team (a
    channel, or its General channel, whose id is the team's)."""
    conversation = reference.get("conversation")
    conversation = dict(conversation) if isinstance(conversation, dict) else {}
    conversation["id"] = conversation_id
    return {**reference, "conversation": conversation}

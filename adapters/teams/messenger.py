"""What the core sends through Teams, proactively: scheduled pulses and reminders to a person's
1:1 chat with the bot, kudos posts to a team's channel.

A person is reached through the 1:1 chat reference kept when they last chatted with the bot;
someone known only from a team's roster gets that chat opened first (and kept).  When Teams
answers 403 (the app was uninstalled or blocked) or 404 (the chat is gone), the kept chat is
dropped and the person is ``Unreachable`` here, so the router tries their next platform:
uninstalling the app stops deliveries on Teams.  Nothing is sent into a tenant not served
(``TEAMPULSE_TEAMS_TENANTS``), even through a chat kept from before the list was narrowed.
"""

from __future__ import annotations

import logging

from adapters.teams import references
from adapters.teams.pacing import Paced
from adapters.teams.references import PLATFORM, Json
from adapters.teams.render import rendered
from adapters.teams.sdk import ConnectorError
from bot.identities import Identities
from bot.ports import Recipient, TeamTarget, Unreachable
from bot.service import TeamPulse
from bot.views import PulseCard, View

log = logging.getLogger(__name__)

GONE = frozenset({403, 404})  # the app is not (or no more) in the conversation; it is gone
NO_CHAT = GONE | {400}  # opening a chat: the app is not installed for them, or no such account


class TeamsMessenger:
    reaches_everyone = False  # only people with a Teams account

    def __init__(self, outbound: Paced, served: frozenset[str]) -> None:
        self.outbound = outbound
        self.served = served  # the tenants served
        self._service: TeamPulse | None = None

    def bind(self, service: TeamPulse) -> None:
        self._service = service

    @property
    def service(self) -> TeamPulse:
        if self._service is None:
            raise RuntimeError("the Teams adapter is not installed in a server yet")
        return self._service

    def serves(self, tenant: object) -> bool:
        """A kept person or reference is not in a tenant known to be off the list (one kept
        before it was narrowed: what is kept since comes from served tenants' activities only;
        a channel's reference may not name its tenant)."""
        return not tenant or tenant in self.served

    @property
    def identities(self) -> Identities:
        return self.service.identities

    async def knows(self, recipient: Recipient) -> bool:
        """True when the person's Teams account is known (the router asks first)."""
        return await self.identities.knows(PLATFORM, recipient)

    async def send_direct(
        self, recipient: Recipient, view: View, *, key: str | None = None
    ) -> None:
        chat = await self.personal_chat(recipient)
        try:
            message_id = await self.outbound.send(chat, await rendered(view))
        except ConnectorError as error:
            if error.status in GONE:
                await self.identities.update_reference(
                    PLATFORM, recipient, references.without_conversation()
                )
                raise Unreachable(f"Teams answered {error.status}; the chat is forgotten") from None
            raise
        if isinstance(view, PulseCard) and not view.reminder and message_id:
            await self.identities.remember_pulse_message(
                PLATFORM, recipient, view.round_id, message_id
            )

    async def personal_chat(self, recipient: Recipient) -> Json:
        """The person's 1:1 chat reference: the kept one, else a chat opened (and kept) from
        what their team's roster said; ``Unreachable`` when neither can be had."""
        stored = await self.identities.reference(PLATFORM, recipient)
        if not self.serves(stored.get(references.TENANT)):
            raise Unreachable("their Teams account is in a tenant not served")
        chat = references.conversation(stored)
        if chat is not None:
            if not self.serves(references.tenant_of(chat)):
                raise Unreachable("their Teams chat is in a tenant not served")
            return chat
        tenant = stored.get(references.TENANT)
        tenant_url = None
        if isinstance(tenant, str) and tenant:
            tenant_url = await references.tenant_service_url(self.service.places, tenant)
        opening = references.opening(stored, tenant_url)
        if opening is None:
            raise Unreachable("no Teams chat or account for this person")
        try:
            chat = await self.outbound.open_personal_chat(
                opening.service_url, opening.tenant, opening.account
            )
        except ConnectorError as error:
            if error.status in NO_CHAT:
                raise Unreachable(f"Teams refused a chat ({error.status})") from None
            raise
        await self.identities.update_reference(
            PLATFORM, recipient, references.with_conversation(chat)
        )
        return chat

    async def roster(self, reference: Json, team: str | None = None) -> list[Json]:
        """A team's members (every page), from a reference to one of its channels."""
        return await self.outbound.roster(reference, team)

    async def delivered(self, recipient: Recipient, key: str, *, round_id: int) -> bool | None:
        """Teams can't tell: a send whose outcome is unknown is sent again (the bound on doubles
        is the sends in flight when a process dies, ``TEAMPULSE_OUTBOX_CONCURRENCY``)."""
        return None

    async def post_to_team(self, team: TeamTarget, view: View) -> None:
        """Post in the team's Teams channel, when it has one and the bot is in it.  A failure is
        logged, not raised: the other platforms still post, and kudos are already saved."""
        channel = team.channel(PLATFORM)
        if not channel:
            return
        places = self.service.places
        reference = await references.channel_reference(places, channel)
        if reference is None:
            log.info("Teams channel of team %s unknown to the bot; post skipped", team.team_id)
            return
        if not self.serves(references.tenant_of(reference)):
            log.info(
                "Teams channel of team %s is in a tenant not served; post skipped", team.team_id
            )
            return
        try:
            await self.outbound.send(reference, await rendered(view))
        except ConnectorError as error:
            log.warning("Teams post to team %s failed: %s", team.team_id, error)
            if error.status in GONE:
                await references.forget_channel_reference(places, channel)

"""``settings [team] sync`` in a Teams team's channel: the Teams team's roster becomes a teampulse
team's members, and is kept in step as people join and leave (``membersAdded`` /
``membersRemoved``, read in ``installs.py``); ``settings [team] sync off`` stops it.  The policy is
the core's (``bot.member_sync``: only the team's managers, never emptying a team); here, the
roster as emails (``TeamsInfo.get_paged_members``, every page), stored as ``teams:<team id>``.

Every member found is also remembered as a Teams account with what opens a 1:1 chat with them
(``account``, ``aad``, ``tenant``, ``service_url``), so their pulses reach them in Teams before
they have written to the bot.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters.teams.references import (
    AAD,
    ACCOUNT,
    PLATFORM,
    REFERENCE,
    SERVICE_URL,
    TENANT,
    team_key,
)
from adapters.teams.sdk import ConnectorError
from bot.member_sync import Members, MemberSources, Source, source_key, split_source
from bot.views import Reply, TextReply, replies

if TYPE_CHECKING:
    from adapters.teams.chat import TeamsChat
    from adapters.teams.sdk.inbound import Turn

log = logging.getLogger(__name__)

_SYNC = re.compile(
    r"^\s*(?:/?pulse\s+)?settings\s+(?:(?P<team>.*?)\s+)?sync(?:\s+(?P<off>off))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
HELP = (
    "• `settings [team] sync` — in a channel of a Teams team: make that team's members the "
    "team's, and keep them in step as people join and leave; `settings [team] sync off` stops it\n"
)
IN_A_TEAM = (
    "Ask me that in a channel of the Teams team whose members you want (mention me there), "
    "and I'll use that team's members."
)
NO_ROSTER = "Teams wouldn't tell me this team's members just now. Please try again later."


@dataclass(frozen=True)
class SyncRequest:
    team: str | None
    off: bool


def sync_request(text: str) -> SyncRequest | None:
    """``settings [team] sync`` or ``… sync off`` (with or without a leading ``pulse``)."""
    match = _SYNC.match(text)
    if match is None:
        return None
    return SyncRequest((match.group("team") or "").strip() or None, bool(match.group("off")))


def stopped_label(stored: str) -> str:
    platform, _ = split_source(stored)
    return "its Teams team" if platform == PLATFORM else "its member source"


class TeamsSync:
    def __init__(self, chat: TeamsChat) -> None:
        self.chat = chat

    @property
    def sources(self) -> MemberSources:
        return MemberSources(self.chat.service)

    async def run(self, turn: Turn, email: str, request: SyncRequest) -> list[Reply]:
        conversation = self.chat.conversation
        if request.off:
            return await conversation.stop_sync(email, request.team, stopped_label)
        activity = turn.activity
        if not activity.team_id:
            return replies([TextReply(IN_A_TEAM, kind="error")])
        # (a Teams team's name is its owners' words: the reply's rendering shows it as text)
        label = activity.team_name or "this Teams team"
        source = Source(PLATFORM, activity.team_id, "Teams team", label)
        reference = turn.reference()

        async def fetch() -> Members | TextReply:
            found = await self.members(reference, activity.team_id)
            return found or TextReply(NO_ROSTER, kind="error")

        return await conversation.sync_members(email, request.team, source, fetch)

    async def follow(self, team_id: str) -> None:
        """The Teams team's members changed: sync every teampulse team kept in step with it."""
        place = await self.chat.service.places.get(PLATFORM, team_key(team_id))
        reference = place.get(REFERENCE)
        if not isinstance(reference, dict):
            return

        async def fetch() -> Members | None:
            return await self.members(reference, team_id)

        await self.sources.follow(source_key(PLATFORM, team_id), fetch)

    async def members(self, reference: dict[str, Any], team_id: str) -> Members | None:
        """The roster as emails (None when Teams refuses); each member's account remembered."""
        service_url = reference.get("serviceUrl")
        try:
            roster = await self.chat.messenger.roster(reference, team_id)
        except ConnectorError as error:  # (a refusal is the manager's message, not a 500)
            log.warning("Teams refused a team's roster (%s)", error.status)
            return None
        emails: list[str] = []
        for member in roster:
            email = member.get("email")
            if isinstance(email, str) and email:
                emails.append(email)
                await self.remember({**member, SERVICE_URL: service_url}, email)
        return Members(emails, skipped=len(roster) - len(emails))

    async def remember(self, member: dict[str, Any], email: str) -> None:
        """Keep the member's account and what opens a 1:1 chat with them (someone outside the
        organisation is nobody the core knows: nothing is kept)."""
        identities = self.chat.identities
        account = str(member.get(ACCOUNT) or "")
        recipient = await identities.recipient(email)
        if recipient is None or not account:
            return
        tenant = str(member.get(TENANT) or "")
        if not await identities.bindings.admits(PLATFORM, {tenant} - {""}, email):
            return  # (an account of a tenant their organisation doesn't name is not theirs)
        await identities.learned(PLATFORM, account, email)
        known = await identities.reference(PLATFORM, recipient)
        changes = {key: member.get(key) for key in (ACCOUNT, AAD, TENANT, SERVICE_URL)}
        if any(known.get(key) != value for key, value in changes.items()):
            await identities.update_reference(PLATFORM, recipient, changes)

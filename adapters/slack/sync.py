"""``pulse settings [team] sync #channel``: a manager makes a Slack channel's members the team's.

Slack-only words (a channel is a Slack thing), so the adapter reads them before the core's parser:
the channel reference must be Slack's own ``<#C…|name>`` (what a slash command with
``should_escape`` and a message both carry).  The core decides who may (the team's managers, as
for any ``pulse settings``) and does the change (``TeamPulse.set_members``, in emails); this module
only turns the channel into emails: ``conversations.members`` page by page, then each member's
email (``users.info``, remembered).  Bots and accounts without an email are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.identity import SlackDirectory
from bot.conversation import Conversation
from bot.views import TextReply

PAGE = 200
_SYNC = re.compile(
    r"^\s*(?:/?pulse\s+)?settings\s+(?:(?P<team>.*?)\s+)?sync\s+"
    r"<#(?P<channel>[CG][A-Z0-9]+)(?:\|[^>]*)?>\s*$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class SyncRequest:
    team: str | None
    channel: str


def sync_request(text: str) -> SyncRequest | None:
    """``settings [team] sync <#C…|name>`` (with or without a leading ``pulse``), else None."""
    match = _SYNC.match(text)
    if match is None:
        return None
    team = (match.group("team") or "").strip() or None
    return SyncRequest(team, match.group("channel"))


class ChannelSync:
    def __init__(self, directory: SlackDirectory) -> None:
        self.directory = directory

    async def run(self, client: AsyncWebClient, email: str, request: SyncRequest) -> TextReply:
        conversation = Conversation(self.directory.service)
        team = await conversation.settings_team(email, request.team)
        if isinstance(team, TextReply):
            return team
        members = await self.channel_members(client, request.channel)
        if members is None:
            return TextReply(
                "I can't see that channel's members. Invite me to the channel and try again.",
                kind="error",
            )
        emails: list[str] = []
        for user_id in members:
            found = await self.directory.email_of(user_id)
            if found is not None:
                emails.append(found)
        added, removed = await self.directory.service.set_members(team, emails)
        skipped = len(members) - len(emails)
        note = f" ({skipped} without an email or bots, left out)" if skipped else ""
        return TextReply(f"{team}: {added} added, {removed} removed{note}.", kind="success")

    async def channel_members(self, client: AsyncWebClient, channel: str) -> list[str] | None:
        """Every member of the channel (``conversations.members``, following ``next_cursor``),
        or None when Slack won't say (not in the channel, no such channel)."""
        members: list[str] = []
        cursor: str | None = None
        while True:
            try:
                page = await client.conversations_members(
                    channel=channel, limit=PAGE, cursor=cursor
                )
            except SlackApiError:
                return None
            members += [str(m) for m in page.get("members") or []]
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return members

"""``pulse settings [team] sync #channel`` or ``… sync @group``: a manager makes a Slack channel's
or user group's members the team's.

Slack-only words (channels and user groups are Slack things), so the adapter reads them before the
core's parser: the reference must be Slack's own escaping, ``<#C…|name>`` for a channel and
``<!subteam^S…|@handle>`` (or ``<!subteam^S…>``) for a user group, as a slash command with
``should_escape`` and a message both carry it.  The core decides who may (the team's managers, as
for any ``pulse settings``) and does the change (``TeamPulse.set_members``, in emails); this module
only turns the source into emails: ``conversations.members`` page by page for a channel,
``usergroups.users.list`` (one answer; no ``include_disabled``) for a user group, then each member's
email (``users.info``, remembered).  Bots and accounts without an email are left out.  When Slack
refuses (not in the channel, no such group, a missing scope) or there are no members, the manager is
told why and the team is left as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.identity import SlackDirectory
from bot.conversation import Conversation
from bot.views import TextReply

PAGE = 200
_SYNC = re.compile(
    r"^\s*(?:/?pulse\s+)?settings\s+(?:(?P<team>.*?)\s+)?sync\s+"
    r"(?:<#(?P<channel>[CG][A-Z0-9]+)(?:\|[^>]*)?>"
    r"|<!subteam\^(?P<usergroup>S[A-Z0-9]+)(?:\|[^>]*)?>)\s*$",
    re.IGNORECASE | re.DOTALL,
)

Kind = Literal["channel", "usergroup"]

NO_CHANNEL = "I can't see that channel's members. Invite me to the channel and try again."
NO_GROUP = (
    "I can't find that user group: it may have been deleted or disabled. "
    "Check it in Slack and try again."
)
EMPTY = "That {what} has no members, so I've left the team as it is."
NO_SCOPE = (
    "I'm not allowed to read {what}s yet. Ask the teampulse admin to reinstall the app from the "
    "current manifest (`teampulse manifest slack`)."
)
NO_PLAN = "User groups need a paid Slack plan, so I can't read one here. Try a channel instead."
REFUSED = "Slack wouldn't tell me that {what}'s members ({error}). Please try again later."
_NAMES: dict[Kind, str] = {"channel": "channel", "usergroup": "user group"}


@dataclass(frozen=True)
class SyncRequest:
    team: str | None
    kind: Kind
    source: str  # the channel id (C…/G…) or the user group id (S…)


def sync_request(text: str) -> SyncRequest | None:
    """``settings [team] sync <#C…|name>`` or ``… sync <!subteam^S…|@handle>`` (with or without
    a leading ``pulse``), else None."""
    match = _SYNC.match(text)
    if match is None:
        return None
    team = (match.group("team") or "").strip() or None
    if match.group("channel"):
        return SyncRequest(team, "channel", match.group("channel"))
    return SyncRequest(team, "usergroup", match.group("usergroup"))


class MemberSync:
    """Replaces a team's members with a channel's or a user group's."""

    def __init__(self, directory: SlackDirectory) -> None:
        self.directory = directory

    async def run(self, client: AsyncWebClient, email: str, request: SyncRequest) -> TextReply:
        conversation = Conversation(self.directory.service)
        team = await conversation.settings_team(email, request.team)
        if isinstance(team, TextReply):
            return team
        try:
            if request.kind == "channel":
                members = await self.channel_members(client, request.source)
            else:
                members = await self.usergroup_members(client, request.source)
        except SlackApiError as error:
            return TextReply(_refusal(request.kind, error), kind="error")
        if not members:  # a disabled group, say: never empty a team by accident
            return TextReply(EMPTY.format(what=_NAMES[request.kind]), kind="error")
        emails: list[str] = []
        for user_id in members:
            found = await self.directory.email_of(user_id)
            if found is not None:
                emails.append(found)
        added, removed = await self.directory.service.set_members(team, emails)
        skipped = len(members) - len(emails)
        note = f" ({skipped} without an email or bots, left out)" if skipped else ""
        return TextReply(f"{team}: {added} added, {removed} removed{note}.", kind="success")

    async def channel_members(self, client: AsyncWebClient, channel: str) -> list[str]:
        """Every member of the channel (``conversations.members``, following ``next_cursor``);
        SlackApiError when Slack won't say (not in the channel, no such channel)."""
        members: list[str] = []
        cursor: str | None = None
        while True:
            page = await client.conversations_members(channel=channel, limit=PAGE, cursor=cursor)
            members += [str(m) for m in page.get("members") or []]
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return members

    async def usergroup_members(self, client: AsyncWebClient, usergroup: str) -> list[str]:
        """Every member of the user group (``usergroups.users.list``, not paged; a disabled group
        is not asked for); SlackApiError when Slack won't say (no such group, no scope)."""
        answer = await client.usergroups_users_list(usergroup=usergroup)
        return [str(m) for m in answer.get("users") or []]


def _refusal(kind: Kind, error: SlackApiError) -> str:
    """What to tell the manager when Slack refuses to list the members."""
    code = str(error.response.get("error") or "unknown_error")
    if code == "missing_scope":
        return NO_SCOPE.format(what=_NAMES[kind])
    if kind == "channel":
        return NO_CHANNEL
    if code == "no_such_subteam":
        return NO_GROUP
    if code == "plan_upgrade_required":
        return NO_PLAN
    return REFUSED.format(what=_NAMES[kind], error=code)

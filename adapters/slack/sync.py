"""``pulse settings [team] sync #channel`` / ``… sync @group`` / ``… sync off``: Slack's own words,
read before the core's parser in Slack's escaping.  The policy is the core's (``bot.member_sync``);
here, a channel's or user group's members as emails, and Slack's refusals worded."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from adapters.slack.app import PLATFORM
from adapters.slack.blocks import unescape
from adapters.slack.identity import SlackDirectory, error_code
from bot.conversation import Conversation
from bot.member_sync import Members, MemberSources, Source, source_key, split_source
from bot.views import Reply, TextReply

log = logging.getLogger(__name__)

PAGE = 200
_SYNC = re.compile(
    r"^\s*(?:/?pulse\s+)?settings\s+(?:(?P<team>.*?)\s+)?sync\s+"
    r"(?:<#(?P<channel>[CG][A-Z0-9]+)(?:\|(?P<name>[^>]*))?>"
    r"|<!subteam\^(?P<usergroup>S[A-Z0-9]+)(?:\|(?P<handle>[^>]*))?>"
    r"|(?P<off>off))\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]+")
_USERGROUP_ID = re.compile(r"S[A-Z0-9]+")
CHANNEL_EVENTS = ("member_joined_channel", "member_left_channel")
USERGROUP_EVENT = "subteam_members_changed"

Kind = Literal["channel", "usergroup"]

NO_CHANNEL = "I can't see that channel's members. Invite me to the channel and try again."
NO_GROUP = (
    "I can't find that user group: it may have been deleted or disabled. "
    "Check it in Slack and try again."
)
NO_SCOPE = (
    "I'm not allowed to read {what}s yet. Ask the teampulse admin to reinstall the app from the "
    "current manifest (`teampulse manifest slack`)."
)
NO_PLAN = "User groups need a paid Slack plan, so I can't read one here. Try a channel instead."
REFUSED = "Slack wouldn't tell me that {what}'s members ({error}). Please try again later."
_NAMES: dict[Kind, str] = {"channel": "channel", "usergroup": "user group"}
# Slack's own lines of ``pulse help`` (the core's help, in its shape)
HELP = (
    "• `pulse settings [team] sync #channel` or `… sync @group` — make a channel's or user "
    "group's members the team's, and keep them in step as people join and leave; "
    "`pulse settings [team] sync off` stops it\n"
)


@dataclass(frozen=True)
class SyncRequest:
    team: str | None
    kind: Kind
    source: str  # the channel id (C…/G…) or the user group id (S…)
    # how the reply names the source, as text (the reply is escaped whole, so no Slack sequence
    # would be live): the channel's ``#name``, or the group's handle (a ``<!subteam^…>`` mention
    # would notify the whole group)
    label: str = field(default="", compare=False)


@dataclass(frozen=True)
class StopSync:
    """``settings [team] sync off``."""

    team: str | None


def sync_request(text: str) -> SyncRequest | StopSync | None:
    """``settings [team] sync <#C…|name>``, ``… sync <!subteam^S…|@handle>`` or ``… sync off``
    (with or without a leading ``pulse``), else None."""
    match = _SYNC.match(text)
    if match is None:
        return None
    team = unescape(match.group("team") or "").strip() or None
    if match.group("off"):
        return StopSync(team)
    if match.group("channel"):
        channel = match.group("channel")
        name = unescape(match.group("name") or "").strip().lstrip("#")
        return SyncRequest(team, "channel", channel, f"#{name}" if name else "that channel")
    handle = unescape(match.group("handle") or "").strip()
    label = "@" + handle.lstrip("@") if handle else "that user group"
    return SyncRequest(team, "usergroup", match.group("usergroup"), label)


def kind_of(source: str) -> Kind:
    """A Slack id (``S…``, ``C…``), bare or as stored (``slack:S…``)."""
    bare = source.removeprefix(f"{PLATFORM}:")
    return "usergroup" if _USERGROUP_ID.fullmatch(bare) else "channel"


def stopped_label(stored: str) -> str:
    """How ``sync off`` names the source it forgets (only its id is kept)."""
    platform, source = split_source(stored)
    if platform != PLATFORM:
        return "its member source"
    return "its channel" if kind_of(source) == "channel" else "its user group"


def changed_source(event: dict[str, Any]) -> str | None:
    """The channel or user group whose members an event says changed (None when malformed)."""
    if event.get("type") == USERGROUP_EVENT:
        source, pattern = event.get("subteam_id"), _USERGROUP_ID
    else:
        source, pattern = event.get("channel"), _CHANNEL_ID
    return source if isinstance(source, str) and pattern.fullmatch(source) else None


class MemberSync:
    """Lists a channel's or a user group's members for the core's ``MemberSources``."""

    def __init__(self, directory: SlackDirectory) -> None:
        self.directory = directory
        self.client = directory.client  # the adapter's shared client

    @cached_property
    def sources(self) -> MemberSources:  # (the service is there once the adapter is installed)
        return MemberSources(self.directory.service)

    async def run(self, email: str, request: SyncRequest | StopSync) -> list[Reply]:
        conversation = Conversation(self.directory.service)
        if isinstance(request, StopSync):
            return await conversation.stop_sync(email, request.team, stopped_label)
        source = Source(PLATFORM, request.source, _NAMES[request.kind], request.label)

        async def fetch() -> Members | TextReply:
            try:
                return await self.members(request.source)
            except SlackApiError as error:
                return TextReply(_refusal(request.kind, error), kind="error")

        return await conversation.sync_members(email, request.team, source, fetch)

    def register(self, bolt: AsyncApp) -> None:
        """Membership events (acked by Bolt before this runs) sync the teams kept in step."""

        async def changed(event: dict[str, Any]) -> None:
            source = changed_source(event)
            if source is not None:
                await self.follow(source)

        for name in (*CHANNEL_EVENTS, USERGROUP_EVENT):
            bolt.event(name)(changed)

    async def follow(self, source: str) -> None:
        async def fetch() -> Members | None:
            try:
                return await self.members(source)
            except SlackApiError as error:
                what, code = _NAMES[kind_of(source)], error_code(error)
                log.warning("Slack refused a synced %s's members (%s)", what, code)
                return None

        await self.sources.follow(source_key(PLATFORM, source), fetch)

    async def members(self, source: str) -> Members:
        """The source's members as emails; SlackApiError when Slack won't say."""
        if kind_of(source) == "channel":
            user_ids = await self.channel_members(source)
        else:
            user_ids = await self.usergroup_members(source)
        found = [await self.directory.email_of(user_id) for user_id in user_ids]
        emails = [email for email in found if email is not None]
        return Members(emails, skipped=len(user_ids) - len(emails))

    async def channel_members(self, channel: str) -> list[str]:
        """Every member (``conversations.members``, following ``next_cursor``)."""
        members: list[str] = []
        cursor: str | None = None
        while True:
            page = await self.client.conversations_members(
                channel=channel, limit=PAGE, cursor=cursor
            )
            members += [str(m) for m in page.get("members") or []]
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return members

    async def usergroup_members(self, usergroup: str) -> list[str]:
        """Every member (``usergroups.users.list``, not paged; a disabled group not asked for)."""
        answer = await self.client.usergroups_users_list(usergroup=usergroup)
        return [str(m) for m in answer.get("users") or []]


def _refusal(kind: Kind, error: SlackApiError) -> str:
    """What to tell the manager when Slack refuses to list the members."""
    code = error_code(error)
    if code == "missing_scope":
        return NO_SCOPE.format(what=_NAMES[kind])
    if kind == "channel":
        return NO_CHANNEL
    groups = {"no_such_subteam": NO_GROUP, "plan_upgrade_required": NO_PLAN}
    return groups.get(code) or REFUSED.format(what=_NAMES[kind], error=code)

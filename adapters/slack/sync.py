"""``pulse settings [team] sync #channel`` or ``… sync @group``: a manager makes a Slack channel's
or user group's members the team's, and the team is then kept in step with it.

Slack-only words (channels and user groups are Slack things), so the adapter reads them before the
core's parser: the reference must be Slack's own escaping, ``<#C…|name>`` for a channel and
``<!subteam^S…|@handle>`` (or ``<!subteam^S…>``) for a user group, as a slash command with
``should_escape`` and a message both carry it; ``… sync off`` stops keeping the team in step.  The
core decides who may (the team's managers, as for any ``pulse settings``), does the change
(``TeamPulse.set_members``, in emails) and remembers the source (``TeamPulse.set_member_source``,
an opaque id to it); this module only turns the source into emails: ``conversations.members`` page
by page for a channel, ``usergroups.users.list`` (one answer; no ``include_disabled``) for a user
group, then each member's email (``users.info``, remembered).  Bots and accounts without an email
are left out.  When Slack refuses (not in the channel, no such group, a missing scope) or there are
no members, the manager is told why and the team is left as it is (and no source is remembered).

Keeping in step: ``member_joined_channel`` / ``member_left_channel`` (a channel) and
``subteam_members_changed`` (a user group) make every team kept in step with that source sync
again, in full, the same way as the command (minus the manager check: the manager allowed it when
they turned it on).  A whole sync, rather than the event's delta, is idempotent and heals whatever
was missed while the app was down; in one process the syncs run one at a time, and changes that
arrive while one waits are folded into it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.identity import SlackDirectory
from bot.conversation import Conversation
from bot.views import TextReply
from surveys.directory import TeamRef

log = logging.getLogger(__name__)

PAGE = 200
_SYNC = re.compile(
    r"^\s*(?:/?pulse\s+)?settings\s+(?:(?P<team>.*?)\s+)?sync\s+"
    r"(?:<#(?P<channel>[CG][A-Z0-9]+)(?:\|[^>]*)?>"
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
EMPTY = "That {what} has no members, so I've left the team as it is."
NO_SCOPE = (
    "I'm not allowed to read {what}s yet. Ask the teampulse admin to reinstall the app from the "
    "current manifest (`teampulse manifest slack`)."
)
NO_PLAN = "User groups need a paid Slack plan, so I can't read one here. Try a channel instead."
REFUSED = "Slack wouldn't tell me that {what}'s members ({error}). Please try again later."
KEEPING = (
    "I'll keep {team} in step with {source} as people join and leave "
    "(`/pulse settings {team} sync off` stops it)."
)
STOPPED = (
    "I've stopped keeping {team} in step with {source}. Its members stay as they are now; "
    "`/pulse settings {team} sync #channel` (or `@group`) starts again."
)
NOT_SYNCED = (
    "{team} isn't kept in step with a Slack channel or user group, so there was nothing to stop."
)
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
    # how the reply names the source: a channel link, or the group's handle (a ``<!subteam^…>``
    # mention would notify the whole group)
    label: str = field(default="", compare=False)


@dataclass(frozen=True)
class StopSync:
    """``settings [team] sync off``."""

    team: str | None


@dataclass(frozen=True)
class Members:
    emails: list[str]
    skipped: int  # bots and accounts without an email, left out


def sync_request(text: str) -> SyncRequest | StopSync | None:
    """``settings [team] sync <#C…|name>``, ``… sync <!subteam^S…|@handle>`` or ``… sync off``
    (with or without a leading ``pulse``), else None."""
    match = _SYNC.match(text)
    if match is None:
        return None
    team = (match.group("team") or "").strip() or None
    if match.group("off"):
        return StopSync(team)
    if match.group("channel"):
        channel = match.group("channel")
        return SyncRequest(team, "channel", channel, f"<#{channel}>")
    handle = (match.group("handle") or "").strip()
    label = "@" + handle.lstrip("@") if handle else "that user group"
    return SyncRequest(team, "usergroup", match.group("usergroup"), label)


def kind_of(source: str) -> Kind:
    return "usergroup" if _USERGROUP_ID.fullmatch(source) else "channel"


def changed_source(event: dict[str, Any]) -> str | None:
    """The channel or user group whose members an event says changed (None when malformed)."""
    if event.get("type") == USERGROUP_EVENT:
        source, pattern = event.get("subteam_id"), _USERGROUP_ID
    else:
        source, pattern = event.get("channel"), _CHANNEL_ID
    return source if isinstance(source, str) and pattern.fullmatch(source) else None


class MemberSync:
    """Replaces a team's members with a channel's or a user group's, and keeps them in step."""

    def __init__(self, directory: SlackDirectory) -> None:
        self.directory = directory
        self._one_at_a_time = asyncio.Lock()
        self._waiting: set[str] = set()  # sources whose sync waits for the lock

    # -- the command -----------------------------------------------------------------------------
    async def run(
        self, client: AsyncWebClient, email: str, request: SyncRequest | StopSync
    ) -> TextReply:
        conversation = Conversation(self.directory.service)
        team = await conversation.settings_team(email, request.team)
        if isinstance(team, TextReply):
            return team
        if isinstance(request, StopSync):
            return await self.stop(team)
        return await self.start(client, team, request)

    async def start(self, client: AsyncWebClient, team: TeamRef, request: SyncRequest) -> TextReply:
        """Make the source's members the team's; only then remember the source."""
        what = _NAMES[request.kind]
        try:
            members = await self.members(client, request.source)
        except SlackApiError as error:
            return TextReply(_refusal(request.kind, error), kind="error")
        if not members.emails:  # a disabled group, say: never empty a team by accident
            return TextReply(EMPTY.format(what=what), kind="error")
        service = self.directory.service
        added, removed = await service.set_members(team, members.emails)
        await service.set_member_source(team, request.source)
        skipped = members.skipped
        note = f" ({skipped} without an email or bots, left out)" if skipped else ""
        keeping = KEEPING.format(team=team.name, source=request.label or f"that {what}")
        text = f"{team.name}: {added} added, {removed} removed{note}. {keeping}"
        return TextReply(text, kind="success")

    async def stop(self, team: TeamRef) -> TextReply:
        """``sync off``: forget the source; the members stay as they are."""
        previous = await self.directory.service.set_member_source(team, None)
        if previous is None:
            return TextReply(NOT_SYNCED.format(team=team.name))
        source = f"<#{previous}>" if kind_of(previous) == "channel" else "its user group"
        return TextReply(STOPPED.format(team=team.name, source=source), kind="success")

    # -- events ----------------------------------------------------------------------------------
    def register(self, bolt: AsyncApp, client: AsyncWebClient) -> None:
        """Membership events (acked by Bolt before this runs) sync the teams kept in step."""

        async def changed(event: dict[str, Any]) -> None:
            source = changed_source(event)
            if source is not None:
                await self.follow(client, source)

        for name in (*CHANNEL_EVENTS, USERGROUP_EVENT):
            bolt.event(name)(changed)

    async def follow(self, client: AsyncWebClient, source: str) -> None:
        """Sync again every team kept in step with ``source``.  One sync at a time in this
        process (Slack's rate limits; no two replacements of one team racing); a change that
        arrives while a sync of the same source is still waiting its turn is left to that one,
        which reads the members after it."""
        if source in self._waiting:
            return
        self._waiting.add(source)
        async with self._one_at_a_time:
            self._waiting.discard(source)
            await self.resync(client, source)

    async def resync(self, client: AsyncWebClient, source: str) -> None:
        """The command's sync, for each team kept in step with ``source`` (none: no Slack call).
        When Slack refuses or the source is empty the teams are left as they are, and still kept
        in step: the next change, or the command again, brings them back.  Counts only in logs."""
        service = self.directory.service
        teams = await service.teams_in_step_with(source)
        if not teams:
            return
        kind = kind_of(source)
        try:
            members = await self.members(client, source)
        except SlackApiError as error:
            code = _error_code(error)
            log.warning("Slack refused a synced %s's members (%s)", _NAMES[kind], code)
            return
        if not members.emails:
            log.warning("a synced %s has no members; teams left as they are", _NAMES[kind])
            return
        for team in teams:
            await service.set_members(team, members.emails)
        log.info(
            "teams kept in step with a Slack %s",
            _NAMES[kind],
            extra={"teams": len(teams), "members": len(members.emails)},
        )

    # -- Slack -----------------------------------------------------------------------------------
    async def members(self, client: AsyncWebClient, source: str) -> Members:
        """The source's members as emails; SlackApiError when Slack won't say."""
        if kind_of(source) == "channel":
            user_ids = await self.channel_members(client, source)
        else:
            user_ids = await self.usergroup_members(client, source)
        emails: list[str] = []
        for user_id in user_ids:
            found = await self.directory.email_of(user_id)
            if found is not None:
                emails.append(found)
        return Members(emails, skipped=len(user_ids) - len(emails))

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


def _error_code(error: SlackApiError) -> str:
    return str(error.response.get("error") or "unknown_error")


def _refusal(kind: Kind, error: SlackApiError) -> str:
    """What to tell the manager when Slack refuses to list the members."""
    code = _error_code(error)
    if code == "missing_scope":
        return NO_SCOPE.format(what=_NAMES[kind])
    if kind == "channel":
        return NO_CHANNEL
    if code == "no_such_subteam":
        return NO_GROUP
    if code == "plan_upgrade_required":
        return NO_PLAN
    return REFUSED.format(what=_NAMES[kind], error=code)

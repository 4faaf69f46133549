"""A team's members kept in step with a group on a platform (a Slack channel or user group).

The policy is the core's, the same for every platform: only the team's managers may start or stop
it (as for any ``pulse settings``); the group's members replace the team's (``set_members``, its
managers untouched) and only then is the source remembered (``set_member_source``, stored as
``<platform>:<its id>``); a group the platform won't list, or one with no members, leaves the team
as it is.  When the group changes, every team kept in step with it is synced again in full.

The ``Conversation`` is the entry (``sync_members``, ``stop_sync``).  The adapter reads its own
words for a group, lists the group's members as emails (``fetch``) and
words the platform's own refusals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.service import TeamPulse
from bot.views import TextReply
from surveys.directory import TeamRef

log = logging.getLogger(__name__)

EMPTY = "That {what} has no members, so I've left the team as it is."
KEEPING = (
    "I'll keep {team} in step with {source} as people join and leave "
    "(`/pulse settings {team} sync off` stops it)."
)
STOPPED = (
    "I've stopped keeping {team} in step with {source}. Its members stay as they are now; "
    "`/pulse settings {team} sync #channel` (or `@group`) starts again."
)
NOT_SYNCED = "{team} isn't kept in step with a channel or group, so there was nothing to stop."


@dataclass(frozen=True)
class Members:
    emails: list[str]
    skipped: int  # bots and accounts without an email, left out


@dataclass(frozen=True)
class Source:
    """A group on a platform, as a reply names it."""

    platform: str
    id: str
    what: str  # what people call it there ("channel", "user group")
    label: str  # how a reply names it (never a mention that would notify the group)

    @property
    def key(self) -> str:
        """How it is stored (``Team.member_source``)."""
        return source_key(self.platform, self.id)


def source_key(platform: str, source_id: str) -> str:
    return f"{platform}:{source_id}"


def split_source(key: str) -> tuple[str, str]:
    """``slack:C123`` -> ("slack", "C123")."""
    platform, _, source_id = key.partition(":")
    return platform, source_id


# the members as emails, or the platform's own words for why it won't list them
Fetch = Callable[[], Awaitable[Members | TextReply]]


class MemberSources:
    def __init__(self, service: TeamPulse) -> None:
        self.service = service
        self._one_at_a_time = asyncio.Lock()
        self._waiting: set[str] = set()  # sources whose sync waits for the lock

    async def sync(self, team: TeamRef, source: Source, fetch: Fetch) -> TextReply:
        """The group's members become the team's, and the team is kept in step (the
        ``Conversation`` has checked that the asker manages the team)."""
        members = await fetch()
        if isinstance(members, TextReply):
            return members
        if not members.emails:  # a disabled group, say: never empty a team by accident
            return TextReply(EMPTY.format(what=source.what), kind="error")
        added, removed = await self.service.set_members(team, members.emails)
        await self.service.set_member_source(team, source.key)
        skipped = members.skipped
        note = f" ({skipped} without an email or bots, left out)" if skipped else ""
        keeping = KEEPING.format(team=team.name, source=source.label or f"that {source.what}")
        return TextReply(
            f"{team.name}: {added} added, {removed} removed{note}. {keeping}", "success"
        )

    async def stop(self, team: TeamRef, label_of: Callable[[str], str]) -> TextReply:
        """``sync off``: forget the source (``label_of`` names the stored one); the members stay
        as they are."""
        previous = await self.service.set_member_source(team, None)
        if previous is None:
            return TextReply(NOT_SYNCED.format(team=team.name))
        text = STOPPED.format(team=team.name, source=label_of(previous))
        return TextReply(text, kind="success")

    async def follow(self, source_key: str, fetch: Callable[[], Awaitable[Members | None]]) -> None:
        """The group changed: sync again every team kept in step with it.  One sync at a time in
        this process (the platform's rate limits; no two replacements of one team racing); a
        change that arrives while a sync of the same source still waits its turn is left to that
        one, which reads the members after it."""
        if source_key in self._waiting:
            return
        self._waiting.add(source_key)
        async with self._one_at_a_time:
            self._waiting.discard(source_key)
            await self._resync(source_key, fetch)

    async def _resync(
        self, source_key: str, fetch: Callable[[], Awaitable[Members | None]]
    ) -> None:
        """Every team kept in step with the source (none: ``fetch`` is not called).  When the
        platform won't list it (``None``) or it is empty the teams are left as they are, and
        still kept in step.  Counts only in logs."""
        teams = await self.service.teams_in_step_with(source_key)
        if not teams:
            return
        members = await fetch()
        if members is None:
            return
        if not members.emails:
            log.warning("a synced group has no members; teams left as they are")
            return
        for team in teams:
            await self.service.set_members(team, members.emails)
        extra = {"teams": len(teams), "members": len(members.emails)}
        log.info("teams kept in step with a group", extra=extra)

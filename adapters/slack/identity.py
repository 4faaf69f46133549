"""Slack users <-> people of the organisation, matched by email; what is kept about them is the
core's (``service.identities``), this module only asks Slack.  Nothing is written while someone
opens or answers a pulse (``remember=False``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from functools import partial
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.oauth import Workspaces, bound
from bot.identities import LRU, Identities
from bot.ports import Recipient, Unreachable
from bot.service import TeamPulse
from surveys.directory import normalise_email

PLATFORM = "slack"
NOT_FOUND = {"users_not_found", "user_not_found", "account_inactive", "user_disabled"}


def error_code(error: SlackApiError) -> str:
    """The ``error`` Slack gave for a refused call (``unknown_error`` when it gave none)."""
    data = error.response.data if error.response is not None else None
    return str((data.get("error") if isinstance(data, dict) else None) or "unknown_error")


class SlackDirectory:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._service: TeamPulse | None = None
        self.workspaces: Workspaces | None = None  # many workspaces (OAuth mode), set at install
        self._teams: LRU[str, str] = LRU()  # Slack user id -> the workspace recorded for them

    def bind(self, service: TeamPulse) -> None:
        self._service = service

    @property
    def service(self) -> TeamPulse:
        if self._service is None:
            raise RuntimeError("the Slack adapter is not installed in a server yet")
        return self._service

    @property
    def identities(self) -> Identities:
        return self.service.identities

    async def email_of(self, user_id: str, *, remember: bool = True) -> str | None:
        """The email of a Slack user (None for bots, guests without one, or unknown ids).
        ``remember=False`` (the pulse's path) never writes to the database."""
        email = await self.identities.email_of(PLATFORM, user_id)
        if email is None:
            email = await self._profile_email(user_id)
            if email is None:
                return None
            await self.identities.learned(PLATFORM, user_id, email, remember=remember)
        if remember:
            await self._note_workspace(user_id, email)
        return email

    async def _profile_email(self, user_id: str) -> str | None:
        user: dict[str, Any] = (await self._ask("users_info", user=user_id) or {}).get("user") or {}
        email = (user.get("profile") or {}).get("email")
        if user.get("is_bot") or user.get("deleted") or not isinstance(email, str) or not email:
            return None
        return normalise_email(email)

    async def _ask(self, method: str, missing: set[str] = NOT_FOUND, **params: Any) -> Any:
        """A Slack call whose "there is no such user (or channel)" answer is None."""
        try:
            return await getattr(self.client, method)(**params)
        except SlackApiError as error:
            if error_code(error) in missing:
                return None
            raise

    async def _note_workspace(self, user_id: str, email: str) -> None:
        """Many workspaces: the person asking is in the request's workspace; record it (once)
        so that what is sent to them later goes with that workspace's token."""
        team = self.workspaces.request_team(user_id) if self.workspaces else None
        if team is None or self._teams.get(user_id) == team:
            return
        recipient = await self.identities.recipient(email)
        if recipient is not None:
            await self._settle(recipient, team, user_id)
        self._teams.remember(user_id, team)

    async def user_id_of(self, recipient: Recipient) -> str:
        """The person's Slack user id; ``Unreachable`` when Slack has no user with their email."""
        user_id = await self.identities.external_id(PLATFORM, recipient)
        if user_id is None:
            user_id = await self._lookup(recipient.email)
            if user_id is None:
                raise Unreachable("no Slack user with this email")
            await self.identities.link(PLATFORM, recipient, user_id)
        return user_id

    async def _lookup(self, email: str) -> str | None:
        """The id of the user with this email in the token's workspace (None when there is none)."""
        found = await self._ask("users_lookupByEmail", email=email) or {}
        return str((found.get("user") or {}).get("id") or "") or None

    async def dm_channel(self, recipient: Recipient) -> str:
        """The bot's DM channel with the person (``conversations.open`` once, then stored)."""
        stored = await self.identities.reference(PLATFORM, recipient)
        if stored.get("channel"):
            return str(stored["channel"])
        user_id = str(stored.get("user") or "") or await self.user_id_of(recipient)
        opened = await self.client.conversations_open(users=user_id)
        channel = str((opened.get("channel") or {}).get("id") or "")
        if not channel:
            raise RuntimeError("conversations.open returned no channel")
        changes = {"user": user_id, "channel": channel}
        await self.identities.update_reference(PLATFORM, recipient, changes)
        return channel

    async def dm_channel_for(self, email: str) -> str:
        """The DM channel of the person with this email (``Unreachable`` if there is none)."""
        recipient = await self.identities.recipient(email)
        if recipient is None:
            raise Unreachable("not in the organisation")
        return await self.dm_channel(recipient)

    @asynccontextmanager
    async def reaching(self, recipient: Recipient) -> AsyncIterator[None]:
        """Slack calls inside go with the bot token of the person's workspace: the one recorded
        for them, else the first installed one with a user with their email (then recorded).
        ``Unreachable`` when no installed workspace has them.  One workspace: as is."""
        if self.workspaces is None:
            yield
            return
        known = (await self.identities.reference(PLATFORM, recipient)).get("team")
        where = await self.workspaces.locate(
            known if isinstance(known, str) else None, lambda: self._lookup(recipient.email)
        )
        if where.found is not None:
            await self.identities.link(PLATFORM, recipient, where.found)
            await self._settle(recipient, where.tenant, where.found)
        with bound(where.credential):
            yield

    def in_channel_workspace(self, channel: str) -> AbstractAsyncContextManager[None]:
        """Slack calls inside go with the bot token of the channel's workspace."""
        if self.workspaces is None:  # one workspace: as is
            return nullcontext()
        sees = partial(self._ask, "conversations_info", {"channel_not_found"}, channel=channel)
        return self.workspaces.in_channel(channel, sees)

    async def _settle(self, recipient: Recipient, team: str, user_id: str) -> None:
        """Record the person's workspace and their user id there; a DM channel stored for another
        user id (another workspace's account) is dropped, to be opened again."""
        stored = await self.identities.reference(PLATFORM, recipient)
        if stored.get("team") == team and stored.get("user") == user_id:
            return
        changes: dict[str, Any] = {"team": team, "user": user_id}
        if stored.get("user") != user_id:
            changes["channel"] = None
        await self.identities.update_reference(PLATFORM, recipient, changes)

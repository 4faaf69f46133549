"""Slack users <-> people of the organisation, matched by email; what is kept about them is the
core's (``service.identities``), this module only asks Slack.  Nothing is written while someone
opens or answers a pulse (``remember=False``).

Finding a person's Slack user for a first pulse reads the workspace's whole directory once
(``users.list``, Tier 2, 200 people a page) and keeps it in this process for an hour, rather than
one ``users.lookupByEmail`` (Tier 3, about 50 a minute) each: a trust of 15,000 is 75 calls, not
15,000.  Someone who joined Slack since is found at the next reading (the outbox tries their pulse
again meanwhile); when Slack refuses the reading, people are looked up by email as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.app import PLATFORM
from adapters.slack.tokens import bound, bound_token
from bot.bindings import STRANGER
from bot.identities import LRU, Identities, normalise_email
from bot.outage import Deadline, within
from bot.ports import Recipient, Unreachable
from bot.service import TeamPulse

if TYPE_CHECKING:  # (Bolt and its OAuth modules load after start: adapters/slack/on_demand.py)
    from slack_bolt.context.async_context import AsyncBoltContext

    from adapters.slack.oauth import Workspaces

log = logging.getLogger(__name__)

NOT_FOUND = {"users_not_found", "user_not_found", "account_inactive", "user_disabled"}
DIRECTORY_PAGE = 200  # users.list's recommended page size
DIRECTORY_KEPT = 3600.0  # seconds a workspace's directory is used before it is read again

# the workspace the request being handled comes from: its team and Enterprise Grid ids (None:
# no request, e.g. a send from the outbox)
_ORIGIN: ContextVar[frozenset[str] | None] = ContextVar("slack_origin", default=None)


async def note_origin(context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]) -> Any:
    """Bolt middleware: the request's workspace, which an account matched by email in it must be
    allowed to come from (``bot/bindings.py``)."""
    ids = (context.team_id, context.enterprise_id)
    _ORIGIN.set(frozenset(str(i) for i in ids if i))
    return await next()


def error_code(error: SlackApiError) -> str:
    """The ``error`` Slack gave for a refused call (``unknown_error`` when it gave none)."""
    data = error.response.data if error.response is not None else None
    return str((data.get("error") if isinstance(data, dict) else None) or "unknown_error")


@dataclass(frozen=True)
class Opened:
    """A DM channel just opened with a person, not stored yet."""

    user_id: str
    channel: str


@dataclass
class WorkspaceUsers:
    """One workspace's users by email, as ``users.list`` gave them (people only: no bots, no
    deactivated accounts, none without an email), and when."""

    by_email: dict[str, str] | None = None  # None: Slack refused the last reading
    read_at: float = float("-inf")
    reading: asyncio.Lock = field(default_factory=asyncio.Lock)

    def fresh(self, now: float) -> bool:
        return now - self.read_at < DIRECTORY_KEPT


class SlackDirectory:
    def __init__(
        self,
        client: AsyncWebClient,
        clock: Callable[[], float] = time.monotonic,
        served: frozenset[str] = frozenset(),
    ) -> None:
        self.client = client
        self.clock = clock
        # the workspaces whose people are matched by email (``TEAMPULSE_SLACK_WORKSPACES``;
        # none listed: the bot token's own, asked of ``auth.test`` once, when first needed)
        self.served = served
        self._own: frozenset[str] | None = None
        self._service: TeamPulse | None = None
        self.workspaces: Workspaces | None = None  # many workspaces (OAuth mode), set at install
        self._users: dict[str, WorkspaceUsers] = {}  # by bot token ("" for the client's own)
        # (bot token, person id) -> the bot's DM channel with them: stored once, never changed,
        # so a pulse to someone already reached reads nothing before posting
        self._channels: LRU[tuple[str, int], str] = LRU()

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
        stored = await self.identities.email_of(PLATFORM, user_id)
        return await self._resolved(user_id, stored, remember)

    async def email_by(self, user_id: str, by: Deadline, *, remember: bool = True) -> str | None:
        """``email_of``, ``DatabaseUnavailable`` when the database fails it or does not answer
        by ``by``.  A stored account (every person sent a pulse has one) is found in the
        caller's own task (``bot/outage.grouped``); the rest (Slack's ``users.info``, a
        workspace's bindings, noting the asker) may hold a connection, so it runs as
        ``within``'s task."""
        email = await self.identities.email_of(PLATFORM, user_id, by)
        if email is not None and _ORIGIN.get() is None and not self._notes(remember):
            return email
        found = self._resolved(user_id, email, remember)
        return await within(by, found, "finding a Slack user's email")

    def _notes(self, remember: bool) -> bool:
        """Whether ``email_of`` writes who asked (many workspaces: the asker's workspace)."""
        return remember and self.workspaces is not None

    async def _resolved(self, user_id: str, email: str | None, remember: bool) -> str | None:
        """The rest of ``email_of`` once the stored email (None: none) is known."""
        learned = email is None
        if email is None:
            email = await self._profile_email(user_id)
            if email is None:
                return None
        origin = _ORIGIN.get()
        if origin is not None and not await self.identities.bindings.admits(
            PLATFORM, origin, email
        ):
            return STRANGER  # (nothing kept for the account: it is no one here)
        if learned:
            await self.identities.learned(PLATFORM, user_id, email, remember=remember)
        if self._notes(remember) and self.workspaces is not None:  # note the asker's workspace
            await self.workspaces.asker_seen(user_id, email)
        return email

    async def _profile_email(self, user_id: str) -> str | None:
        user: dict[str, Any] = (await self._ask("users_info", user=user_id) or {}).get("user") or {}
        email = (user.get("profile") or {}).get("email")
        if user.get("is_bot") or user.get("deleted") or not isinstance(email, str) or not email:
            return None
        if not await self._of_served_workspace(user):
            log.warning(
                "a Slack user of a workspace not served was not matched by email",
                extra={"workspace": str(user.get("team_id"))},
            )
            return None
        return normalise_email(email)

    async def _of_served_workspace(self, user: dict[str, Any]) -> bool:
        """Whether a Slack user belongs to a served workspace.  A channel or DM shared with
        another workspace (Slack Connect) brings in its people, with the emails *their* admins
        gave them; matched by email, one could act here as anyone whose email they carry."""
        team = user.get("team_id")
        if not isinstance(team, str) or not team:
            return True  # (Slack always says; the request's own workspace was checked at the gate)
        enterprise = (user.get("enterprise_user") or {}).get("enterprise_id")
        served = self.served or await self._own_workspace()
        return team in served or enterprise in served

    async def _own_workspace(self) -> frozenset[str]:
        """One workspace and none listed: the bot token's own (and its Enterprise Grid's)."""
        if self._own is None:
            found = await self.client.auth_test()
            ids = (found.get("team_id"), found.get("enterprise_id"))
            self._own = frozenset(str(i) for i in ids if i)
        return self._own

    async def _ask(self, method: str, missing: set[str] = NOT_FOUND, **params: Any) -> Any:
        """A Slack call whose "there is no such user (or channel)" answer is None."""
        try:
            return await getattr(self.client, method)(**params)
        except SlackApiError as error:
            if error_code(error) in missing:
                return None
            raise

    async def user_id_of(self, recipient: Recipient) -> str:
        """The person's Slack user id; ``Unreachable`` when Slack has no user with their email."""
        user_id = await self.identities.external_id(PLATFORM, recipient)
        if user_id is None:
            user_id = await self._found(recipient)
            await self.identities.link(PLATFORM, recipient, user_id)
        return user_id

    async def _lookup(self, email: str) -> str | None:
        """The id of the user with this email in the token's workspace (None when there is none):
        from the workspace's directory, or asked by email when Slack wouldn't give that."""
        directory = await self._workspace_users()
        if directory is not None:
            return directory.get(normalise_email(email))
        found = await self._ask("users_lookupByEmail", email=email) or {}
        return str((found.get("user") or {}).get("id") or "") or None

    async def _workspace_users(self) -> dict[str, str] | None:
        """The bound workspace's users by email, read at most once an hour (one reading at a
        time: sends waiting on it share it).  A refused read leaves the look-ups by email."""
        users = self._users.setdefault(bound_token() or "", WorkspaceUsers())
        async with users.reading:
            if not users.fresh(self.clock()):
                try:
                    users.by_email = await self._read_users()
                except SlackApiError as error:
                    log.warning("Slack refused users.list (%s)", error_code(error))
                    users.by_email = None
                users.read_at = self.clock()
        return users.by_email

    async def _read_users(self) -> dict[str, str]:
        """Every page of ``users.list``: people with an email, by it."""
        found: dict[str, str] = {}
        cursor: str | None = None
        while True:
            page = await self.client.users_list(limit=DIRECTORY_PAGE, cursor=cursor)
            for user in page.get("members") or []:
                email = (user.get("profile") or {}).get("email")
                if user.get("is_bot") or user.get("deleted") or not isinstance(email, str):
                    continue
                if user.get("id") and email:
                    found[normalise_email(email)] = str(user["id"])
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return found

    async def dm_channel(self, recipient: Recipient) -> str:
        """The bot's DM channel with the person (``conversations.open`` once, then stored, and
        kept in this process)."""
        channel, opened = await self.dm(recipient)
        if opened is not None:
            await self.stored(recipient, opened)
        return channel

    async def dm(self, recipient: Recipient) -> tuple[str, Opened | None]:
        """The DM channel, and, when it was just opened, what to store about it: the caller
        stores it (``stored``) in the same write as what it learns next (a pulse's message)."""
        key = (bound_token() or "", recipient.person_id)
        channel = self._channels.get(key)
        if channel is not None:
            return channel, None
        user_id, stored = await self.identities.account_and_reference(PLATFORM, recipient)
        if stored.get("channel"):
            channel = str(stored["channel"])
            self._channels.remember(key, channel)
            return channel, None
        user_id = str(stored.get("user") or "") or user_id or await self._found(recipient)
        channel = await self._open(user_id)
        return channel, Opened(user_id, channel)  # kept in this process once stored

    async def _open(self, user_id: str) -> str:
        opened = await self.client.conversations_open(users=user_id)
        channel = str((opened.get("channel") or {}).get("id") or "")
        if not channel:
            raise RuntimeError("conversations.open returned no channel")
        return channel

    async def stored(
        self, recipient: Recipient, opened: Opened, pulse: tuple[int, str] | None = None
    ) -> None:
        """Store the person's user id and DM channel (and a round's pulse message) in one
        write."""
        changes = {"user": opened.user_id, "channel": opened.channel}
        await self.identities.reached(PLATFORM, recipient, opened.user_id, changes, pulse=pulse)
        self._channels.remember((bound_token() or "", recipient.person_id), opened.channel)

    async def _found(self, recipient: Recipient) -> str:
        """The person's user id from Slack's directory (``Unreachable`` when there is none)."""
        user_id = await self._lookup(recipient.email)
        if user_id is None:
            raise Unreachable("no Slack user with this email")
        return user_id

    async def dm_channel_for(self, email: str) -> str:
        """The DM channel of the person with this email (``Unreachable`` if there is none)."""
        recipient = await self.identities.recipient(email)
        if recipient is None:
            raise Unreachable("not in the organisation")
        return await self.dm_channel(recipient)

    @asynccontextmanager
    async def reaching(self, recipient: Recipient) -> AsyncIterator[None]:
        """Slack calls inside go with the bot token of the person's workspace (``Tenants.reach``;
        ``Unreachable`` when no installed workspace has them).  One workspace: as is."""
        if self.workspaces is None:
            yield
            return
        with bound(await self.workspaces.reach(recipient, lambda: self._lookup(recipient.email))):
            yield

    def in_channel_workspace(self, channel: str) -> AbstractAsyncContextManager[None]:
        """Slack calls inside go with the bot token of the channel's workspace."""
        if self.workspaces is None:  # one workspace: as is
            return nullcontext()
        sees = partial(self._ask, "conversations_info", {"channel_not_found"}, channel=channel)
        return self.workspaces.in_channel(channel, sees)

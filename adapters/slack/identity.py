"""Slack users <-> people of the organisation, matched by email.

* Slack user id -> email: ``users.info`` (``profile.email``, scope ``users:read.email``), then kept
  as a ``PlatformIdentity(platform="slack")`` so the next request needs no API call.
* person -> Slack user: the stored identity or ``users.lookupByEmail``; their DM channel comes from
  ``conversations.open`` and is kept in a ``ConversationReference`` (with the timestamps of the
  pulse messages sent there, so a reminder can reply in the same thread).
* many workspaces (OAuth): the reference also holds the person's workspace (``team``) and their
  user id there (``user``), recorded when a request of theirs is seen or, failing that, found by
  asking each installed workspace for their email; ``reaching`` binds that workspace's bot token
  around a send.  A team channel's workspace is found by asking each one about the channel
  (``conversations.info``) and remembered in this process: the channel comes from the organisation
  file, which knows no workspace.

Nothing here is written while someone opens or answers a pulse (``remember=False``): a
person-linked row would sit next to the answer's transaction in the database's log.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.slack.oauth import Workspaces, bound
from bot.batching import GroupCommit
from bot.platforms import Unreachable
from bot.service import TeamPulse
from storage.models import ConversationReference, Person, PlatformIdentity

log = logging.getLogger(__name__)

PLATFORM = "slack"
CACHE_SIZE = 20_000  # a large trust's staff
PULSES_KEPT = 8  # pulse message timestamps kept per person (for reminders in the thread)
NOT_FOUND = {"users_not_found", "user_not_found", "account_inactive", "user_disabled"}


class LRU(OrderedDict[str, str]):
    def __init__(self, capacity: int = CACHE_SIZE) -> None:
        super().__init__()
        self.capacity = capacity

    def remember(self, key: str, value: str) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


class SlackDirectory:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._service: TeamPulse | None = None
        self._emails = LRU()  # Slack user id -> email
        self._stored_emails: GroupCommit[str, str | None] = GroupCommit(self._stored_emails_of)
        self.workspaces: Workspaces | None = None  # many workspaces (OAuth mode), set at install
        self._teams = LRU()  # Slack user id -> the workspace recorded for them (by this process)
        self._channels = LRU()  # channel id -> its workspace

    def bind(self, service: TeamPulse) -> None:
        self._service = service

    @property
    def service(self) -> TeamPulse:
        if self._service is None:
            raise RuntimeError("the Slack adapter is not installed in a server yet")
        return self._service

    # -- Slack user -> person ------------------------------------------------------------------
    async def email_of(self, user_id: str, *, remember: bool = True) -> str | None:
        """The email of a Slack user (None for bots, guests without one, or unknown ids).

        ``remember=False`` (the pulse's path: opening, submitting, the Home tab shown again after)
        never writes to the database.
        """
        email = self._emails.get(user_id) or await self._stored_email(user_id)
        if email is None:
            email = await self._profile_email(user_id)
            if email is None:
                return None
            if remember:
                await self._store_identity(email, user_id)
        self._emails.remember(user_id, email)
        if remember:
            await self._note_workspace(user_id, email)
        return email

    async def _stored_email(self, user_id: str) -> str | None:
        if self.service.sending:  # inside the core's send: its session, no batch to join
            [email] = await self._stored_emails_of([user_id])
            return email
        return await self._stored_emails(user_id)

    async def _stored_emails_of(self, user_ids: Sequence[str]) -> list[str | None]:
        """Several Slack users' stored emails in one query: at a pulse's peak many people's first
        requests arrive together, and ``_stored_emails`` (a ``GroupCommit``) batches them."""
        async with self.service.session() as session:
            query = (
                select(PlatformIdentity.external_id, Person.email)
                .join(Person, col(PlatformIdentity.person_id) == col(Person.id))
                .where(
                    PlatformIdentity.platform == PLATFORM,
                    col(PlatformIdentity.external_id).in_(set(user_ids)),
                )
            )
            found = dict((await session.exec(query)).all())
        return [found.get(user_id) for user_id in user_ids]

    async def _profile_email(self, user_id: str) -> str | None:
        try:
            info = await self.client.users_info(user=user_id)
        except SlackApiError as error:
            if _error_code(error) in NOT_FOUND:
                return None
            raise
        user: dict[str, Any] = info.get("user") or {}
        email = (user.get("profile") or {}).get("email")
        if user.get("is_bot") or user.get("deleted") or not isinstance(email, str) or not email:
            return None
        return email.strip().lower()

    async def _note_workspace(self, user_id: str, email: str) -> None:
        """Many workspaces: the person asking is in the request's workspace.  Record it (once)
        so that what is sent to them later goes with that workspace's token."""
        team = self.workspaces.request_team(user_id) if self.workspaces else None
        if team is None or self._teams.get(user_id) == team:
            return
        async with self.service.session() as session:
            person = (await session.exec(select(Person).where(Person.email == email))).first()
        if person is not None:
            await self._settle(person, team, user_id)
        self._teams.remember(user_id, team)

    async def _store_identity(self, email: str, user_id: str) -> None:
        async with self.service.session() as session:
            person = (await session.exec(select(Person).where(Person.email == email))).first()
            if person is None or person.id is None:
                return
            await _add_identity(session, person.id, user_id)

    # -- person -> Slack -----------------------------------------------------------------------
    async def knows(self, person: Person) -> bool:
        async with self.service.session() as session:
            return await _identity(session, person) is not None

    async def user_id_of(self, person: Person) -> str:
        """The person's Slack user id; ``Unreachable`` when Slack has no user with their email."""
        async with self.service.session() as session:
            identity = await _identity(session, person)
            if identity is not None:
                return identity.external_id
        user_id = await self._lookup(person.email)
        if user_id is None:
            raise Unreachable("no Slack user with this email")
        await self._add_identity(person, user_id)
        return user_id

    async def _lookup(self, email: str) -> str | None:
        """The id of the user with this email in the token's workspace (None when there is none)."""
        try:
            found = await self.client.users_lookupByEmail(email=email)
        except SlackApiError as error:
            if _error_code(error) in NOT_FOUND:
                return None
            raise
        return str((found.get("user") or {}).get("id") or "") or None

    async def _add_identity(self, person: Person, user_id: str) -> None:
        self._emails.remember(user_id, person.email)
        assert person.id is not None
        async with self.service.session() as session:
            await _add_identity(session, person.id, user_id)

    async def dm_channel(self, person: Person) -> str:
        """The bot's DM channel with the person (``conversations.open`` once, then stored)."""
        async with self.service.session() as session:
            stored = await _reference(session, person) or {}
        if stored.get("channel"):
            return str(stored["channel"])
        user_id = str(stored.get("user") or "") or await self.user_id_of(person)
        opened = await self.client.conversations_open(users=user_id)
        channel = str((opened.get("channel") or {}).get("id") or "")
        if not channel:
            raise RuntimeError("conversations.open returned no channel")
        await self._update_reference(person, {"user": user_id, "channel": channel})
        return channel

    async def dm_channel_for(self, email: str) -> str:
        async with self.service.session() as session:
            person = (await session.exec(select(Person).where(Person.email == email))).first()
        if person is None:
            raise Unreachable("not in the organisation")
        return await self.dm_channel(person)

    async def pulse_message(self, person: Person, round_id: int) -> str | None:
        """The ``ts`` of the pulse message sent to this person for this round, if known."""
        async with self.service.session() as session:
            stored = await _reference(session, person)
        pulses = (stored or {}).get("pulses") or {}
        ts = pulses.get(str(round_id)) if isinstance(pulses, dict) else None
        return ts if isinstance(ts, str) else None

    async def remember_pulse_message(self, person: Person, round_id: int, ts: str) -> None:
        async with self.service.session() as session:
            stored = await _reference(session, person) or {}
        pulses = dict(stored.get("pulses") or {})
        pulses[str(round_id)] = ts
        kept = sorted(pulses, key=int)[-PULSES_KEPT:]
        await self._update_reference(person, {"pulses": {key: pulses[key] for key in kept}})

    # -- many workspaces --------------------------------------------------------------------------
    @asynccontextmanager
    async def reaching(self, person: Person) -> AsyncIterator[None]:
        """Slack calls inside go with the bot token of the person's workspace: the one recorded
        for them, else the first installed workspace that has a user with their email (then
        recorded).  ``Unreachable`` when no installed workspace has them.  One workspace: as is."""
        if self.workspaces is None:
            yield
            return
        async with self.service.session() as session:
            stored = await _reference(session, person) or {}
        known = stored.get("team")
        where = await self.workspaces.locate(
            known if isinstance(known, str) else None, lambda: self._lookup(person.email)
        )
        if where.found is not None:
            await self._add_identity(person, where.found)
            await self._settle(person, where.team_id, where.found)
        with bound(where.token):
            yield

    @asynccontextmanager
    async def in_channel_workspace(self, channel: str) -> AsyncIterator[None]:
        """Slack calls inside go with the bot token of the channel's workspace (the first
        installed one that can see it, remembered in this process).  One workspace: as is."""
        if self.workspaces is None:
            yield
            return
        where = await self.workspaces.locate(
            self._channels.get(channel), lambda: self._sees_channel(channel)
        )
        self._channels.remember(channel, where.team_id)
        with bound(where.token):
            yield

    async def _sees_channel(self, channel: str) -> bool | None:
        try:
            await self.client.conversations_info(channel=channel)
        except SlackApiError as error:
            if _error_code(error) == "channel_not_found":
                return None
            raise
        return True

    async def _settle(self, person: Person, team: str, user_id: str) -> None:
        """Record the person's workspace and their user id there; a DM channel stored for another
        user id (another workspace's account) is dropped, to be opened again."""
        async with self.service.session() as session:
            stored = await _reference(session, person) or {}
        if stored.get("team") == team and stored.get("user") == user_id:
            return
        changes: dict[str, Any] = {"team": team, "user": user_id}
        if stored.get("user") != user_id:
            changes["channel"] = None
        await self._update_reference(person, changes)

    async def _update_reference(self, person: Person, changes: dict[str, Any]) -> None:
        assert person.id is not None
        now = datetime.now(UTC)
        try:
            async with self.service.session() as session:
                row = (
                    await session.exec(
                        select(ConversationReference).where(
                            ConversationReference.person_id == person.id,
                            ConversationReference.platform == PLATFORM,
                        )
                    )
                ).first()
                if row is None:
                    row = ConversationReference(
                        person_id=person.id, platform=PLATFORM, reference="{}", updated_at=now
                    )
                reference = _load(row.reference)
                reference.update(changes)
                row.reference = json.dumps(reference, separators=(",", ":"))
                row.updated_at = now
                session.add(row)
        except IntegrityError:  # another worker stored it first; theirs is as good
            log.info("Slack conversation reference already stored")


def _error_code(error: SlackApiError) -> str:
    response = error.response
    data = response.data if response is not None else None
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def _load(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def _identity(session: AsyncSession, person: Person) -> PlatformIdentity | None:
    query = select(PlatformIdentity).where(
        PlatformIdentity.person_id == person.id, PlatformIdentity.platform == PLATFORM
    )
    return (await session.exec(query)).first()


async def _reference(session: AsyncSession, person: Person) -> dict[str, Any] | None:
    query = select(ConversationReference.reference).where(
        ConversationReference.person_id == person.id,
        ConversationReference.platform == PLATFORM,
    )
    text = (await session.exec(query)).first()
    return _load(text) if text is not None else None


async def _add_identity(session: AsyncSession, person_id: int, user_id: str) -> None:
    """Store person <-> Slack user once (a concurrent insert by another worker is fine)."""
    existing = (
        await session.exec(
            select(PlatformIdentity).where(
                PlatformIdentity.platform == PLATFORM, PlatformIdentity.external_id == user_id
            )
        )
    ).first()
    if existing is not None:
        return
    try:
        async with session.begin_nested():
            session.add(
                PlatformIdentity(person_id=person_id, platform=PLATFORM, external_id=user_id)
            )
    except IntegrityError:
        log.info("Slack identity already stored")

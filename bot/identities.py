"""Who a platform's accounts are, for every platform: the adapters ask here, never the database.

* ``PlatformIdentity`` (platform, external id <-> person): a platform user's email is looked up
  once and then kept, so the next request needs no platform API call; kept in this process too
  (an LRU), and the stored lookups of requests that arrive together share one query.
* ``ConversationReference``: a JSON dict per person and platform, where the platform keeps what it
  needs to reach the person proactively (a DM channel, a Bot Framework reference, the message of
  the pulse sent for a round so a reminder can answer in its thread).

The outbox sends many pulses at once, and each send reads a person's account and reference and
writes what it learned.  Reads that arrive together share one session and one query per table,
and so do writes (``GroupCommit``: each caller still waits for its own commit), rather than a
transaction each.
* ``Inbound``: the fail-open "first delivery?" of a platform's event ids (``storage.inbound``).

Nothing person-linked is written on the pulse's path: the adapters pass ``remember=False`` there,
and then only this process's cache learns the email (a row would sit next to the answer's
transaction in the database's log).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.batching import GroupCommit
from bot.bindings import Bindings
from bot.lru import LRU
from bot.outage import Deadline, grouped
from bot.ports import Recipient
from storage.engine import on_postgresql
from storage.inbound import InboundEvents
from storage.lists import any_of, distinct
from storage.models import ConversationReference, Person, PlatformIdentity
from surveys.directory import normalise_email, person_by_email

__all__ = ["LRU", "Identities", "Inbound", "normalise_email"]

log = logging.getLogger(__name__)

SEP = (",", ":")  # compact JSON
WHAT = "finding a user's email"  # (the log line's words when the database fails it)
PULSES_KEPT = 8  # pulse messages kept per person and platform (for reminders in the thread)

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]
Account = tuple[str, str]  # (platform, external id)
Whose = tuple[str, int]  # (platform, person id)
Merge = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class _Write:
    """One caller's write: store an account for the person, and/or merge into their
    reference."""

    platform: str
    person_id: int
    external_id: str | None = None
    merge: Merge | None = None


class Identities:
    """Platform accounts and conversation references.  ``session`` is the service's unit of
    work (a short session of its own)."""

    def __init__(self, session: Sessions) -> None:
        self.session = session
        # which accounts may be matched to an organisation's people (``bot/bindings.py``)
        self.bindings = Bindings(session)
        self._emails: LRU[Account, str] = LRU()
        # (platform, person id) -> their account: once stored it never changes, so a pulse to
        # someone already reached needs no query to find them
        self._accounts: LRU[tuple[str, int], str] = LRU()
        self._stored: GroupCommit[Account, str | None] = GroupCommit(self._stored_emails)
        self._read: GroupCommit[Whose, tuple[str | None, dict[str, Any]]] = GroupCommit(
            self._read_many
        )
        self._write: GroupCommit[_Write, None] = GroupCommit(self._write_many)

    async def recipient(self, email: str) -> Recipient | None:
        """The person with this email, if they are in an organisation."""
        async with self.session() as session:
            person = await person_by_email(session, email)
        return Recipient.of(person) if person is not None else None

    # -- platform account -> email -----------------------------------------------------------
    async def email_of(
        self, platform: str, external_id: str, by: Deadline | None = None
    ) -> str | None:
        """The email of a platform account this process or the database already knows.  With
        ``by``, a person waits at most until then for the database (``DatabaseUnavailable``),
        in their own task (``bot/outage.grouped``)."""
        account = (platform, external_id)
        email = self._emails.get(account)
        if email is None:
            stored = self._stored
            email = await (stored(account) if by is None else grouped(stored, account, by, WHAT))
        if email is not None:
            self._emails.remember(account, email)
        return email

    async def _stored_emails(self, accounts: Sequence[Account]) -> list[str | None]:
        """Several accounts' stored emails in one query: at a pulse's peak many people's first
        requests arrive together.  One statement on its own, outside a transaction (autocommit:
        no ``BEGIN`` and ``COMMIT`` round trips around it, which every pulse answered waited
        for)."""
        async with self.session() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            params = {
                "platforms": distinct(sorted({platform for platform, _ in accounts})),
                "external_ids": distinct(external for _, external in accounts),
            }
            query = _stored_emails_query(on_postgresql(session))
            rows = (await session.exec(query, params=params)).all()
            found = {(p, e): email for p, e, email in rows}
        return [found.get(account) for account in accounts]

    async def learned(
        self, platform: str, external_id: str, email: str, *, remember: bool = True
    ) -> None:
        """The platform told us this account's email: kept in this process, and stored for the
        person with that email unless ``remember=False`` (the pulse's path)."""
        email = normalise_email(email)
        self._emails.remember((platform, external_id), email)
        if remember:
            recipient = await self.recipient(email)
            if recipient is not None:
                await self._write(_Write(platform, recipient.person_id, external_id))

    # -- person -> platform account -----------------------------------------------------------
    async def external_id(self, platform: str, recipient: Recipient) -> str | None:
        found = self._accounts.get((platform, recipient.person_id))
        if found is not None:
            return found
        return (await self.account_and_reference(platform, recipient))[0]

    async def knows(self, platform: str, recipient: Recipient) -> bool:
        return await self.external_id(platform, recipient) is not None

    async def link(self, platform: str, recipient: Recipient, external_id: str) -> None:
        """Store person <-> account (found by the platform from their email)."""
        await self.reached(platform, recipient, external_id)

    async def reached(
        self,
        platform: str,
        recipient: Recipient,
        external_id: str,
        changes: dict[str, Any] | None = None,
        *,
        pulse: tuple[int, str] | None = None,
    ) -> None:
        """Store person <-> account and merge ``changes`` (and the message id of a round's
        ``pulse``) into their reference, in one transaction (a first pulse learns all at once)."""
        self._emails.remember((platform, external_id), recipient.email)
        merge = _merging(changes or {}, pulse) if changes or pulse else None
        try:
            await self._write(_Write(platform, recipient.person_id, external_id, merge))
        except IntegrityError:  # another worker created the reference first: one at a time
            await self._write(_Write(platform, recipient.person_id, external_id))
            await self._merge_reference(platform, recipient, _merging(changes or {}, pulse))
        self._accounts.remember((platform, recipient.person_id), external_id)

    async def _write_many(self, writes: Sequence[_Write]) -> list[None]:
        """Several callers' accounts and reference merges in one transaction: the accounts in
        one insert (an account already stored, by anyone, is left as it is), the references
        read in one query and merged in the order the calls came."""
        async with self.session() as session:
            accounts = [w for w in writes if w.external_id is not None]
            if accounts:
                await self._store_all(session, accounts)
            merges = [w for w in writes if w.merge is not None]
            if merges:
                await self._merge_all(session, merges)
        return [None] * len(writes)

    @staticmethod
    async def _store_all(session: AsyncSession, writes: Sequence[_Write]) -> None:
        rows = [
            {"person_id": w.person_id, "platform": w.platform, "external_id": w.external_id}
            for w in writes
        ]
        insert = postgresql.insert if on_postgresql(session) else sqlite.insert
        await session.exec(insert(PlatformIdentity).values(rows).on_conflict_do_nothing())

    @staticmethod
    async def _merge_all(session: AsyncSession, writes: Sequence[_Write]) -> None:
        now = datetime.now(UTC)
        query = select(ConversationReference).where(
            col(ConversationReference.person_id).in_({w.person_id for w in writes}),
            col(ConversationReference.platform).in_({w.platform for w in writes}),
        )
        found = {(r.platform, r.person_id): r for r in (await session.exec(query)).all()}
        for write in writes:
            assert write.merge is not None
            key = (write.platform, write.person_id)
            row = found.get(key) or ConversationReference(
                person_id=write.person_id, platform=write.platform, reference="{}", updated_at=now
            )
            row.reference = json.dumps(write.merge(json_object(row.reference)), separators=SEP)
            row.updated_at = now
            session.add(row)
            found[key] = row

    # -- conversation references ---------------------------------------------------------------
    async def reference(self, platform: str, recipient: Recipient) -> dict[str, Any]:
        """What the platform keeps to reach the person (empty when nothing is)."""
        return (await self._read((platform, recipient.person_id)))[1]

    async def account_and_reference(
        self, platform: str, recipient: Recipient
    ) -> tuple[str | None, dict[str, Any]]:
        """``external_id`` and ``reference`` together (a send needs both)."""
        key = (platform, recipient.person_id)
        account, reference = await self._read(key)
        account = self._accounts.get(key) or account
        if account is not None:
            self._accounts.remember(key, account)
        return account, reference

    async def _read_many(self, keys: Sequence[Whose]) -> list[tuple[str | None, dict[str, Any]]]:
        """Several people's accounts and references: one query per table."""
        platforms, people = {p for p, _ in keys}, {i for _, i in keys}
        async with self.session() as session:
            references = await session.exec(
                select(
                    ConversationReference.platform,
                    ConversationReference.person_id,
                    ConversationReference.reference,
                ).where(
                    col(ConversationReference.person_id).in_(people),
                    col(ConversationReference.platform).in_(platforms),
                )
            )
            texts = {(p, i): text for p, i, text in references.all()}
            identities = await session.exec(
                select(
                    PlatformIdentity.platform,
                    PlatformIdentity.person_id,
                    PlatformIdentity.external_id,
                ).where(
                    col(PlatformIdentity.person_id).in_(people),
                    col(PlatformIdentity.platform).in_(platforms),
                )
            )
            accounts: dict[Whose, str] = {}
            for p, i, external in identities.all():
                accounts.setdefault((p, i), external)
        return [
            (accounts.get(key), json_object(texts[key]) if key in texts else {}) for key in keys
        ]

    async def update_reference(
        self, platform: str, recipient: Recipient, changes: dict[str, Any]
    ) -> None:
        """Merge ``changes`` into the person's reference on this platform (created if need be)."""
        await self._merge_reference(platform, recipient, lambda reference: {**reference, **changes})

    async def _merge_reference(self, platform: str, recipient: Recipient, merge: Merge) -> None:
        """Read, merge and write the person's reference in one short transaction."""
        try:
            await self._write(_Write(platform, recipient.person_id, merge=merge))
        except IntegrityError:  # another worker stored it first; theirs is as good
            log.info("%s conversation reference already stored", platform)

    async def pulse_message(self, platform: str, recipient: Recipient, round_id: int) -> str | None:
        """The platform's id of the pulse message sent to this person for this round, if known."""
        pulses = (await self.reference(platform, recipient)).get("pulses")
        found = pulses.get(str(round_id)) if isinstance(pulses, dict) else None
        return found if isinstance(found, str) else None

    async def remember_pulse_message(
        self, platform: str, recipient: Recipient, round_id: int, message_id: str
    ) -> None:
        """Keep the message's id for the round's reminder (the last ``PULSES_KEPT`` rounds)."""
        await self._merge_reference(platform, recipient, _merging({}, (round_id, message_id)))


@cache
def _stored_emails_query(pg: bool) -> Any:
    """The stored emails of accounts (``platforms`` and ``external_ids`` given when it runs),
    built once per database kind: building it per batch cost more than running it."""
    return (
        select(PlatformIdentity.platform, PlatformIdentity.external_id, Person.email)
        .join(Person, col(PlatformIdentity.person_id) == col(Person.id))
        .where(
            any_of(col(PlatformIdentity.platform), "platforms", pg),
            any_of(col(PlatformIdentity.external_id), "external_ids", pg),
        )
    )


def _merging(changes: dict[str, Any], pulse: tuple[int, str] | None) -> Merge:
    """A reference merge: ``changes`` over it, and a round's pulse message id kept with the
    last ``PULSES_KEPT`` rounds' (for the round's reminder, in the pulse's thread)."""

    def merge(reference: dict[str, Any]) -> dict[str, Any]:
        merged = {**reference, **changes}
        if pulse is None:
            return merged
        stored = merged.get("pulses")
        pulses = dict(stored) if isinstance(stored, dict) else {}
        pulses[str(pulse[0])] = pulse[1]
        kept = sorted(pulses, key=int)[-PULSES_KEPT:]
        return {**merged, "pulses": {k: pulses[k] for k in kept}}

    return merge


class Inbound:
    """Platform events already taken in, by this replica or another, so a redelivered event runs
    once.  When the database can't say, the event is handled: answered twice beats never."""

    def __init__(self, events: InboundEvents) -> None:
        self.events = events

    async def first_time(self, platform: str, event_id: str) -> bool:
        try:
            return await self.events.first_time(platform, event_id)
        except (SQLAlchemyError, OSError):
            name = platform.capitalize()
            log.warning("could not record a %s event id; handling the event anyway", name)
            return True

    async def forget(self, platform: str, event_id: str) -> None:
        """Handling the event failed (the platform will deliver it again): the redelivery is
        handled, not taken for a repeat."""
        try:
            await self.events.forget(platform, event_id)
        except (SQLAlchemyError, OSError):
            log.warning("could not forget a failed %s event id", platform.capitalize())


def json_object(text: str) -> dict[str, Any]:
    """A stored JSON object (an empty one for anything else: a row is never an error)."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

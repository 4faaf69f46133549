"""A platform installed in several tenants (Slack workspaces, Teams tenants): which one a send
about a person or a channel goes to.  The organisation file knows no tenant, so it is the one
known for them while installed (recorded from their own requests), else the first installed tenant
where the platform finds them (then recorded)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.identities import LRU, Identities
from bot.ports import Recipient, Unreachable

T = TypeVar("T")
Probe = Callable[[], Awaitable[T | None]]
# a person's reference keys: their tenant, their account there, the direct chat with that account
TENANT, ACCOUNT, CHAT = "team", "user", "channel"


@dataclass(frozen=True)
class Located(Generic[T]):
    """The tenant a send goes to, its credential, and what the search found there (None when the
    tenant was known)."""

    tenant: str
    credential: str
    found: T | None = None


class Tenants:
    """``credentials``: each installed tenant's, the preferred first; ``using``: calls inside go
    with one credential; ``refused``: the platform's error for a refused call; what is recorded
    about a person is in their ``platform`` reference in ``identities``."""

    def __init__(
        self,
        credentials: Callable[[], Awaitable[dict[str, str]]],
        using: Callable[[str], AbstractContextManager[None]],
        refused: type[Exception],
        identities: Identities,
        platform: str,
    ) -> None:
        self.credentials = credentials
        self.using = using
        self.refused = refused
        self.identities = identities
        self.platform = platform
        self._channels: LRU[str, str] = LRU()  # channel id -> its tenant
        self._accounts: LRU[str, str] = LRU()  # account id -> the tenant recorded for it

    async def locate(
        self, known: str | None, probe: Probe[T], allowed: frozenset[str] | None = None
    ) -> Located[T]:
        """``known`` while it is installed; else the first tenant where ``probe`` (run with that
        tenant's credential) finds something.  ``Unreachable`` when none does (so a person whose
        tenant uninstalled the app is passed on, as one the platform doesn't know); a refusal met
        on the way is raised instead, for the outbox to retry."""
        credentials = await self.credentials()
        if allowed is not None:  # only the tenants the person's organisation names
            credentials = {t: c for t, c in credentials.items() if t in allowed}
        if known is not None and known in credentials:
            return Located(known, credentials[known])
        failure: Exception | None = None
        for tenant, credential in credentials.items():
            try:
                with self.using(credential):
                    found = await probe()
            except self.refused as error:
                failure = failure or error
                continue
            if found is not None:
                return Located(tenant, credential, found)
        if failure is not None:
            raise failure
        raise Unreachable("no installed tenant knows them")

    async def of_channel(self, channel: str, sees: Probe[Any]) -> Located[Any]:
        """The channel's tenant: the first installed one where ``sees`` finds it, remembered in
        this process."""
        where = await self.locate(self._channels.get(channel), sees)
        self._channels.remember(channel, where.tenant)
        return where

    async def reach(self, recipient: Recipient, lookup: Probe[str]) -> str:
        """The credential for a send to the person: their recorded tenant's while installed,
        else the first tenant's where ``lookup`` finds their account (then recorded); only among
        the tenants their organisation names, when it names any (``bot/bindings.py``)."""
        known = (await self.identities.reference(self.platform, recipient)).get(TENANT)
        allowed = await self.identities.bindings.places(self.platform, recipient.email)
        where = await self.locate(known if isinstance(known, str) else None, lookup, allowed)
        if where.found is not None:
            await self.identities.link(self.platform, recipient, where.found)
            await self._settle(recipient, where.tenant, where.found)
        return where.credential

    async def asked_from(self, tenant: str, account: str, email: str) -> None:
        """The person asking is in the request's tenant: record it (once) so that what is sent
        to them later goes with that tenant's credential."""
        if self._accounts.get(account) == tenant:
            return
        recipient = await self.identities.recipient(email)
        if recipient is not None:
            await self._settle(recipient, tenant, account)
        self._accounts.remember(account, tenant)

    async def _settle(self, recipient: Recipient, tenant: str, account: str) -> None:
        """Record the person's tenant and account there; a direct chat stored for another account
        (another tenant's) is dropped, to be opened again."""
        stored = await self.identities.reference(self.platform, recipient)
        if stored.get(TENANT) == tenant and stored.get(ACCOUNT) == account:
            return
        changes: dict[str, Any] = {TENANT: tenant, ACCOUNT: account}
        if stored.get(ACCOUNT) != account:
            changes[CHAT] = None
        await self.identities.update_reference(self.platform, recipient, changes)

"""A platform installed in several tenants (Slack workspaces, Teams tenants): which one a send
about a person or a channel goes to.  The organisation file knows no tenant, so it is the one
known for them while installed, else the first installed tenant where the platform finds them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.identities import LRU
from bot.ports import Unreachable

T = TypeVar("T")
Probe = Callable[[], Awaitable[T | None]]


@dataclass(frozen=True)
class Located(Generic[T]):
    """The tenant a send goes to, its credential, and what the search found there (None when the
    tenant was known)."""

    tenant: str
    credential: str
    found: T | None = None


class Tenants:
    """``credentials``: each installed tenant's, the preferred first; ``using``: calls inside go
    with one credential; ``refused``: the platform's error for a refused call."""

    def __init__(
        self,
        credentials: Callable[[], Awaitable[dict[str, str]]],
        using: Callable[[str], AbstractContextManager[None]],
        refused: type[Exception],
    ) -> None:
        self.credentials = credentials
        self.using = using
        self.refused = refused
        self._channels: LRU[str, str] = LRU()  # channel id -> its tenant

    async def locate(self, known: str | None, probe: Probe[T]) -> Located[T]:
        """``known`` while it is installed; else the first tenant where ``probe`` (run with that
        tenant's credential) finds something.  ``Unreachable`` when none does (so a person whose
        tenant uninstalled the app is passed on, as one the platform doesn't know); a refusal met
        on the way is raised instead, for the outbox to retry."""
        credentials = await self.credentials()
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

"""Which platform accounts may be matched to an organisation's people.

People are matched to platform accounts by email, and the email of an account is whatever the
admin of its Slack workspace or Teams tenant gave it.  On a deployment serving several
organisations, an admin of any served workspace could otherwise act as anyone in any
organisation.  An organisation may name the workspaces (``slack_workspaces``: team or
Enterprise Grid ids) and tenants (``teams_tenants``) its people come from; then an account from
anywhere else is not matched to its people: it is taken for someone the bot doesn't know
(``STRANGER``, an address no organisation can hold), and nothing about the person is revealed or
stored for that account.  An organisation that names none is matched as before.

What organisations name is read at most every ``KEPT`` seconds (an import in another process
applies within that); with none naming any, a match costs no query.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.lru import LRU
from storage.models import Organisation, Person
from surveys.directory import normalise_email

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]
Named = dict[str, frozenset[str]]  # platform -> the places an organisation names on it

# the email an account refused a match is known by: ``.invalid`` is reserved (RFC 2606) and the
# organisation file refuses it, so it is no one's, and the core answers it as an unknown person
STRANGER = "someone@account-not-matched.invalid"
KEPT = 30.0  # seconds what organisations name is used before it is read again
PLATFORMS = {"slack": "slack_workspaces", "teams": "teams_tenants"}


def split(stored: str) -> frozenset[str]:
    return frozenset(stored.split())


class Bindings:
    def __init__(self, session: Sessions, clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.clock = clock
        self._named: dict[int, Named] = {}  # organisation id -> what it names (if anything)
        # email -> their organisation's id, kept as long as what organisations name
        self._orgs: LRU[str, int] = LRU()
        self._read_at = float("-inf")

    async def named(self) -> dict[int, Named]:
        """Organisations naming workspaces or tenants, by id (read again after ``KEPT``)."""
        if self.clock() - self._read_at >= KEPT:
            async with self.session() as session:
                rows = (await session.exec(select(Organisation))).all()
            self._named = {
                org.id: {p: split(getattr(org, column)) for p, column in PLATFORMS.items()}
                for org in rows
                if org.id is not None and (org.slack_workspaces or org.teams_tenants).strip()
            }
            self._read_at = self.clock()
            self._orgs.clear()  # (a person forgotten and imported again elsewhere: as fresh)
        return self._named

    def forget(self) -> None:
        """Read what organisations name again at the next match (an import in this process)."""
        self._read_at = float("-inf")

    async def places(self, platform: str, email: str) -> frozenset[str] | None:
        """Where the person with ``email`` may have an account on ``platform`` (``None``: their
        organisation names nowhere, or they are in none; an organisation naming only the other
        platform's places has none here)."""
        named = await self.named()
        if not named or platform not in PLATFORMS:
            return None
        org = await self._organisation_of(normalise_email(email))
        found = named.get(org) if org is not None else None
        return found[platform] if found is not None else None

    async def _organisation_of(self, email: str) -> int | None:
        org = self._orgs.get(email)
        if org is None:
            async with self.session() as session:
                query = select(Person.organisation_id).where(col(Person.email) == email)
                org = (await session.exec(query)).first()
            if org is not None:
                self._orgs.remember(email, org)
        return org

    async def admits(self, platform: str, origin: Iterable[str], email: str) -> bool:
        """Whether an account of ``origin`` (a workspace's team and Enterprise Grid ids, or a
        tenant id) may be matched to the person with ``email``."""
        places = await self.places(platform, email)
        return places is None or not places.isdisjoint(origin)

    async def matched(self, platform: str, origin: Iterable[str], email: str) -> str:
        """``email``, or ``STRANGER`` when the account's origin may not be matched to it."""
        return email if await self.admits(platform, origin, email) else STRANGER

    async def unbound(self) -> list[str]:
        """Names of organisations naming no workspace or tenant, when there are several
        organisations (``serve``'s warning: any served admin could act as their people)."""
        async with self.session() as session:
            rows = (await session.exec(select(Organisation))).all()
        if len(rows) < 2:
            return []
        return sorted(o.name for o in rows if not (o.slack_workspaces or o.teams_tenants).strip())

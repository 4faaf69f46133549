"""Which installed tenant a send about a person or a channel goes to (``bot.tenants``), with plain
tenants and probes in place of a platform's calls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bot.ports import Unreachable
from bot.settings import Settings
from bot.tenants import Tenants
from storage.engine import Database
from tests.support import email, make_service


class Platform:
    """Tenants and the accounts each has, by email; ``refusing`` tenants refuse every call."""

    def __init__(
        self, accounts: dict[str, dict[str, str]], refusing: frozenset[str] = frozenset()
    ) -> None:
        self.accounts = accounts
        self.refusing = refusing
        self.credential: str | None = None
        self.asked: list[str] = []  # the tenants asked, in order

    async def credentials(self) -> dict[str, str]:
        return {tenant: f"token-{tenant}" for tenant in self.accounts}

    @contextmanager
    def using(self, credential: str) -> Iterator[None]:
        self.credential = credential
        yield
        self.credential = None

    async def lookup(self, who: str) -> str | None:
        assert self.credential is not None
        tenant = self.credential.removeprefix("token-")
        self.asked.append(tenant)
        if tenant in self.refusing:
            raise LookupError(f"{tenant} refused")
        return self.accounts[tenant].get(who)


async def tenants_of(db: Database, settings: Settings, platform: Platform) -> Tenants:
    service, _ = await make_service(db, settings)
    return Tenants(platform.credentials, platform.using, LookupError, service.identities, "chat")


async def test_a_person_found_in_a_tenant_is_recorded_and_reached_there_again(
    db: Database, settings: Settings
) -> None:
    platform = Platform({"T1": {}, "T2": {email("a1"): "U2"}, "T3": {email("a1"): "U3"}})
    tenants = await tenants_of(db, settings, platform)
    person = await tenants.identities.recipient(email("a1"))
    assert person is not None
    await tenants.identities.update_reference("chat", person, {"channel": "D-old"})

    found = await tenants.reach(person, lambda: platform.lookup(email("a1")))
    assert found == "token-T2" and platform.asked == ["T1", "T2"]  # the first that has them
    stored = await tenants.identities.reference("chat", person)
    assert stored["team"] == "T2" and stored["user"] == "U2" and not stored.get("channel")

    platform.asked.clear()
    assert await tenants.reach(person, lambda: platform.lookup(email("a1"))) == "token-T2"
    assert platform.asked == []  # recorded: nobody asked again


async def test_nobody_finding_a_person_passes_them_on_and_a_refusal_is_raised(
    db: Database, settings: Settings
) -> None:
    nowhere = Platform({"T1": {}, "T2": {}})
    tenants = await tenants_of(db, settings, nowhere)
    person = await tenants.identities.recipient(email("a1"))
    assert person is not None
    with pytest.raises(Unreachable):
        await tenants.reach(person, lambda: nowhere.lookup(email("a1")))

    refusing = Platform({"T1": {}, "T2": {}}, refusing=frozenset({"T1"}))
    tenants = await tenants_of(db, settings, refusing)
    with pytest.raises(LookupError, match="T1 refused"):  # for the outbox to retry
        await tenants.reach(person, lambda: refusing.lookup(email("a1")))
    assert refusing.asked == ["T1", "T2"]  # the others were still tried first


async def test_a_channels_tenant_is_remembered_and_an_askers_recorded(
    db: Database, settings: Settings
) -> None:
    platform = Platform({"T1": {}, "T2": {"C7": "C7"}})
    tenants = await tenants_of(db, settings, platform)
    where = await tenants.of_channel("C7", lambda: platform.lookup("C7"))
    assert where.credential == "token-T2"
    platform.asked.clear()
    assert (await tenants.of_channel("C7", lambda: platform.lookup("C7"))).tenant == "T2"
    assert platform.asked == []

    await tenants.asked_from("T1", "U9", email("a1"))
    person = await tenants.identities.recipient(email("a1"))
    assert person is not None
    assert (await tenants.identities.reference("chat", person))["team"] == "T1"

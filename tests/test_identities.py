"""The core's directory of platform accounts (``service.identities``), and the router that picks a
platform for each person by what the platforms know."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlmodel import select

from bot.platforms import IdentityRouter
from bot.ports import Recipient, TeamTarget, Unreachable
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import TextReply, View
from storage.engine import Database
from storage.models import ConversationReference, PlatformIdentity
from tests.support import email, make_service


async def stored_identities(db: Database) -> list[tuple[str, str]]:
    async with db.session() as session:
        rows = await session.exec(select(PlatformIdentity.platform, PlatformIdentity.external_id))
        return [(platform, external) for platform, external in rows.all()]


async def test_an_account_learned_on_the_pulse_path_is_never_written(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    identities = service.identities
    await identities.learned("slack", "U0A1", f"  {email('a1').upper()} ", remember=False)
    assert await identities.email_of("slack", "U0A1") == email("a1")  # this process knows
    assert await stored_identities(db) == []
    elsewhere = TeamPulse(db, settings)  # another replica: nothing to read
    assert await elsewhere.identities.email_of("slack", "U0A1") is None

    await identities.learned("slack", "U0A1", email("a1"))  # outside the pulse's path
    assert await elsewhere.identities.email_of("slack", "U0A1") == email("a1")
    assert await elsewhere.identities.email_of("teams", "U0A1") is None  # ids are per platform
    recipient = await elsewhere.identities.recipient(email("a1"))
    assert recipient is not None
    assert await elsewhere.identities.knows("slack", recipient)
    assert not await elsewhere.identities.knows("teams", recipient)


async def test_a_reference_is_merged_per_platform_and_keeps_the_last_pulses(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    identities = service.identities
    recipient = await identities.recipient(email("a2"))
    assert recipient is not None
    await identities.update_reference("slack", recipient, {"user": "U0A2", "channel": "D0A2"})
    await identities.update_reference("slack", recipient, {"channel": None, "team": "T1"})
    await identities.update_reference("teams", recipient, {"conversation": "a:1"})
    assert await identities.reference("slack", recipient) == {
        "user": "U0A2",
        "channel": None,
        "team": "T1",
    }
    for round_id in range(1, 11):
        await identities.remember_pulse_message("slack", recipient, round_id, f"ts{round_id}")
    assert await identities.pulse_message("slack", recipient, 10) == "ts10"
    assert await identities.pulse_message("slack", recipient, 2) is None  # only the last 8
    assert await identities.pulse_message("teams", recipient, 10) is None
    async with db.session() as session:
        rows = (await session.exec(select(ConversationReference.platform))).all()
    assert sorted(rows) == ["slack", "teams"]


async def test_stored_emails_looked_up_together_each_get_their_own_whatever_the_batch(
    db: Database, settings: Settings
) -> None:
    """Lookups that arrive together share one statement (built once, its values bound when it
    runs): each account still gets its own email, repeats and other platforms' ids included,
    for batches of any size; on PostgreSQL every batch size runs the same statement text."""
    service, _ = await make_service(db, settings)
    writer = service.identities
    for i in range(9):
        await writer.learned("slack", f"U0A{i}", email(f"a{i}"))
    await writer.learned("teams", "29:b0", email("b0"))
    texts: set[str] = set()

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if str(
            PlatformIdentity.__tablename__
        ) in statement and statement.lstrip().upper().startswith("SELECT"):
            texts.add(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        for size in (1, 7, 3):
            reader = TeamPulse(db, settings).identities  # (nothing kept in this process yet)
            accounts = [("slack", f"U0A{i}") for i in range(size)]
            accounts += [
                ("slack", "U0A0"),
                ("teams", "29:b0"),
                ("teams", "U0A1"),
                ("slack", "U0ZZ"),
            ]
            found = await asyncio.gather(*(reader.email_of(p, e) for p, e in accounts))
            expected = [email(f"a{i}") for i in range(size)] + [
                email("a0"),
                email("b0"),
                None,
                None,
            ]
            assert found == expected
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    if db.engine.dialect.name == "postgresql":
        assert len(texts) == 1  # one text, prepared once per connection


@dataclass
class Platform:
    """A platform as the router sees it: a name and a messenger."""

    name: str
    accounts: set[str] = field(default_factory=set)  # emails it knows already
    finds: set[str] = field(default_factory=set)  # emails it can look up
    reaches_everyone: bool = False
    sent: list[str] = field(default_factory=list)

    @property
    def messenger(self) -> Platform:
        return self

    def install(self, app: object) -> None:
        return None

    async def knows(self, recipient: Recipient) -> bool:
        return recipient.email in self.accounts

    async def send_direct(
        self, recipient: Recipient, view: View, *, key: str | None = None
    ) -> None:
        if not (self.reaches_everyone or recipient.email in self.accounts | self.finds):
            raise Unreachable(self.name)
        self.sent.append(recipient.email)

    async def delivered(self, recipient: Recipient, key: str, *, round_id: int) -> bool | None:
        return None

    async def post_to_team(self, team: TeamTarget, view: View) -> None:
        if team.channel(self.name):
            self.sent.append(f"#{team.channel(self.name)}")


async def test_the_router_tries_who_knows_then_who_may_find_then_everyone() -> None:
    web = Platform("local", reaches_everyone=True)
    slack = Platform("slack", accounts={"known@x.org"}, finds={"findable@x.org"})
    teams = Platform("teams", accounts={"teams@x.org"})
    router = IdentityRouter([web, slack, teams])  # type: ignore[list-item]
    for who in ("known@x.org", "findable@x.org", "teams@x.org", "nowhere@x.org"):
        await router.send_direct(Recipient(1, who, who), TextReply("hello"))
    assert slack.sent == ["known@x.org", "findable@x.org"]
    assert teams.sent == ["teams@x.org"]
    assert web.sent == ["nowhere@x.org"]  # the web chat only when no platform has them

    target = TeamTarget(1, "Ward A", {"slack": "C1"})
    await router.post_to_team(target, TextReply("kudos"))
    assert slack.sent[-1] == "#C1" and teams.sent == ["teams@x.org"]

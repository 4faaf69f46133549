"""Organisations are kept apart: a command's team is resolved once, inside the asker's own
organisation (DESIGN.md, invariant 5).

The attacker manages "ward a" in Other Trust; Test Trust (``tests.support.ORG_YAML``) has its own
"Ward A" of 12 staff.  Whatever the attacker types, Test Trust's team gets no round, no message, no
new members, no changed settings and no report.  The set-up and the checks use only the chat, the
Slack endpoint and the database, so these tests show the leak on code that looks teams up by name.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from bot.conversation import Conversation
from bot.scheduler import PulseScheduler
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import TextReply, TrendReportView, View
from storage.engine import Database
from storage.models import Membership, Organisation, Person, PulseRound, Role, Team
from surveys.organisation import spec_from_yaml
from tests.slack_support import Slack, texts, uid, until
from tests.support import (
    FixedClock,
    RecordingMessenger,
    after_the_week,
    email,
    import_org,
    make_service,
)

OTHER_DOMAIN = "other.example"
SECRET_WORDS = "Ward A's own words, for Test Trust's eyes only"


def other(name: str) -> str:
    return f"{name}@{OTHER_DOMAIN}"


def _people(prefix: str, count: int) -> str:
    return ", ".join(other(f"{prefix}{i}") for i in range(count))


OTHER_YAML = f"""
name: Other Trust
teams:
  - name: Surgery
    managers: [{other("director")}]
  - name: ward a
    parent: Surgery
    managers: [{other("manager")}]
    members: [{_people("o", 6)}]
  - name: Ward A2
    parent: Surgery
    managers: [{other("lead")}]
    members: [{_people("p", 6)}]
  - name: Theatres
    parent: Surgery
    managers: [{other("lead")}]
    members: [{_people("q", 5)}]
"""


async def two_trusts(
    db: Database, settings: Settings, clock: FixedClock | None = None
) -> tuple[TeamPulse, RecordingMessenger, Conversation]:
    """Test Trust (imported first, so its teams have the lower ids) and Other Trust."""
    service, messenger = await make_service(db, settings, clock)
    await import_org(db, OTHER_YAML)
    return service, messenger, Conversation(service)


async def _team(db: Database, organisation: str, name: str) -> Team:
    async with db.session() as session:
        query = (
            select(Team)
            .join(Organisation, col(Organisation.id) == col(Team.organisation_id))
            .where(Organisation.name == organisation, Team.name == name)
        )
        team = (await session.exec(query)).one()
        session.expunge(team)
        return team


async def rounds_of(db: Database, organisation: str, name: str) -> list[PulseRound]:
    team = await _team(db, organisation, name)
    async with db.session() as session:
        query = select(PulseRound).where(PulseRound.team_id == team.id)
        return list((await session.exec(query)).all())


async def members_of(db: Database, organisation: str, name: str) -> set[str]:
    team = await _team(db, organisation, name)
    async with db.session() as session:
        query = (
            select(Person.email)
            .join(Membership, col(Membership.person_id) == col(Person.id))
            .where(Membership.team_id == team.id, Membership.role == Role.MEMBER)
        )
        return set((await session.exec(query)).all())


def text_of(views: list[View]) -> str:
    [view] = views
    assert isinstance(view, TextReply), view
    return view.text


def in_test_trust(emails: list[str]) -> list[str]:
    return [address for address in emails if not address.endswith(f"@{OTHER_DOMAIN}")]


TEST_TRUST_WARD_A = {email(f"a{i}") for i in range(12)}


# -- pulse send -----------------------------------------------------------------------------------


async def test_pulse_send_opens_the_askers_own_ward_a(db: Database, settings: Settings) -> None:
    """Seen: Other Trust's manager typed ``pulse send`` and Test Trust's 12 staff were asked."""
    _, messenger, chat = await two_trusts(db, settings)
    reply = text_of(await chat.handle(other("manager"), "pulse send"))

    assert "for ward a: 6 people will be asked" in reply
    assert await rounds_of(db, "Test Trust", "Ward A") == []
    assert len(await rounds_of(db, "Other Trust", "ward a")) == 1
    sent = [address for address, _ in messenger.direct]
    assert in_test_trust(sent) == [] and sorted(sent) == sorted(other(f"o{i}") for i in range(6))


async def test_pulse_send_by_name_is_read_in_the_askers_organisation(
    db: Database, settings: Settings
) -> None:
    _, messenger, chat = await two_trusts(db, settings)
    for typed in ("pulse send ward a", "pulse send Ward A", "pulse send  WARD   a"):
        reply = text_of(await chat.handle(other("manager"), typed))
        assert "isn't one of your teams" not in reply, typed
    assert await rounds_of(db, "Test Trust", "Ward A") == []
    assert len(await rounds_of(db, "Other Trust", "ward a")) == 1  # the later two: already open
    assert in_test_trust([address for address, _ in messenger.direct]) == []


async def test_another_organisations_team_name_gets_which_team(
    db: Database, settings: Settings
) -> None:
    """Test Trust's "Ward B" and "Tiny" are unknown names to Other Trust's manager: the reply
    lists the manager's own teams and never says another organisation has such a team."""
    _, messenger, chat = await two_trusts(db, settings)
    for command, name in (("pulse send", "Ward B"), ("pulse trends", "Tiny")):
        reply = text_of(await chat.handle(other("manager"), f"{command} {name}"))
        assert reply == (
            f"Which team? I don't know a team called “{name}”. Your teams: ward a. "
            f"Say, for example, `{command} ward a`."
        )
    reply = text_of(await chat.handle(other("manager"), "pulse settings Medicine"))
    assert reply.startswith("Which team? I don't know a team called “Medicine”.")
    for name in ("Ward B", "Tiny", "Medicine"):
        assert await rounds_of(db, "Test Trust", name) == []
    assert messenger.direct == []


async def test_a_manager_of_several_teams_is_asked_which_to_send(
    db: Database, settings: Settings
) -> None:
    """``pulse send`` messages a whole team and can't be taken back: a manager of two teams is
    asked which, rather than the first being guessed."""
    _, messenger, chat = await two_trusts(db, settings)
    question = text_of(await chat.handle(other("lead"), "pulse send"))
    assert question.startswith("Which team?") and "Theatres, Ward A2" in question
    assert "`pulse send Theatres`" in question
    assert messenger.direct == []
    assert await rounds_of(db, "Other Trust", "Theatres") == []

    sent = text_of(await chat.handle(other("lead"), "pulse send theatres"))
    assert "for Theatres: 5 people" in sent
    assert await rounds_of(db, "Other Trust", "Ward A2") == []


# -- pulse close ----------------------------------------------------------------------------------


async def test_pulse_close_leaves_the_other_organisations_round_open(
    db: Database, settings: Settings
) -> None:
    _, messenger, chat = await two_trusts(db, settings)
    await chat.handle(email("manager.a"), "pulse send")  # Test Trust's own manager
    [opened] = await rounds_of(db, "Test Trust", "Ward A")
    for typed in ("pulse close", "pulse close ward a", "pulse close Ward A"):
        reply = await chat.handle(other("manager"), typed)
        assert "Closed" not in text_of(reply)
    [still] = await rounds_of(db, "Test Trust", "Ward A")
    assert still.id == opened.id and not still.closed
    assert sorted(address for address, _ in messenger.direct) == sorted(TEST_TRUST_WARD_A)


# -- pulse trends ---------------------------------------------------------------------------------


async def test_pulse_trends_ward_a_shows_the_askers_team_only(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, _, chat = await two_trusts(db, settings, clock)
    await chat.handle(email("manager.a"), "pulse send")
    for address in sorted(TEST_TRUST_WARD_A):
        [card] = await service.pending_pulses(address)
        comment = {card.questions[0].id: SECRET_WORDS}
        await service.submit_pulse(
            address, card.round_id, {q.id: 5 for q in card.questions}, comment
        )
    await after_the_week(service, clock)  # the pulse has closed and its week is over
    own = await chat.handle(email("manager.a"), "pulse trends")
    assert SECRET_WORDS in repr(_report(own).comments)  # Test Trust's manager sees it

    for typed in ("pulse trends ward a", "pulse trends Ward A 4", "pulse trends"):
        report = _report(await chat.handle(other("manager"), typed))
        assert report.team == "ward a", typed
        assert SECRET_WORDS not in repr(report) and not report.comments and not report.rounds


async def test_a_manager_row_on_another_organisations_team_gives_nothing_there(
    db: Database, settings: Settings
) -> None:
    """Other Trust's manager also holds a manager row on Test Trust's Ward B (no import writes
    one; a hand-edited or restored database might): it is not one of their teams, for trends,
    sending or settings, named or not."""
    _, messenger, chat = await two_trusts(db, settings)
    ward_b = await _team(db, "Test Trust", "Ward B")
    async with db.session() as session:
        manager = (await session.exec(select(Person).where(Person.email == other("manager")))).one()
        assert ward_b.id is not None and manager.id is not None
        session.add(Membership(team_id=ward_b.id, person_id=manager.id, role=Role.MANAGER))
        await session.commit()

    assert _report(await chat.handle(other("manager"), "pulse trends")).team == "ward a"
    for typed in ("pulse trends Ward B", "pulse send Ward B", "pulse settings Ward B"):
        reply = text_of(await chat.handle(other("manager"), typed))
        assert reply.startswith("Which team? I don't know a team called “Ward B”."), reply
        assert "Your teams: ward a." in reply, reply
    assert await rounds_of(db, "Test Trust", "Ward B") == []
    assert in_test_trust([address for address, _ in messenger.direct]) == []


def _report(views: list[View]) -> TrendReportView:
    [view] = views
    assert isinstance(view, TrendReportView), view
    return view


# -- pulse settings -------------------------------------------------------------------------------


async def test_pulse_settings_change_the_askers_team_only(db: Database, settings: Settings) -> None:
    _, _, chat = await two_trusts(db, settings)
    changed = text_of(await chat.handle(other("manager"), "pulse settings ward a questions 5"))
    assert changed.startswith("*ward a*: a weekly pulse of 5 questions")
    shown = text_of(await chat.handle(other("manager"), "pulse settings Ward A day fri"))
    assert shown.startswith("*ward a*") and "Fri" in shown
    ours = await _team(db, "Test Trust", "Ward A")
    assert (ours.questions_per_pulse, ours.schedule_day) == (3, "mon")
    theirs = await _team(db, "Other Trust", "ward a")
    assert (theirs.questions_per_pulse, theirs.schedule_day) == (5, "fri")


# -- the scheduler --------------------------------------------------------------------------------


async def test_the_scheduler_opens_each_organisations_ward_a(
    db: Database, settings: Settings
) -> None:
    """Both teams are due on the same Monday: each gets its own round."""
    clock = FixedClock(datetime(2030, 1, 7, 10, 30, tzinfo=UTC))
    service, _, _ = await two_trusts(db, settings, clock)
    await PulseScheduler(service).tick()
    assert len(await rounds_of(db, "Test Trust", "Ward A")) == 1
    assert len(await rounds_of(db, "Other Trust", "ward a")) == 1


# -- Slack: a channel's members made a team's -----------------------------------------------------


async def test_slack_sync_replaces_the_askers_team_only(slack: Slack) -> None:
    """Seen: channel sync replaced members through the same name lookup."""
    fake = slack.fake
    await slack.service.import_organisation(spec_from_yaml(OTHER_YAML))
    for name in ("manager", "o0", "o1", "newcomer"):
        fake.add_user(uid(f"other.{name}"), other(name))
    fake.channel_members["COTHER"] = [uid("other.o0"), uid("other.o1")]
    db = slack.service.db

    response = await slack.command("/pulse", "settings sync <#COTHER|ward-a>", uid("other.manager"))
    assert response.status == 200
    [reply] = await fake.wait_for("response_url")
    assert "ward a: 0 added, 4 removed" in texts(reply.params)
    assert await members_of(db, "Other Trust", "ward a") == {other("o0"), other("o1")}
    assert await members_of(db, "Test Trust", "Ward A") == TEST_TRUST_WARD_A

    # kept in step: a newcomer joins the channel, and only Other Trust's team follows
    fake.channel_members["COTHER"].append(uid("other.newcomer"))
    joined = {"type": "member_joined_channel", "user": uid("other.newcomer"), "channel": "COTHER"}
    assert (await slack.event(joined, "Ev0OTHER1")).status == 200
    await _until_members(db, "Other Trust", "ward a", 3)
    assert await members_of(db, "Test Trust", "Ward A") == TEST_TRUST_WARD_A
    assert (await _team(db, "Test Trust", "Ward A")).member_source is None


async def _until_members(db: Database, organisation: str, team: str, count: int) -> None:
    async def check() -> bool:
        return len(await members_of(db, organisation, team)) == count

    await until(check)


async def test_kudos_mentions_are_found_in_the_givers_organisation_only(
    db: Database, settings: Settings
) -> None:
    _, messenger, chat = await two_trusts(db, settings)
    for typed in (f"kudos @{email('a0')} great shift #teamwork", "kudos @a0 great shift #teamwork"):
        reply = text_of(await chat.handle(other("manager"), typed))
        assert "couldn't find" in reply
    reply = text_of(await chat.handle(email("a1"), f"kudos @{other('o0')} thanks #teamwork"))
    assert "couldn't find" in reply
    assert not in_test_trust([to for to, _ in messenger.direct])
    assert all(OTHER_DOMAIN not in to for to, _ in messenger.direct)


async def test_a_member_list_never_pulls_in_someone_of_another_organisation(
    db: Database, settings: Settings
) -> None:
    service, _, _ = await two_trusts(db, settings)
    ward_a = await service.team_named("Ward A", "Test Trust")
    wanted = [email(f"a{i}") for i in range(12)] + [other("o0"), other("o1")]
    added, removed = await service.set_members(ward_a, wanted)
    assert (added, removed) == (0, 0)
    assert await members_of(db, "Test Trust", "Ward A") == {email(f"a{i}") for i in range(12)}
    assert await members_of(db, "Other Trust", "ward a") == {other(f"o{i}") for i in range(6)}

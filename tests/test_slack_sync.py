"""``/pulse settings [team] sync #channel`` or ``… sync @group``: a manager makes a Slack channel's
(paged ``conversations.members``) or user group's (``usergroups.users.list``) members the team's
members (``users.info`` emails), managers untouched."""

from __future__ import annotations

from adapters.slack.sync import StopSync, SyncRequest, changed_source, sync_request
from storage.models import Role
from tests.slack_support import Slack, dm_message, members_of, sync_source, texts, uid
from tests.support import email


async def _members(slack: Slack, team: str, role: Role = Role.MEMBER) -> set[str]:
    return await members_of(slack, team, role)


def test_the_words_are_read_before_the_core_parser() -> None:
    assert sync_request("settings Ward 7 sync <#C0123|ward-7>") == sync_request(
        "pulse settings Ward 7 sync <#C0123>"
    )
    assert sync_request("settings Ward 7 sync <#C0123|ward-7>") == SyncRequest(
        "Ward 7", "channel", "C0123"
    )
    assert sync_request("settings sync <#G0456|private>") == SyncRequest(None, "channel", "G0456")
    assert sync_request("settings Ward 7 questions 4") is None
    assert sync_request("settings Ward 7 sync ward-7") is None


def test_a_user_group_is_read_with_or_without_its_handle() -> None:
    named = sync_request("settings Ward 7 sync <!subteam^S0123ABC|@nurses>")
    assert named == SyncRequest("Ward 7", "usergroup", "S0123ABC")
    assert sync_request("pulse settings Ward 7 sync <!subteam^S0123ABC>") == named
    assert sync_request("settings sync <!subteam^S0123ABC|@nurses>") == SyncRequest(
        None, "usergroup", "S0123ABC"
    )
    assert sync_request("settings Ward 7 sync @nurses") is None
    assert sync_request("settings Ward 7 sync <!here>") is None
    assert sync_request("settings Ward 7 sync <!subteam^C0123>") is None


def test_sync_off_and_the_membership_events_are_read() -> None:
    assert sync_request("settings Ward 7 sync off") == StopSync("Ward 7")
    assert sync_request("pulse settings sync OFF") == StopSync(None)
    assert sync_request("settings Ward 7 sync offline") is None
    labels = [
        request.label
        for request in (
            sync_request("settings sync <#C0123|ward-7>"),
            sync_request("settings sync <!subteam^S0123ABC|@nurses>"),
            sync_request("settings sync <!subteam^S0123ABC>"),
        )
        if isinstance(request, SyncRequest)
    ]
    # as text (never a group mention): the reply is escaped whole, so a Slack sequence in it
    # would show as typed
    assert labels == ["#ward-7", "@nurses", "that user group"]
    bare = sync_request("settings A &amp; E sync <#C0123>")
    assert isinstance(bare, SyncRequest) and (bare.team, bare.label) == ("A & E", "that channel")
    joined = {"type": "member_joined_channel", "user": "U1", "channel": "C0123"}
    assert changed_source(joined) == "C0123"
    assert changed_source({**joined, "type": "member_left_channel", "channel": "G0456"}) == "G0456"
    group = {"type": "subteam_members_changed", "subteam_id": "S0123ABC", "team_id": "T1"}
    assert changed_source(group) == "S0123ABC"
    assert changed_source({**joined, "channel": "D0123"}) is None
    assert changed_source({**group, "subteam_id": "C0123"}) is None
    assert changed_source({"type": "member_left_channel"}) is None


async def test_a_manager_replaces_the_members_with_the_channels(slack: Slack) -> None:
    fake = slack.fake
    fake.page_size = 2
    fake.add_user(uid("newbie"), email("newbie"))
    fake.channel_members["CWARD7"] = [
        uid("b0"),
        uid("b1"),
        uid("b2"),
        uid("newbie"),
        uid("manager.b"),
        "UBOT",  # Slack has no user (with an email) for it: left out
    ]
    before_managers = await _members(slack, "Ward B", Role.MANAGER)
    response = await slack.command(
        "/pulse", "settings Ward B sync <#CWARD7|ward-7>", uid("manager.b")
    )
    assert response.status == 200
    [reply] = await fake.wait_for("response_url")
    shown = texts(reply.params)
    assert "Ward B: 1 added, 3 removed" in shown and "1 without an email" in shown
    assert reply.params["response_type"] == "ephemeral"

    pages = fake.called("conversations.members", channel="CWARD7")
    assert len(pages) == 3 and [p.params.get("cursor") for p in pages][1:] == ["page-2", "page-4"]
    assert await _members(slack, "Ward B") == {email(n) for n in ("b0", "b1", "b2", "newbie")}
    assert await _members(slack, "Ward B", Role.MANAGER) == before_managers
    assert await _members(slack, "Ward A") == {email(f"a{i}") for i in range(12)}

    # the same again changes nothing
    await slack.command("/pulse", "settings Ward B sync <#CWARD7|ward-7>", uid("manager.b"))
    [_, again] = await fake.wait_for("response_url", count=2)
    assert "Ward B: 0 added, 0 removed" in texts(again.params)


async def test_only_the_teams_managers_may_sync(slack: Slack) -> None:
    fake = slack.fake
    fake.channel_members["CWARD7"] = [uid("a0")]
    await slack.command("/pulse", "settings Ward A sync <#CWARD7|ward-7>", uid("a3"))
    await slack.command("/pulse", "settings Ward B sync <#CWARD7|ward-7>", uid("manager.a"))
    replies = await fake.wait_for("response_url", count=2)
    shown = " ".join(texts(r.params) for r in replies)
    assert "for managers" in shown and "isn't one of your teams" in shown
    assert fake.called("conversations.members") == []
    assert len(await _members(slack, "Ward B")) == 6 and len(await _members(slack, "Ward A")) == 12


async def test_sync_in_the_dm_uses_the_managers_team(slack: Slack) -> None:
    fake = slack.fake
    fake.channel_members["GPRIVATE"] = [uid("t0"), uid("t1")]
    channel = f"D{uid('manager.t')}"
    message = dm_message(uid("manager.t"), "pulse settings sync <#GPRIVATE|tiny-team>")
    assert (await slack.event(message, "Ev0SYNC")).status == 200
    [reply] = await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == channel)
    assert "Tiny: 0 added, 1 removed" in texts(reply.params["blocks"])
    assert await _members(slack, "Tiny") == {email("t0"), email("t1")}
    # a channel the bot can't see
    missing = {**message, "text": "pulse settings sync <#CNOPE|nope>", "ts": "1700000301.000100"}
    assert (await slack.event(missing, "Ev0SYNC2")).status == 200
    [_, told] = await fake.wait_for(
        "chat.postMessage", lambda c: c.params["channel"] == channel, count=2
    )
    assert "Invite me to the channel" in texts(told.params["blocks"])


async def test_a_manager_replaces_the_members_with_a_user_groups(slack: Slack) -> None:
    fake = slack.fake
    fake.add_user(uid("newbie"), email("newbie"))
    fake.usergroup_members["SNURSES"] = [
        uid("b0"),
        uid("b1"),
        uid("newbie"),
        uid("manager.b"),
        "UBOT",  # Slack has no user (with an email) for it: left out
    ]
    before_managers = await _members(slack, "Ward B", Role.MANAGER)
    response = await slack.command(
        "/pulse", "settings Ward B sync <!subteam^SNURSES|@nurses>", uid("manager.b")
    )
    assert response.status == 200
    [reply] = await fake.wait_for("response_url")
    shown = texts(reply.params)
    assert "Ward B: 1 added, 4 removed" in shown and "1 without an email" in shown
    assert reply.params["response_type"] == "ephemeral"

    [asked] = fake.called("usergroups.users.list")
    assert asked.params["usergroup"] == "SNURSES" and "include_disabled" not in asked.params
    assert fake.called("conversations.members") == []
    assert await _members(slack, "Ward B") == {email(n) for n in ("b0", "b1", "newbie")}
    assert await _members(slack, "Ward B", Role.MANAGER) == before_managers
    assert await _members(slack, "Ward A") == {email(f"a{i}") for i in range(12)}

    # the same words in the bot's DM, without the handle, change nothing more
    channel = f"D{uid('manager.b')}"
    message = dm_message(uid("manager.b"), "pulse settings sync <!subteam^SNURSES>")
    assert (await slack.event(message, "Ev0GROUP")).status == 200
    [again] = await fake.wait_for("chat.postMessage", lambda c: c.params["channel"] == channel)
    assert "Ward B: 0 added, 0 removed" in texts(again.params["blocks"])
    assert len(fake.called("usergroups.users.list", usergroup="SNURSES")) == 2


async def test_only_the_teams_managers_may_sync_a_user_group(slack: Slack) -> None:
    fake = slack.fake
    fake.usergroup_members["SNURSES"] = [uid("a0")]
    await slack.command("/pulse", "settings Ward A sync <!subteam^SNURSES|@nurses>", uid("a3"))
    await slack.command(
        "/pulse", "settings Ward B sync <!subteam^SNURSES|@nurses>", uid("manager.a")
    )
    replies = await fake.wait_for("response_url", count=2)
    shown = " ".join(texts(r.params) for r in replies)
    assert "for managers" in shown and "isn't one of your teams" in shown
    assert fake.called("usergroups.users.list") == []
    assert len(await _members(slack, "Ward B")) == 6 and len(await _members(slack, "Ward A")) == 12


async def test_a_group_slack_refuses_changes_nothing(slack: Slack) -> None:
    fake = slack.fake
    fake.usergroup_members["SEMPTY"] = []  # e.g. a group emptied or disabled
    fake.usergroup_members["SNURSES"] = [uid("a0")]
    fake.fail_next("usergroups.users.list", "missing_scope")
    tries = [
        "<!subteam^SNURSES|@nurses>",  # missing_scope, once
        "<!subteam^SGONE|@gone>",  # no_such_subteam
        "<!subteam^SEMPTY|@empty>",
    ]
    for n, group in enumerate(tries, start=1):
        response = await slack.command("/pulse", f"settings Ward A sync {group}", uid("manager.a"))
        assert response.status == 200
        await fake.wait_for("response_url", count=n)
    scope, gone, empty = (texts(r.params) for r in fake.called("response_url"))
    assert "not allowed to read user groups" in scope and "manifest" in scope
    assert "can't find that user group" in gone
    assert "has no members" in empty and "left the team as it is" in empty
    assert fake.called("usergroups.users.list", usergroup="SGONE")[0].answer == {
        "ok": False,
        "error": "no_such_subteam",
    }
    assert await _members(slack, "Ward A") == {email(f"a{i}") for i in range(12)}
    assert await sync_source(slack, "Ward A") is None  # nothing to keep in step with

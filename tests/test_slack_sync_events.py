"""A synced team stays in step: ``member_joined_channel`` / ``member_left_channel`` and
``subteam_members_changed`` (real signed events into the running server) sync every team kept in
step with that channel or user group again; ``… sync off`` stops it (managers only).

An event's work runs after Bolt's ack, and the syncs of one process run one at a time in arrival
order, so an event that should change nothing is followed by one that changes another team: once
that change shows, the first event has been handled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from storage.models import Role
from tests.fake_slack import Call
from tests.slack_support import Slack, members_of, sync_source, texts, uid, until
from tests.support import email

ALL_OF_WARD_A = {email(f"a{i}") for i in range(12)}


def channel_event(kind: str, user: str, channel: str) -> dict[str, Any]:
    """``member_joined_channel`` or ``member_left_channel``, as Slack sends them."""
    event = {
        "type": kind,
        "user": user,
        "channel": channel,
        "channel_type": "C",
        "team": "T0TEST",
        "event_ts": f"{time.time():.6f}",
    }
    if kind == "member_joined_channel":
        event["inviter"] = uid("manager.b")
    return event


def group_event(group: str, added: list[str], removed: list[str]) -> dict[str, Any]:
    """``subteam_members_changed``: only the delta (which the bot doesn't rely on)."""
    return {
        "type": "subteam_members_changed",
        "subteam_id": group,
        "team_id": "T0TEST",
        "date_previous_update": 1446670362,
        "date_update": 1492906952,
        "added_users": added,
        "added_users_count": str(len(added)),
        "removed_users": removed,
        "removed_users_count": str(len(removed)),
        "event_ts": f"{time.time():.6f}",
    }


async def command(slack: Slack, text: str, user: str) -> str:
    """Run ``/pulse <text>`` as ``user`` and return the ephemeral reply's words."""
    before = len(slack.fake.called("response_url"))
    assert (await slack.command("/pulse", text, user)).status == 200
    replies = await slack.fake.wait_for("response_url", count=before + 1)
    return texts(replies[-1].params)


async def becomes(slack: Slack, team: str, emails: set[str]) -> None:
    async def check() -> bool:
        return await members_of(slack, team) == emails

    await until(check)


async def sync_tiny(slack: Slack) -> None:
    """Tiny kept in step with the private channel GTINY: the other team of the ordering checks."""
    slack.fake.channel_members["GTINY"] = [uid("t0"), uid("t1"), uid("t2")]
    shown = await command(slack, "settings Tiny sync <#GTINY|tiny>", uid("manager.t"))
    assert "Tiny: 0 added, 0 removed" in shown


async def tiny_loses_t2(slack: Slack, event_id: str) -> None:
    """t2 leaves GTINY; once Tiny's members show it, every earlier event has been handled."""
    slack.fake.channel_members["GTINY"].remove(uid("t2"))
    left = channel_event("member_left_channel", uid("t2"), "GTINY")
    assert (await slack.event(left, event_id)).status == 200
    await becomes(slack, "Tiny", {email("t0"), email("t1")})


async def test_a_channel_sync_keeps_the_team_in_step(slack: Slack) -> None:
    fake = slack.fake
    managers = await members_of(slack, "Ward B", Role.MANAGER)
    fake.channel_members["CWARD7"] = [uid("b0"), uid("b1"), uid("b2"), uid("manager.b")]
    shown = await command(slack, "settings Ward B sync <#CWARD7|ward-7>", uid("manager.b"))
    assert "Ward B: 0 added, 3 removed" in shown
    assert "I'll keep Ward B in step with #ward-7 as people join and leave" in shown
    assert "`/pulse settings Ward B sync off` stops it" in shown
    assert await sync_source(slack, "Ward B") == "CWARD7"

    # someone joins the channel: the team gains them
    fake.add_user(uid("newbie"), email("newbie"))
    fake.channel_members["CWARD7"].append(uid("newbie"))
    joined = channel_event("member_joined_channel", uid("newbie"), "CWARD7")
    assert (await slack.event(joined, "Ev0JOIN")).status == 200
    await becomes(slack, "Ward B", {email("b0"), email("b1"), email("b2"), email("newbie")})

    # someone leaves: the team loses them
    fake.channel_members["CWARD7"].remove(uid("b1"))
    left = channel_event("member_left_channel", uid("b1"), "CWARD7")
    assert (await slack.event(left, "Ev0LEAVE")).status == 200
    await becomes(slack, "Ward B", {email("b0"), email("b2"), email("newbie")})

    # the whole channel is read each time (the same sync as the command); managers untouched
    assert len(fake.called("conversations.members", channel="CWARD7")) == 3
    assert await members_of(slack, "Ward B", Role.MANAGER) == managers
    assert await members_of(slack, "Ward A") == ALL_OF_WARD_A
    assert await sync_source(slack, "Ward B") == "CWARD7"


async def test_a_user_group_sync_keeps_every_team_on_it_in_step(slack: Slack) -> None:
    fake = slack.fake
    fake.usergroup_members["SNURSES"] = [uid("b0"), uid("t0")]
    shown = await command(
        slack, "settings Ward B sync <!subteam^SNURSES|@nurses>", uid("manager.b")
    )
    assert "Ward B: 1 added, 5 removed" in shown and "in step with @nurses" in shown
    shown = await command(slack, "settings Tiny sync <!subteam^SNURSES>", uid("manager.t"))
    assert "Tiny: 1 added, 2 removed" in shown and "in step with that user group" in shown
    assert "<!subteam^" not in shown  # the reply never mentions (notifies) the group

    fake.add_user(uid("newbie"), email("newbie"))
    fake.usergroup_members["SNURSES"] = [uid("t0"), uid("newbie")]
    changed = group_event("SNURSES", added=[uid("newbie")], removed=[uid("b0")])
    assert (await slack.event(changed, "Ev0GROUP")).status == 200
    both = {email("t0"), email("newbie")}
    await becomes(slack, "Ward B", both)
    await becomes(slack, "Tiny", both)
    # one read of the group for both teams
    assert len(fake.called("usergroups.users.list", usergroup="SNURSES")) == 3
    assert await members_of(slack, "Ward B", Role.MANAGER) == {email("manager.b")}
    assert await members_of(slack, "Tiny", Role.MANAGER) == {email("manager.t")}


async def test_sync_off_stops_it_and_only_a_manager_may(slack: Slack) -> None:
    fake = slack.fake
    fake.channel_members["CWARD7"] = [uid("b0"), uid("b1")]
    await command(slack, "settings Ward B sync <#CWARD7|ward-7>", uid("manager.b"))
    await sync_tiny(slack)

    refused = [
        await command(slack, "settings Ward B sync off", uid("b0")),
        await command(slack, "settings Ward B sync off", uid("manager.a")),
    ]
    assert "for managers" in refused[0] and "isn't one of your teams" in refused[1]
    assert await sync_source(slack, "Ward B") == "CWARD7"

    shown = await command(slack, "settings Ward B sync off", uid("manager.b"))
    assert "stopped keeping Ward B in step with its channel" in shown
    assert "members stay as they are" in shown
    assert await sync_source(slack, "Ward B") is None
    again = await command(slack, "settings Ward B sync off", uid("manager.b"))
    assert "isn't kept in step" in again and "nothing to stop" in again

    # the channel changes: Ward B no longer follows it
    reads = len(fake.called("conversations.members", channel="CWARD7"))
    fake.channel_members["CWARD7"].append(uid("b5"))
    joined = channel_event("member_joined_channel", uid("b5"), "CWARD7")
    assert (await slack.event(joined, "Ev0AFTEROFF")).status == 200
    await tiny_loses_t2(slack, "Ev0TINY")
    assert await members_of(slack, "Ward B") == {email("b0"), email("b1")}
    assert len(fake.called("conversations.members", channel="CWARD7")) == reads


async def test_an_event_no_team_follows_changes_nothing_and_asks_slack_nothing(
    slack: Slack,
) -> None:
    fake = slack.fake
    await sync_tiny(slack)
    fake.channel_members["CELSEWHERE"] = [uid("a0"), uid("b0")]
    fake.usergroup_members["SOTHERS"] = [uid("a0")]
    asked = len(fake.calls)

    joined = channel_event("member_joined_channel", uid("b0"), "CELSEWHERE")
    assert (await slack.event(joined, "Ev0ELSEWHERE")).status == 200
    changed = group_event("SOTHERS", added=[uid("a0")], removed=[])
    assert (await slack.event(changed, "Ev0OTHERS")).status == 200
    malformed = {"type": "member_left_channel", "user": uid("a0")}  # no channel
    assert (await slack.event(malformed, "Ev0NOCHANNEL")).status == 200
    await tiny_loses_t2(slack, "Ev0TINY")

    def tiny_read(call: Call) -> bool:
        return call.method == "conversations.members" and call.params["channel"] == "GTINY"

    assert [tiny_read(call) for call in fake.calls[asked:]] == [True]
    assert await members_of(slack, "Ward A") == ALL_OF_WARD_A
    assert len(await members_of(slack, "Ward B")) == 6
    assert await sync_source(slack, "Ward A") is None and await sync_source(slack, "Ward B") is None


async def test_slacks_help_tells_managers_about_sync(slack: Slack) -> None:
    shown = await command(slack, "help", uid("b0"))
    assert "pulse send [team]" in shown  # the core's help…
    assert "sync #channel" in shown and "keep them in step" in shown and "sync off" in shown
    assert shown.index("sync #channel") < shown.index("Anonymity")  # …with the managers' words


async def test_replacements_of_one_team_at_once_take_turns(slack: Slack) -> None:
    """A command and an event (or events on two replicas) replacing one team's members at the same
    moment: each waits for the other, rather than both adding the same membership."""
    wanted = [email("b0"), email("newcomer"), email("t0")]
    ward_b = await slack.service.team_named("Ward B")
    results = await asyncio.gather(*(slack.service.set_members(ward_b, wanted) for _ in range(4)))
    assert sorted(results) == [(0, 0), (0, 0), (0, 0), (2, 5)]
    assert await members_of(slack, "Ward B") == set(wanted)

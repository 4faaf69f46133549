"""Who may do what, through the real server: every row of docs/security.md's table ("Who may do
what") asked by every person as Slack sends it, each seeing what the page says, and refusals
changing nothing; and people of other workspaces met in shared channels (Slack Connect) are
nobody here, whatever email they carry.  ``tests/test_authz_matrix.py`` drives the same rows
through the core, ``tests/test_authz_doors.py`` from workspaces and tenants not served."""

from __future__ import annotations

import json

import pytest

from tests.authz import (
    CHANGES,
    DOOR,
    NAMED,
    PEOPLE,
    WARD,
    Who,
    outcome,
    read_matrix,
    snapshot,
)
from tests.authz_slack import (
    ELSEWHERE,
    IMPOSTOR,
    NO_ROUND,
    SERVED,
    SLACK,
    World,
    after,
    ward_a_pulse,
)
from tests.slack_support import (
    Slack,
    event_callback,
    texts,
)

MATRIX = read_matrix()


def test_every_row_of_the_page_is_asked_through_slack() -> None:
    assert set(SLACK) == set(MATRIX.cells)


@pytest.mark.parametrize("action", list(SLACK))
async def test_who_may_do_what_through_slack(slack_world: Slack, action: str) -> None:
    slack = slack_world
    world = World(slack, 0, ()) if action in NO_ROUND else await ward_a_pulse(slack)
    wrong = []
    for role, expected in MATRIX.cells[action].items():
        if role == DOOR:
            continue
        who: Who = PEOPLE[role]
        before = await snapshot(slack.service.db)
        sent = await SLACK[action](world, who.slack, SERVED)
        assert [response.status for response in sent.responses] == [200] * len(sent.responses)
        got = outcome(await sent.read(), who, named=NAMED.get(action))
        if got != expected:
            wrong.append(f"{role}: {got}, the page says {expected}")
        elif expected not in CHANGES:
            assert await snapshot(slack.service.db) == before, f"{action} by {role} changed"
    assert not wrong, "\n".join(wrong)


async def test_a_slack_connect_user_of_another_workspace_is_not_taken_for_their_email(
    slack_world: Slack,
) -> None:
    """A channel shared with another workspace (Slack Connect) brings in its people, with the
    emails *their* admins gave them: one carrying Ward A's manager's email mentions the bot in
    Ward A's channel.  They are nobody here: no pulse sent, no settings shown or changed."""
    await mention_from_a_shared_channel(slack_world)


async def test_with_no_workspace_listed_a_slack_connect_user_is_not_taken_for_their_email(
    slack: Slack,
) -> None:
    """The same with one workspace and ``TEAMPULSE_SLACK_WORKSPACES`` unset: the bot token's
    own workspace is the one served."""
    await mention_from_a_shared_channel(slack)


async def mention_from_a_shared_channel(slack: Slack) -> None:
    slack.fake.add_external_user(IMPOSTOR, PEOPLE["team manager"].email, ELSEWHERE)
    before, mark = await snapshot(slack.service.db), len(slack.fake.calls)
    for n, text in enumerate((f"pulse settings {WARD} day fri", f"pulse send {WARD}")):
        said = f"<@UBOT> {text}"
        event = {"type": "app_mention", "user": IMPOSTOR, "user_team": ELSEWHERE, "text": said}
        event |= {"channel": "CWARDA", "ts": f"1700000200.00000{n}", "team": ELSEWHERE}
        response = await slack.post(
            json.dumps(event_callback(event, f"EvConnect{n}", SERVED)), "application/json"
        )
        assert response.status == 200
    await slack.fake.wait_until(
        lambda: len(after(slack.fake, mark, "chat.postEphemeral", user=IMPOSTOR)) == 2
    )
    shown = texts([call.params for call in after(slack.fake, mark, "chat.postEphemeral")])
    assert "Opened pulse" not in shown and f"*{WARD}*" not in shown
    assert await snapshot(slack.service.db) == before

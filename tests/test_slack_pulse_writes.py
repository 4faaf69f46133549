"""Opening and submitting a pulse in Slack writes no row that names a person: at low load the
database's log would keep such a row next to the answer's own transaction (issue 8, part 3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, text

from bot.server import SERVICE
from storage.models import PlatformIdentity
from tests.slack_support import (
    Slack,
    comment,
    pulse_click,
    question_blocks,
    scores,
    uid,
    view_submission,
)
from tests.support import email, serve

Tables = dict[str, list[tuple[Any, ...]]]


async def tables(slack: Slack) -> Tables:
    """Every table's rows, in a stable order."""
    db = slack.service.db
    async with db.engine.connect() as connection:
        if db.url.startswith("sqlite"):
            query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        names = sorted((await connection.execute(text(query))).scalars())
        found: Tables = {}
        for name in names:
            rows = await connection.execute(text(f'SELECT * FROM "{name}"'))
            found[name] = sorted((tuple(map(str, row)) for row in rows), key=repr)
    return found


async def test_opening_and_submitting_a_pulse_changes_no_table_but_the_answers(
    slack: Slack,
) -> None:
    await slack.service.open_round(await slack.service.team_named("Ward B"))
    assert await slack.service.deliver_outbox() == 6
    [dm] = slack.fake.called("chat.postMessage", channel=f"D{uid('b0')}")
    [round_id] = [
        int(element["value"])
        for block in dm.params["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    # b0's Slack account is not stored (as for someone first reached another way), and this is
    # a server that has not seen them yet: it has to ask Slack who they are
    async with slack.service.db.session() as session:
        await session.exec(
            delete(PlatformIdentity).where(PlatformIdentity.external_id == uid("b0"))
        )  # type: ignore[call-overload]
        await session.commit()
    fresh = await serve(slack.service.settings)
    server = Slack(fresh.url, slack.fake, fresh.app[SERVICE], slack.http)
    before = await tables(slack)

    clicked = pulse_click(uid("b0"), round_id, dm.params["channel"], "1.1")
    assert (await server.interaction(clicked)).ok
    [opened] = await slack.fake.wait_for("views.open")
    modal = opened.params["view"]
    values = scores(question_blocks(modal), 4) | comment("More hands on nights")
    reply = await server.interaction(view_submission(uid("b0"), modal, values))
    assert reply.status == 200 and await reply.text() == ""
    after = await tables(slack)
    await fresh.runner.cleanup()

    assert slack.fake.called("users.info", user=uid("b0"))  # asked, and not written down
    changed = {name for name in before if before[name] != after[name]}
    assert changed <= {"response", "participation"}, changed

    # participation changes only its round-level count of answers that may repeat someone's
    # (this server's reservation, taken before its first answer): no digest, no one named
    def without_count(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [row[:3] for row in rows]

    assert without_count(before["participation"]) == without_count(after["participation"])
    assert any("More hands on nights" in str(row) for row in after["response"])
    assert email("b0") not in str(after["response"])

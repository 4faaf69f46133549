"""A pulse answer's waits on the database are bounded in the request's own task, the look-up of
the person's stored Slack account as much as the card's commit (``bot/outage.grouped``): a
database that stops answering while it runs still gets the person "couldn't save, please try
again" within Slack's limit, and nothing is stored behind their back.  On real PostgreSQL behind
the proxy of ``tests/test_db_outage.py``."""

from __future__ import annotations

import time

import pytest

from adapters.slack.blocks import COMMENT_BLOCK
from bot.settings import Settings
from bot.words import NOT_SAVED
from storage.models import Response
from tests.db_proxy import DatabaseProxy, through
from tests.slack_support import Slack, question_blocks, scores, uid, view_submission
from tests.test_db_outage import POSTGRESQL, SLACK_LIMIT, count, slack_modal

pytestmark = pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)


@pytest.fixture
def settings(settings: Settings, proxy: DatabaseProxy) -> Settings:
    """The test settings, with the app's database reached through the proxy."""
    return through(proxy, settings)


async def test_a_person_not_seen_by_this_process_is_told_to_try_again_within_slacks_limit(
    slack: Slack, proxy: DatabaseProxy
) -> None:
    """Their stored account is read first (the process restarted since their pulse was
    opened, or another replica opened it).  The database stops answering then: the modal
    stays open saying try again, in time, with nothing stored and no receipt; once it is back,
    the same form is saved."""
    modal = await slack_modal(slack, "b0")
    slack.service.identities._emails.clear()  # (as a restarted process: no email remembered)
    submission = view_submission(uid("b0"), modal, scores(question_blocks(modal), 4))
    await proxy.silent()
    started = time.monotonic()
    refused = await slack.interaction(submission)
    assert time.monotonic() - started < SLACK_LIMIT
    assert await refused.json() == {
        "response_action": "errors",
        "errors": {COMMENT_BLOCK: NOT_SAVED},
    }
    assert slack.fake.called("chat.update") == []

    await proxy.up()
    accepted = await slack.interaction(submission)
    assert accepted.status == 200 and await accepted.text() == ""
    assert await count(slack.service.db, Response) == len(question_blocks(modal))
    await slack.fake.wait_for("chat.update")

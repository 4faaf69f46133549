"""The comment and kudos length limits are settings (``TEAMPULSE_COMMENT_MAX_CHARS``,
``TEAMPULSE_KUDOS_MAX_CHARS``): every form states them, and text past them gets a friendly
message beside its field, on every platform, with nothing saved."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError
from sqlmodel import select

from adapters.slack.blocks import pulse_modal
from adapters.teams.cards import PulseSubmission, card_for, read_pulse_submission
from bot.conversation import Conversation
from bot.forms import COMMENT, MAX_TEXT
from bot.server import SERVICE
from bot.settings import Settings
from bot.views import TextReply
from storage.engine import Database
from storage.models import Recognition
from tests.card_check import inputs, problem_under, submitted
from tests.slack_support import Slack, all_responses, form_submission, uid
from tests.support import email, import_org, make_service, serve
from tests.test_slack_home import shortcut

COMMENT_MAX, KUDOS_MAX = 50, 40


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with short limits, as an operator would set them."""
    return settings.model_copy(
        update={"comment_max_chars": COMMENT_MAX, "kudos_max_chars": KUDOS_MAX}
    )


async def kudos_given(service: Any) -> list[Recognition]:
    async with service.db.session() as session:
        return list((await session.exec(select(Recognition))).all())


def test_the_limits_are_read_from_the_environment_and_bounded() -> None:
    read = Settings(
        _env_file=None,  # type: ignore[call-arg]
        TEAMPULSE_COMMENT_MAX_CHARS="2000",
        TEAMPULSE_KUDOS_MAX_CHARS="300",
    )
    assert (read.comment_max_chars, read.kudos_max_chars) == (2000, 300)
    with pytest.raises(ValidationError, match="TEAMPULSE_COMMENT_MAX_CHARS"):
        Settings(_env_file=None, TEAMPULSE_COMMENT_MAX_CHARS=str(MAX_TEXT + 1))  # type: ignore[call-arg]


async def test_slack_forms_state_the_limits_and_refuse_longer_text_on_the_field(
    slack: Slack,
) -> None:
    service = slack.service
    await service.open_round(await service.team_named("Ward B"))
    [card] = await service.pending_pulses(email("b3"))
    questions = [q.id for q in card.questions]
    metadata = json.dumps({"round": card.round_id, "questions": questions})
    [box] = [b for b in pulse_modal(card, metadata)["blocks"] if b.get("block_id") == "comment"]
    assert box["element"]["max_length"] == COMMENT_MAX
    values: dict[str, Any] = {
        f"q:{question}": {"score": {"selected_option": {"value": "4"}}} for question in questions
    }
    values["comment"] = {"text": {"type": "plain_text_input", "value": "x" * (COMMENT_MAX + 1)}}
    reply = await (await slack.interaction(form_submission("b3", metadata, values))).json()
    assert reply["response_action"] == "errors" and set(reply["errors"]) == {"comment"}
    assert f"limited to {COMMENT_MAX} characters" in reply["errors"]["comment"]
    assert await all_responses(service) == []

    kudos = {
        "kudos_to": {"users": {"selected_users": [uid("b1")]}},
        "kudos_message": {"text": {"value": "y" * (KUDOS_MAX + 1)}},
        "kudos_value": {"value": {"selected_option": {"value": "teamwork"}}},
    }
    view = {"id": "V0012", "type": "modal", "callback_id": "give_kudos_submit"}
    submitted_kudos = {
        "type": "view_submission",
        "user": {"id": uid("b0")},
        "team": {"id": "T0TEST"},
        "view": view | {"state": {"values": kudos}},
    }
    refused = await (await slack.interaction(submitted_kudos)).json()
    assert refused["response_action"] == "errors" and set(refused["errors"]) == {"kudos_message"}
    assert (
        f"limited to {KUDOS_MAX} characters (this one has {KUDOS_MAX + 1})"
        in (refused["errors"]["kudos_message"])
    )
    assert await kudos_given(service) == []


async def test_slack_kudos_shortcut_form_states_the_limit_and_its_quote_fits(
    slack: Slack,
) -> None:
    """Started from a long message, the form's first words are cut to the limit it states."""
    said = "Thanks for covering the night shift and restocking every trolley on the ward"
    assert (await slack.interaction(shortcut(uid("a0"), uid("a1"), said))).status == 200
    [opened] = await slack.fake.wait_for("views.open")
    [block] = [b for b in opened.params["view"]["blocks"] if b["block_id"] == "kudos_message"]
    assert block["element"]["max_length"] == KUDOS_MAX
    assert len(block["element"]["initial_value"]) == KUDOS_MAX


async def test_slack_kudos_command_past_the_limit_is_told_and_not_saved(slack: Slack) -> None:
    long = "z" * (KUDOS_MAX + 1)
    assert (
        await slack.command("/kudos", f"<@{uid('a1')}|a1> {long} #teamwork", uid("a0"))
    ).status == 200
    [told] = await slack.fake.wait_for("response_url")
    assert f"limited to {KUDOS_MAX} characters" in json.dumps(told.params)
    assert await kudos_given(slack.service) == [] and slack.fake.called("chat.postMessage") == []


async def test_teams_card_states_the_limit_and_shows_the_problem_beside_the_comment(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward B"))
    [pulse] = await service.pending_pulses(email("b1"))
    card = card_for(pulse) or {}
    assert inputs(card)[COMMENT]["maxLength"] == COMMENT_MAX
    answers = {f"q:{question.id}": "4" for question in pulse.questions}
    invoke, _ = submitted(card, answers | {COMMENT: "w" * (COMMENT_MAX + 1)})
    read = read_pulse_submission(invoke)
    assert isinstance(read, PulseSubmission)
    refused = await Conversation(service).submit_card(
        email("b1"), read.round_id, read.answers, read.comment, read.about, asked=read.asked
    )
    assert isinstance(refused, TextReply) and refused.problems
    again = card_for(pulse, problems=refused.problems, values=read.values) or {}
    [problem] = problem_under(again, COMMENT)
    assert f"limited to {COMMENT_MAX} characters" in problem
    assert await all_responses(service) == []


async def test_the_web_chat_states_the_limit_and_tells_of_a_long_kudos_or_comment(
    db: Database, settings: Settings
) -> None:
    """Through the web chat's own API: the card carries the comment limit (its textarea's
    ``maxlength``), and a kudos or a comment past its limit is told with nothing saved."""
    await import_org(db)
    running = await serve(settings.model_copy(update={"local_chat": "on"}))
    service = running.app[SERVICE]
    try:
        async with aiohttp.ClientSession() as http:
            page = await (await http.get(running.url + "/")).text()
            token = page.split('name="teampulse-token" content="', 1)[1].split('"', 1)[0]
            headers = {"X-Teampulse-Token": token}

            async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
                response = await http.post(running.url + path, json=body, headers=headers)
                found: dict[str, Any] = await response.json()
                return found

            await service.open_round(await service.team_named("Ward B"))
            inbox = await http.get(
                f"{running.url}/local/api/inbox?as={email('b1')}", headers=headers
            )
            [card] = [r for r in (await inbox.json())["replies"] if r["type"] == "pulse"]
            assert card["comment_max"] == COMMENT_MAX
            answers = {q["id"]: 4 for q in card["questions"]}
            long_comment = {"": "w" * (COMMENT_MAX + 1)}
            body = {"as": email("b1"), "round_id": card["round_id"], "answers": answers}
            [refused] = (await post("/local/api/pulse", body | {"comments": long_comment}))[
                "replies"
            ]
            assert f"limited to {COMMENT_MAX} characters" in refused["text"]

            kudos = f"kudos @{email('b2')} {'v' * (KUDOS_MAX + 1)} #teamwork"
            [told] = (await post("/local/api/message", {"as": email("b1"), "text": kudos}))[
                "replies"
            ]
            assert told["kind"] == "error" and f"limited to {KUDOS_MAX} characters" in told["text"]
    finally:
        await running.runner.cleanup()
    assert await all_responses(service) == [] and await kudos_given(service) == []

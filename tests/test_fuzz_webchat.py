"""The local web chat's API and the chat commands, fuzzed through the real server: pulse answers
and messages mutated from real ones, any JSON, and command words with odd arguments typed by a
member and a manager.  Never a 5xx; a refused request changes nothing in the database; the
issue's own cases (a lone surrogate in a comment, a round id of 10**30, deep nesting, a score of
``true``) are each a 400 with a reason; a body over the cap is a 413."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.local import webchat
from bot.settings import Settings
from tests import test_webchat_comments
from tests.fuzz_support import JSON_VALUES, ODD_TEXT, changed, dump, dumps, mutated, nested, settled
from tests.support import email
from tests.test_webchat_comments import Chat

chat = test_webchat_comments.chat  # the server with the local chat on (a fixture)


@pytest.fixture(name="settings")
def unlimited_settings(settings: Settings) -> Settings:
    """The conftest's settings with the per-person limits out of reach: every example here
    comes from two people, and the fuzz must reach the commands, not their "try again"."""
    return settings.model_copy(update={"commands_per_minute": 10_000, "kudos_per_hour": 10_000})


FUZZ = settings.get_profile(os.environ.get("TEAMPULSE_FUZZ_PROFILE", "fuzz-ci"))
MEMBER, MANAGER = email("b0"), email("manager.b")


async def post_raw(chat: Chat, path: str, body: str | bytes) -> tuple[int, Any]:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    headers = {"X-Teampulse-Token": chat.token, "Content-Type": "application/json"}
    async with chat.http.post(chat.url + path, data=raw, headers=headers) as answer:
        text = await answer.text()
        return answer.status, json.loads(text) if text.startswith("{") else text


async def a_real_pulse(chat: Chat) -> dict[str, Any]:
    """Ward B's round open; b0's answers to its card, as the page would post them."""
    await chat.service.open_round(await chat.service.team_named("Ward B"))
    card = await chat.card("b0")
    answers = {q["id"]: 4 for q in card["questions"]}
    return {"as": MEMBER, "round_id": card["round_id"], "answers": answers, "comments": {"": "ok"}}


async def refused_and_unchanged(chat: Chat, path: str, body: str | bytes) -> tuple[int, Any]:
    before = await dump(chat.service.db.engine)
    status, reply = await settled(post_raw(chat, path, body))
    assert status < 500, (status, reply)
    if status >= 400:
        assert changed(before, await dump(chat.service.db.engine)) == [], (status, reply)
    return status, reply


@FUZZ
@given(data=st.data())
async def test_pulse_answers_mutated_never_get_a_5xx(chat: Chat, data: st.DataObject) -> None:
    if not hasattr(chat, "pulse"):
        chat.pulse = await a_real_pulse(chat)  # type: ignore[attr-defined]
    body = data.draw(st.one_of(mutated(chat.pulse), JSON_VALUES))  # type: ignore[attr-defined]
    await refused_and_unchanged(chat, "/local/api/pulse", dumps(body))


@FUZZ
@given(body=st.one_of(mutated({"as": MEMBER, "text": "pulse status"}), JSON_VALUES))
async def test_messages_mutated_never_get_a_5xx(chat: Chat, body: Any) -> None:
    await refused_and_unchanged(chat, "/local/api/message", dumps(body))


COMMAND_WORDS = st.sampled_from(
    ["pulse", "kudos", "pulse trends", "pulse status", "pulse help", "pulse settings",
     "pulse send", "pulse me", "pulse settings Ward B", "kudos @" + MEMBER, "/pulse", ""]
)  # fmt: skip
ARGUMENTS = st.lists(
    st.one_of(
        ODD_TEXT.filter(lambda t: t.isprintable() and "\ud800" not in t),
        st.sampled_from(["Ward B", "52", "-1", "99999999999999999999", "#teamwork", "@", "off"]),
        st.sampled_from(["sync", "weekly", "monday", "25:99", "nights", "days", "until"]),
    ),
    max_size=5,
)


@FUZZ
@given(
    who=st.sampled_from([MEMBER, MANAGER]),
    words=COMMAND_WORDS,
    arguments=ARGUMENTS,
)
async def test_chat_commands_with_odd_arguments_get_a_chat_reply(
    chat: Chat, who: str, words: str, arguments: list[str]
) -> None:
    said = " ".join([words, *arguments]).strip() or "?"
    body = dumps({"as": who, "text": said})
    status, reply = await post_raw(chat, "/local/api/message", body)
    if len(body.encode("utf-8", "surrogatepass")) > webchat.MAX_BODY:
        assert status == 413, (status, reply)  # (over the cap: refused, saying so)
        return
    assert status == 200, (said, status, reply)
    assert reply["replies"], said  # always an answer in the chat


async def test_the_issues_cases_are_each_a_400_with_a_reason(chat: Chat) -> None:
    good = await a_real_pulse(chat)
    cases = {
        "surrogate": dumps({**good, "comments": {"": "sad \ud800 face"}}),
        "round_id": dumps({**good, "round_id": 10**30}),
        "nested": dumps({**good, "answers": nested(1200)}),
        "numbers": dumps({**good, "answers": dict.fromkeys(good["answers"], True)}),
        "numbers 1-5": dumps({**good, "answers": dict.fromkeys(good["answers"], 6)}),
        "UTF-8": b'{"as": "\xff"}',
        "JSON": '{"as": NaN}',
    }
    for reason, body in cases.items():
        status, reply = await refused_and_unchanged(chat, "/local/api/pulse", body)
        assert status == 400, (reason, reply)
        word = reason.split()[0]
        assert word in reply["error"] or word.lower() in reply["error"], (reason, reply)
    assert (await chat.card("b0"))["type"] == "pulse"  # still waiting to be answered
    status, reply = await post_raw(chat, "/local/api/pulse", dumps(good))
    assert status == 200 and reply["replies"][0]["type"] == "receipt", reply


async def test_a_body_over_the_cap_is_a_413_saying_so(chat: Chat) -> None:
    huge = dumps({"as": MEMBER, "text": "pulse help " + "x" * 40_000})
    status, reply = await refused_and_unchanged(chat, "/local/api/message", huge)
    assert status == 413 and "larger than" in reply["error"]
    status, _ = await post_raw(chat, "/local/api/message", dumps({"as": MEMBER, "text": "pulse"}))
    assert status == 200

"""``POST /slack/events`` fuzzed, every request validly signed so it reaches the parser: real
payloads (the ones the Slack tests send) mutated, as JSON envelopes, interaction forms and slash
command forms, and bodies of anything at all.  Never a 5xx; a refused request changes nothing in
the database; the server keeps serving (a real command still works after)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz_support import JSON_VALUES, ODD_TEXT, changed, dump, dumps, mutated, settled
from tests.slack_support import (
    SECRET,
    Slack,
    block_actions,
    comment,
    dm_message,
    event_callback,
    form_submission,
    home_click,
    pulse_click,
    scores,
    uid,
)

FUZZ = settings.get_profile(os.environ.get("TEAMPULSE_FUZZ_PROFILE", "fuzz-ci"))
FORM = "application/x-www-form-urlencoded"
A1 = uid("a1")
METADATA = json.dumps({"round": 1, "questions": ["q:speak_up"], "channel": "DUA1", "ts": "1.2"})

ENVELOPES: list[dict[str, Any]] = [
    event_callback(dm_message(A1, "pulse help"), "Ev0FUZZ1"),
    event_callback(
        {"type": "app_mention", "user": A1, "text": "<@UBOT> pulse status", "channel": "CWARDA"},
        "Ev0FUZZ2",
    ),
    event_callback(
        {"type": "app_home_opened", "user": A1, "channel": "DUA1", "tab": "home"}, "Ev0FUZZ3"
    ),
    event_callback(
        {"type": "member_joined_channel", "user": A1, "channel": "CWARDA", "team": "T0TEST"},
        "Ev0FUZZ4",
    ),
    event_callback({"type": "subteam_members_changed", "subteam_id": "S0GROUP"}, "Ev0FUZZ5"),
    event_callback({"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}, "Ev6"),
    {
        "token": "deprecated",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    },
]
INTERACTIONS: list[dict[str, Any]] = [
    form_submission("a1", METADATA, {**scores(["q:speak_up"], 4), **comment("ok")}),
    pulse_click(A1, 1, "DUA1", "1700000000.0001"),
    home_click(A1, {"action_id": "home_trends", "value": "x"}),
    block_actions(A1, {"action_id": "pulse_open", "value": "1"}, {"type": "message"}),
    {
        "type": "message_action",
        "callback_id": "give_kudos",
        "trigger_id": "1.2.3",
        "user": {"id": A1, "team_id": "T0TEST"},
        "team": {"id": "T0TEST"},
        "channel": {"id": "CWARDA"},
        "message": {"type": "message", "user": uid("a2"), "text": "done the rota", "ts": "1.1"},
        "response_url": "https://hooks.slack.com/x",
    },
]
COMMAND: dict[str, str] = {
    "token": "deprecated",
    "team_id": "T0TEST",
    "channel_id": "CWARDA",
    "user_id": A1,
    "command": "/pulse",
    "text": "help",
    "response_url": "https://hooks.slack.com/commands/1",
    "trigger_id": "1.2.3",
}


def command_forms() -> st.SearchStrategy[str]:
    """A slash command's form with fields dropped, emptied or given odd text."""
    fields = st.dictionaries(st.sampled_from(sorted(COMMAND)), ODD_TEXT, max_size=4)
    dropped = st.sets(st.sampled_from(sorted(COMMAND)), max_size=3)
    return st.builds(
        lambda odd, gone: urlencode(
            {k: v for k, v in {**COMMAND, **odd}.items() if k not in gone}, errors="surrogatepass"
        ),
        fields,
        dropped,
    )


REQUESTS = st.one_of(
    st.sampled_from(ENVELOPES).flatmap(mutated).map(lambda v: (dumps(v), "application/json")),
    st.sampled_from(INTERACTIONS)
    .flatmap(mutated)
    .map(lambda v: (urlencode({"payload": dumps(v)}), FORM)),
    command_forms().map(lambda body: (body, FORM)),
    JSON_VALUES.map(lambda v: (dumps(v), "application/json")),
    st.text(max_size=200).map(lambda t: (t, FORM)),
    st.text(max_size=200).map(lambda t: ("payload=" + t, FORM)),
)


def signed(raw: bytes) -> dict[str, str]:
    """Slack's signature over the exact bytes sent (any bytes, UTF-8 or not)."""
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


async def send(slack: Slack, body: str | bytes, content_type: str) -> int:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    headers = {"Content-Type": content_type, **signed(raw)}
    async with slack.http.post(slack.url + "/slack/events", data=raw, headers=headers) as answer:
        await answer.read()
        return answer.status


@FUZZ
@given(request=REQUESTS)
async def test_signed_slack_requests_never_get_a_5xx_and_a_refusal_changes_nothing(
    slack: Slack, request: tuple[str, str]
) -> None:
    body, content_type = request
    before = await dump(slack.service.db.engine)
    status = await settled(send(slack, body, content_type))
    assert status < 500, (status, body[:300])
    if status >= 400:
        assert changed(before, await dump(slack.service.db.engine)) == []


@settings(FUZZ, max_examples=min(FUZZ.max_examples, 20))
@given(junk=st.binary(max_size=300))
async def test_any_bytes_signed_get_a_4xx_or_a_2xx(slack: Slack, junk: bytes) -> None:
    for content_type in ("application/json", FORM, "text/plain; charset=utf-16"):
        assert await send(slack, junk, content_type) < 500


async def test_after_the_fuzz_the_server_still_answers_a_real_command(slack: Slack) -> None:
    """The attack and then a person: the server is not left broken by what came before."""
    for body in (dumps(nested_event()), "payload=%7B", urlencode({"command": 5})):
        assert 400 <= await send(slack, body, "application/json") < 500
    response = await slack.command("/pulse", "help", A1)
    assert response.status == 200


def nested_event() -> dict[str, Any]:
    from tests.fuzz_support import nested

    return event_callback({"type": "message", "blocks": nested(5000)}, "Ev0DEEP")


async def test_a_slash_command_that_says_payload_is_answered(slack: Slack) -> None:
    """Bolt reads any form body mentioning "payload" as an interaction; the gate reads the form
    and hands Bolt the command as checked, so the word is just a word."""
    response = await slack.command("/pulse", "help me with the payload", A1)
    assert response.status == 200, await response.text()
    [reply] = await slack.fake.wait_for("response_url")
    assert "pulse" in reply.params["text"]


async def test_a_body_over_the_cap_is_a_413_before_anything_reads_it(slack: Slack) -> None:
    """Signed or not: the cap comes first, whether the size is announced or streamed."""
    big = urlencode({**COMMAND, "text": "x" * (200 * 1024)}).encode()

    async def streamed() -> AsyncIterator[bytes]:  # (no Content-Length: chunked)
        for start in range(0, len(big), 16 * 1024):
            yield big[start : start + 16 * 1024]

    before = await dump(slack.service.db.engine)
    for data in (big, streamed()):
        headers = {"Content-Type": FORM, **signed(big)}
        async with slack.http.post(slack.url + "/slack/events", data=data, headers=headers) as r:
            assert r.status == 413 and "larger than" in (await r.json())["error"]
    assert changed(before, await dump(slack.service.db.engine)) == []
    assert (await slack.command("/pulse", "help", A1)).status == 200

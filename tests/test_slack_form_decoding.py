"""The gate's form decoding (``adapters.slack.app.form_of``) reads every body exactly as
``urllib.parse.parse_qsl`` does: a slash command's text or an interaction's payload means the same
whichever way it was decoded, including bodies Slack would never send (bad escapes, raw non-ASCII,
backslashes, bytes that are not UTF-8)."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, quote, urlencode

from hypothesis import given
from hypothesis import strategies as st

from adapters.slack.app import form_of

PIECES = st.sampled_from(
    ["%", "%2", "%zz", "%41", "%e2%82%ac", "%E2%82", "%ff", "+", "&", "=", "\\", "\\x41", ";", "é"]
)
TEXT = st.lists(st.one_of(st.text(max_size=8), PIECES), max_size=12).map("".join)


def same_as_parse_qsl(body: str) -> None:
    assert form_of(body) == dict(parse_qsl(body, keep_blank_values=True))


@given(st.dictionaries(TEXT, TEXT, max_size=5))
def test_an_encoded_form_decodes_as_parse_qsl_does(fields: dict[str, str]) -> None:
    body = urlencode(fields)
    assert form_of(body) == fields
    same_as_parse_qsl(body)


@given(TEXT)
def test_any_body_decodes_as_parse_qsl_does(body: str) -> None:
    same_as_parse_qsl(body)


def test_a_pulse_submission_payload_with_every_kind_of_character() -> None:
    words = 'Ward 7 café 😀 said "it\'s 50% better" + <b>&amp;</b> \\ line\nbreak'
    payload = {"type": "view_submission", "view": {"state": {"values": {"c": {"v": words}}}}}
    body = urlencode({"payload": json.dumps(payload)})
    assert json.loads(form_of(body)["payload"]) == payload
    assert form_of("payload=" + quote(json.dumps(payload), safe=""))["payload"] == json.dumps(
        payload
    )

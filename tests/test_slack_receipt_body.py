"""The receipt's ``chat.update`` body, built from its pre-rendered part
(``adapters/slack/receipts.py``), is the JSON of the call's arguments, whatever they hold."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from adapters.slack.blocks import render
from adapters.slack.receipts import update_body
from bot.views import Receipt

ODD = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ['D"1\\', "1700000000.000001", "é\u2028\u2029\x00<>&"]
)


@given(channel=ODD, ts=ODD, team=ODD)
def test_the_body_is_the_json_of_the_arguments(channel: str, ts: str, team: str) -> None:
    receipt = Receipt(round_id=7, team=team, text=f"Thank you, {team} pulse")
    message = render(receipt)
    expected = {"channel": channel, "ts": ts, "text": message.text, "blocks": message.blocks}
    body = update_body(channel, ts, receipt)
    assert json.loads(body) == expected
    assert body == json.dumps(expected, separators=(",", ":")).encode()  # (ASCII, compact)

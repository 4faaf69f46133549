"""The pulse receipt's ``chat.update``, sent straight over the adapter's own connection pool.

Every stored answer is followed by one ``chat.update`` (the DM becomes the receipt).  Through
slack_sdk each call builds its request, headers, logging and response objects and runs its retry
handlers: about a fifth of the app's CPU under load (docs/performance.md, "Against a committing
baseline").  Here the body is JSON built from a pre-rendered part (the receipt's text and blocks
are the same for everyone of a team in a round, so they are rendered and serialised once), posted
with the client's own pooled ``aiohttp`` session in the client's pace (``Pacer``).

Anything unusual goes to slack_sdk after all, which handles it as every other call: a 429 (told
to the pacer first, as ``PacedRateLimitRetry`` does, then retried in the lane's turn), a dropped
connection (retried once by ``ConnectionRetryNotPosts``), or a client with no pool of its own
(Bolt's per-request clients in OAuth mode, whose token is bound per call).
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from json.encoder import encode_basestring_ascii

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import render
from adapters.slack.pacing import PacedClient, retry_after
from bot.views import Receipt

log = logging.getLogger(__name__)
UPDATE = "chat.update"
RECEIPTS_KEPT = 256  # rendered receipts (one per team and round answered lately)


@lru_cache(maxsize=RECEIPTS_KEPT)
def _rendered(receipt: Receipt) -> str:
    """The receipt's ``text`` and ``blocks`` as the tail of a JSON object
    (``"text":…,"blocks":[…]}``)."""
    message = render(receipt)
    tail = json.dumps({"text": message.text, "blocks": message.blocks}, separators=(",", ":"))
    return tail[1:]


def _lean(client: AsyncWebClient) -> bool:
    """A client whose token and pool are its own (the one-workspace adapter client)."""
    return type(client) is PacedClient and client.session is not None and bool(client.token)


async def show_receipt(client: AsyncWebClient, channel: str, ts: str, receipt: Receipt) -> None:
    """Replace the pulse message ``ts`` in ``channel`` with the receipt; ``SlackApiError`` (or
    a connection error) when Slack refused it, as ``client.chat_update`` raises."""
    if _lean(client) and await _posted(client, channel, ts, receipt):
        return
    message = render(receipt)
    await client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)


async def _posted(client: AsyncWebClient, channel: str, ts: str, receipt: Receipt) -> bool:
    """The lean call; False when slack_sdk should make it instead (a 429, a dropped connection)."""
    assert isinstance(client, PacedClient) and client.session is not None
    body = update_body(channel, ts, receipt)
    headers = {
        "Authorization": f"Bearer {client.token}",
        "Content-Type": "application/json;charset=utf-8",
        **client.headers,
    }
    ticket = await client.pacer.turn(client.token or "", UPDATE)
    try:
        async with client.session.post(
            client.base_url + UPDATE,
            data=body,
            headers=headers,
            timeout=_timeout(client.timeout),
        ) as response:
            status, answer = response.status, await response.read()
            if status == 429:
                client.pacer.refused(ticket, retry_after(response.headers))
                return False
    except (TimeoutError, aiohttp.ClientConnectionError):
        return False
    client.pacer.accepted(ticket)
    found = _json(answer)
    if status != 200 or found.get("ok") is not True:
        error = f"{UPDATE} failed: {status} {found.get('error')}"
        raise SlackApiError(error, found)  # type: ignore[no-untyped-call]
    return True


def update_body(channel: str, ts: str, receipt: Receipt) -> bytes:
    """The ``chat.update`` body: ``json.dumps`` of the call's arguments, compact."""
    return f'{{"channel":{_string(channel)},"ts":{_string(ts)},{_rendered(receipt)}'.encode()


def _string(text: str) -> str:
    """``text`` as a JSON string, as ``json.dumps`` writes it (ASCII, escaped): ``json.dumps``
    with ``separators`` builds an encoder on every call, a tenth of the receipt's own CPU."""
    return encode_basestring_ascii(text)


@lru_cache(maxsize=4)
def _timeout(total: int) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total)


def _json(raw: bytes) -> dict[str, object]:
    try:
        found = json.loads(raw)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}

"""Nothing an unauthenticated caller does makes a table grow without bound (issue 14, "Limits").

Someone on the internet who finds the bot's URL sends 10,000 requests: install links fetched,
OAuth redirects with made-up states, Slack events unsigned, wrongly signed or replayed, Bot
Framework activities without a token or with a forged one, and the health and metrics pages.
Afterwards every table holds what it held before, except the install links, which stay under
their cap (``MAX_STATES``), and an administrator can still install the app.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import inspect, text

from adapters.slack.oauth import INSTALL_LINKS_PER_MINUTE, MAX_STATES
from bot.service import TeamPulse
from bot.settings import Settings
from tests.slack_support import SECRET, Slack, event_callback, over_oauth, uid
from tests.support import email
from tests.teams_support import APP_ID, TENANT, activity, member
from tests.test_teams import KeyServer, token
from tests.test_teams import key_server as key_server  # (a fixture)

REQUESTS = 10_000
AT_ONCE = 16


@pytest.fixture
async def exposed(settings: Settings, key_server: KeyServer) -> AsyncIterator[Slack]:
    """Slack over OAuth and authenticated Teams on one public server."""
    async with over_oauth(
        settings,
        workspaces="T0NEW",
        users={uid("a0"): (email("a0"), None)},
        microsoft_app_id=APP_ID,
        microsoft_app_password="not-a-real-password",
        teams_tenants_raw=TENANT,
        teams_openid_metadata_url=key_server.url,
    ) as slack:
        yield slack


async def row_counts(service: TeamPulse) -> dict[str, int]:
    async with service.db.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        return {
            name: int((await connection.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar())
            for name in names
            if name != "alembic_version"
        }


def attacks(slack: Slack) -> list[Callable[[], Coroutine[Any, Any, int]]]:
    """One of each request an outsider can make; each returns the status it got."""
    http, base = slack.http, slack.url
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    service_url = "https://smba.trafficmanager.net/uk/"
    message = activity(member("a1"), service_url, type="message", text="kudos @a2 thanks #teamwork")

    async def status(request: Any) -> int:
        async with request as response:
            await response.read()
            return int(response.status)

    def event_body() -> str:
        message = {"type": "message", "channel": "D1", "user": uid("a0"), "text": "pulse help"}
        return json.dumps(event_callback(message, f"Ev{secrets.token_hex(6)}", team="T0NEW"))

    def signed(body: str, secret: str, stamp: int) -> dict[str, str]:
        base_string = f"v0:{stamp}:{body}".encode()
        digest = hmac.new(secret.encode(), base_string, hashlib.sha256).hexdigest()
        return {
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/json",
        }

    async def install() -> int:
        return await status(http.get(f"{base}/slack/install", allow_redirects=False))

    async def redirect() -> int:
        query = urlencode({"code": secrets.token_hex(4), "state": secrets.token_hex(8)})
        return await status(http.get(f"{base}/slack/oauth_redirect?{query}"))

    async def unsigned_event() -> int:
        headers = {"Content-Type": "application/json"}
        return await status(http.post(f"{base}/slack/events", data=event_body(), headers=headers))

    async def wrongly_signed_event() -> int:
        body = event_body()
        headers = signed(body, "not-the-signing-secret", int(time.time()))
        return await status(http.post(f"{base}/slack/events", data=body, headers=headers))

    async def replayed_event() -> int:
        body = event_body()
        headers = signed(body, SECRET, int(time.time()) - 600)  # outside the 5-minute window
        return await status(http.post(f"{base}/slack/events", data=body, headers=headers))

    async def teams_without_token() -> int:
        body = {**message, "id": secrets.token_hex(6)}
        return await status(http.post(f"{base}/api/messages", json=body))

    async def teams_forged_token() -> int:
        body = {**message, "id": secrets.token_hex(6)}
        forged = {"Authorization": f"Bearer {token(forger, 'trusted', service_url)}"}
        return await status(http.post(f"{base}/api/messages", json=body, headers=forged))

    async def pages() -> int:
        return await status(http.get(f"{base}/{secrets.choice(['healthz', 'readyz', 'metrics'])}"))

    return [
        install,
        install,
        install,
        redirect,
        unsigned_event,
        wrongly_signed_event,
        replayed_event,
        teams_without_token,
        teams_forged_token,
        pages,
    ]


async def test_ten_thousand_unauthenticated_requests_leave_every_table_bounded(
    exposed: Slack,
) -> None:
    slack = exposed
    before = await row_counts(slack.service)
    assert before["slack_oauth_states"] == 0
    kinds = attacks(slack)
    plan = list(itertools.islice(itertools.cycle(kinds), REQUESTS))
    gate = asyncio.Semaphore(AT_ONCE)
    statuses: dict[str, set[int]] = {}

    async def one(attack: Callable[[], Coroutine[Any, Any, int]]) -> None:
        async with gate:
            statuses.setdefault(attack.__name__, set()).add(await attack())

    await asyncio.gather(*(one(attack) for attack in plan))

    # a few install links, then a polite 429 that touches nothing
    assert statuses["install"] == {200, 429}
    refused = {k: codes for k, codes in statuses.items() if k not in ("install", "pages")}
    assert all(codes and max(codes) < 500 and min(codes) >= 400 for codes in refused.values()), (
        statuses
    )
    assert statuses["pages"] <= {200, 401}

    after = await row_counts(slack.service)
    assert 0 < after.pop("slack_oauth_states") <= min(MAX_STATES, INSTALL_LINKS_PER_MINUTE)
    before.pop("slack_oauth_states")
    assert after == before  # no other table grew (nor shrank)

    refused_install = await slack.http.get(f"{slack.url}/slack/install")
    assert refused_install.status == 429
    assert 0 < int(refused_install.headers["Retry-After"]) <= 60
    assert "Try again in" in await refused_install.text()

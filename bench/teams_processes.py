"""The processes of the Teams ingest benchmark (``bench/teams_ingest.py``), each started by
``ingest_processes.spawn`` as ``python bench/teams_processes.py ROLE``, printing ``READY <url>``
and stopping when its stdin closes:

* ``fake``: the tests' fake Bot Connector (``tests/fake_teams.py``), where replies go;
* ``bare``: the yardstick, an aiohttp handler that checks the same Bot Framework token as the app
  (PyJWT, the key from the same JWKS, issuer, audience, expiry and the ``serviceurl`` claim) and
  commits each body with one INSERT through an asyncpg pool;
* ``job``: the simplest server that does the whole job a person sees when they submit a pulse
  card: the same token check, the card's round and answers read, who answered kept apart from
  the answer in one transaction (a second try is told so), and the receipt card in the invoke's
  answer.  No invitation check, mood, anonymity ledger or log lines (as ``ingest_processes.run_job``
  for Slack).

Also the Bot Framework's side of the tokens both servers check: ``key_server`` (OpenID metadata
and a JWKS for a local RSA key, served from a thread) and ``channel_token``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402
import jwt  # noqa: E402
from aiohttp import web  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from ingest_processes import job_tables  # noqa: E402

from tests.openid_keys import jwks_key, served_keys  # noqa: E402

ISSUER = "https://api.botframework.com"
LEEWAY = 300  # botbuilder's clock tolerance (5 minutes)
TABLE = "bench_activity"
APP_ID = "6b0f7c4e-2d1a-4f3b-9c8e-5a7d1e2f3b4c"
KID = "bench"


# -- the Bot Framework's keys, served from a thread ------------------------------------------------
@contextmanager
def key_server(key: rsa.RSAPrivateKey) -> Iterator[str]:
    """OpenID metadata at ``<url>/openid`` and its JWKS at ``<url>/keys``; yields the base URL."""
    with served_keys([jwks_key(key, KID)]) as base:
        yield base


def channel_token(key: rsa.RSAPrivateKey, service_url: str) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": APP_ID,
        "serviceurl": service_url,
        "nbf": now - 60,
        "exp": now + 3600,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})


async def _until_stdin_closes() -> None:
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def _serve(app: web.Application) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"READY http://{host}:{port}", flush=True)
    await _until_stdin_closes()
    await runner.cleanup()


class TokenCheck:
    """The Bot Framework token checks both reference servers make: PyJWT, the key from the same
    JWKS (fetched once, then cached), issuer, audience, expiry and the ``serviceurl`` claim."""

    def __init__(self) -> None:
        self.app_id = os.environ["BENCH_APP_ID"]
        self.keys = jwt.PyJWKClient(os.environ["BENCH_JWKS_URL"])
        self.keys.get_signing_keys()

    async def activity(self, request: web.Request) -> tuple[str, dict[str, Any]] | None:
        """The body and its activity, or None when the token does not hold."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        body = await request.text()
        try:
            activity = json.loads(body)
            key = self.keys.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.app_id,
                issuer=ISSUER,
                leeway=LEEWAY,
                options={"require": ["exp", "nbf"]},
            )
        except (ValueError, jwt.PyJWTError):
            return None
        if scheme != "Bearer" or claims.get("serviceurl") != activity.get("serviceUrl"):
            return None
        return body, activity


def unauthorised() -> web.Response:
    return web.json_response({"error": "unauthorised"}, status=401)


async def pool_of(dsn: str) -> Any:
    return await asyncpg.create_pool(dsn, min_size=10, max_size=10)


async def run_bare() -> None:
    """``POST /api/messages``: a valid token, then one INSERT of the body, committed; 401 for a
    bad token.  An invoke gets 200 and a small invoke response, anything else 201 (as the app)."""
    check = TokenCheck()
    pool = await pool_of(os.environ["BENCH_PG_DSN"])
    insert = f"INSERT INTO {TABLE} (body) VALUES ($1)"
    invoke_answer = json.dumps(
        {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": "ok"}
    )

    async def handle(request: web.Request) -> web.Response:
        found = await check.activity(request)
        if found is None:
            return unauthorised()
        body, activity = found
        await pool.execute(insert, body)  # its own transaction: committed when it returns
        if activity.get("type") == "invoke":
            return web.Response(text=invoke_answer, content_type="application/json")
        return web.Response(status=201)

    await _serve_pooled(handle, pool)


JOB_ANSWERED = "bench_teams_job_answered"  # the whole-job reference's tables
JOB_ANSWERS = "bench_teams_job_answer"


def card_answer(text: str) -> dict[str, Any]:
    """An invoke's answer that replaces the card with one line of text."""
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": text}]}
    return {"statusCode": 200, "type": "application/vnd.microsoft.card.adaptive", "value": card}


async def run_job() -> None:
    """``POST /api/messages`` for a pulse card's ``Action.Execute``: the token; the card's form
    (round and questions) and the chosen answers; in one transaction, who answered (once per
    round: a second try is told so) and, apart, the answers; then the receipt card."""
    check = TokenCheck()
    pool = await pool_of(os.environ["BENCH_PG_DSN"])
    answered, store = await job_tables(pool, JOB_ANSWERED, JOB_ANSWERS)
    receipt = json.dumps(card_answer("Your pulse: answered"))
    again = json.dumps(card_answer("You have already answered this pulse."))

    async def handle(request: web.Request) -> web.Response:
        found = await check.activity(request)
        if found is None:
            return unauthorised()
        _, activity = found
        data = activity["value"]["action"]["data"]
        form = json.loads(data["form"])
        answers = {q: int(data[f"q:{q}"]) for q in form["questions"]}
        person = activity["from"]["aadObjectId"]
        async with pool.acquire() as connection, connection.transaction():
            first = await connection.execute(answered, form["round"], person)
            if not first.endswith(" 0"):
                await connection.execute(store, form["round"], json.dumps(answers))
        text = receipt if not first.endswith(" 0") else again
        return web.Response(text=text, content_type="application/json")

    await _serve_pooled(handle, pool)


async def _serve_pooled(handle: Any, pool: Any) -> None:
    app = web.Application()
    app.router.add_post("/api/messages", handle)
    try:
        await _serve(app)
    finally:
        await pool.close()


async def run_fake() -> None:
    from tests.fake_teams import FakeTeams

    fake = FakeTeams()
    await fake.start()
    print(f"READY {fake.url}", flush=True)
    await _until_stdin_closes()
    print(f"calls {len(fake.calls)}", file=sys.stderr, flush=True)
    await fake.stop()


def main() -> None:
    roles = {"bare": run_bare, "job": run_job, "fake": run_fake}
    if len(sys.argv) != 2 or sys.argv[1] not in roles:
        sys.exit(f"usage: {sys.argv[0]} bare|job|fake (started by bench/teams_ingest.py)")
    asyncio.run(roles[sys.argv[1]]())


if __name__ == "__main__":
    main()

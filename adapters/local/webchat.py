"""The local web chat: pick who you are and talk to the bot as that person.

It lets a visitor act as anyone, so it is installed only in local mode, on a loopback address
(``teampulse serve`` refuses anything else).  Each page load carries a per-process token that every
API call must echo (``X-Teampulse-Token``), so another site open in the same browser cannot drive
the chat.  A DNS-rebinding page (another site's name pointed at 127.0.0.1) could load the page and
read that token, so every route first checks that the Host header names a loopback address with
the port the request came in on (421 otherwise), and the API's POSTs that a browser's ``Origin``,
when sent, is that same origin (403 otherwise).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.local import api_models
from adapters.local.api_models import ChatMessage, M, PulseAnswers
from adapters.local.messenger import LocalMessenger
from adapters.local.render import ChartStore, to_json
from bot.forms import GENERAL_COMMENT
from bot.identities import normalise_email
from bot.saving import StillSaving
from bot.server import CONVERSATION, SERVICE, cap_body
from bot.service import TeamPulse, UnknownPerson
from bot.views import TextReply, View

STATIC = Path(__file__).with_name("static")
# The page's files and their types, named here rather than guessed: the front end is ES modules,
# which browsers run only when served as JavaScript, and a guess varies (application/javascript on
# Python 3.11, whatever the registry says on Windows, sometimes text/plain).
STATIC_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
}
TOKEN: web.AppKey[str] = web.AppKey("local_token", str)
CHARTS: web.AppKey[ChartStore] = web.AppKey("local_charts", ChartStore)
MESSENGER: web.AppKey[LocalMessenger] = web.AppKey("local_messenger", LocalMessenger)
# a chat message's longest: room for a kudos at the longest limit it may be set to (3,000
# characters, bot.forms.MAX_TEXT) and its names, so that limit is the one a person is told of
MAX_TEXT = 4000
MAX_BODY = 32 * 1024  # a message of MAX_TEXT characters, each up to 6 bytes as JSON escapes
# a Host header the chat answers: a loopback name or address, and an optional port
LOOPBACK_HOST = re.compile(r"(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::(\d{1,5}))?", re.I)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def installer(messenger: LocalMessenger) -> Any:
    def install(app: web.Application) -> None:
        app[TOKEN] = secrets.token_urlsafe(24)
        app[CHARTS] = ChartStore()
        app[MESSENGER] = messenger
        app.router.add_get("/", same_host(index))
        app.router.add_get("/local/static/{name}", same_host(static_file()), name="local-static")
        app.router.add_get("/local/api/people", same_host(people))
        app.router.add_get("/local/api/inbox", same_host(inbox))
        app.router.add_get("/local/api/feed", same_host(feed))
        app.router.add_post("/local/api/message", same_host(same_origin(message)))
        app.router.add_post("/local/api/pulse", same_host(same_origin(pulse)))
        for path in ("/local/api/message", "/local/api/pulse"):
            cap_body(app, path, MAX_BODY)
        app.router.add_get("/local/charts/{key}.png", same_host(chart))

    return install


def _arrival_port(request: web.Request) -> int | None:
    """The local port the request's connection came in on."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None


def loopback_host(request: web.Request) -> bool:
    """The Host header names a loopback address and the port this request arrived on (no port
    only on port 80): a rebinding page's Host is its own name."""
    matched = LOOPBACK_HOST.fullmatch(request.headers.get("Host", ""))
    if matched is None:
        return False
    port = _arrival_port(request)
    return port is not None and int(matched.group(2) or 80) == port


def same_host(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not loopback_host(request):
            raise web.HTTPMisdirectedRequest(
                text="the local web chat answers only at a loopback address (such as "
                "http://127.0.0.1 or http://localhost) with its own port"
            )
        return await handler(request)

    return guarded


def same_origin(handler: Handler) -> Handler:
    """A browser says where a POST comes from (``Origin``): only the chat's own page may post.
    (A client that sends no ``Origin`` is not a browser page; it still needs the token.)"""

    async def guarded(request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() != f"http://{request.headers['Host']}".lower():
            raise web.HTTPForbidden(
                text=json.dumps({"error": "requests from another site are refused"}),
                content_type="application/json",
            )
        return await handler(request)

    return guarded


async def index(request: web.Request) -> web.Response:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    page = page.replace("{{TOKEN}}", request.app[TOKEN])
    return web.Response(
        text=page,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; img-src 'self'",
        },
    )


def static_file() -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    """Serve the files in ``static/`` by exact name (nothing else, no folders) with their type.
    ``no-cache`` makes the browser check each one (an ETag round trip) before using its copy, so
    after an upgrade it never runs old modules beside new ones."""
    files = {p.name: p for p in STATIC.iterdir() if p.is_file() and p.suffix in STATIC_TYPES}

    async def serve(request: web.Request) -> web.FileResponse:
        path = files.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(
            path,
            headers={
                "Content-Type": f"{STATIC_TYPES[path.suffix]}; charset=utf-8",
                "Cache-Control": "no-cache",
            },
        )

    return serve


def _authorise(request: web.Request) -> None:
    sent = request.headers.get("X-Teampulse-Token", "")
    if not hmac.compare_digest(sent.encode(), request.app[TOKEN].encode()):
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "missing or wrong chat token; reload the page"}),
            content_type="application/json",
        )


def _bad_request(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": reason}), content_type="application/json")


async def _body(request: web.Request, model: type[M]) -> M:
    """The POST body as ``model`` (``api_models.py``), its speaker's email normalised; a 400
    saying what to send otherwise."""
    try:
        body = api_models.read(model, await request.read())
    except api_models.BadBody as error:
        raise _bad_request(str(error)) from None
    return body.model_copy(update={"speaker": normalise_email(body.speaker)})


def _replies(request: web.Request, views: list[View]) -> web.Response:
    charts = request.app[CHARTS]
    return web.json_response({"replies": [to_json(view, charts) for view in views]})


async def people(request: web.Request) -> web.Response:
    _authorise(request)
    demo, roster = await request.app[SERVICE].roster()
    found = [
        {"email": p.email, "name": p.name, "teams": p.teams, "manages": p.manages} for p in roster
    ]
    return web.json_response({"demo": demo, "people": found})


async def inbox(request: web.Request) -> web.Response:
    """Messages pushed to this person since they last looked, plus their waiting pulses."""
    _authorise(request)
    email = normalise_email(request.query.get("as", ""))
    service: TeamPulse = request.app[SERVICE]
    try:
        cards = await service.pending_pulses(email)
    except UnknownPerson:
        raise _bad_request(f"{email or 'nobody'} is not in this organisation") from None
    views: list[View] = [*request.app[MESSENGER].take_inbox(email), *cards]
    return _replies(request, views)


async def feed(request: web.Request) -> web.Response:
    """The celebration feeds of the teams this person belongs to."""
    _authorise(request)
    email = normalise_email(request.query.get("as", ""))
    service: TeamPulse = request.app[SERVICE]
    try:
        teams = await service.team_names_of(email)
    except UnknownPerson:
        raise _bad_request(f"{email or 'nobody'} is not in this organisation") from None
    feeds = request.app[MESSENGER].feeds
    charts = request.app[CHARTS]
    return web.json_response({"teams": {t: [to_json(v, charts) for v in feeds[t]] for t in teams}})


async def message(request: web.Request) -> web.Response:
    _authorise(request)
    body = await _body(request, ChatMessage)
    if not body.text.strip():
        raise _bad_request('"text" must be a non-empty string')
    if len(body.text) > MAX_TEXT:
        return _replies(
            request,
            [TextReply(f"That message is too long (over {MAX_TEXT} characters).", kind="error")],
        )
    views = await request.app[CONVERSATION].handle(body.speaker, body.text)
    return _replies(request, views)


async def pulse(request: web.Request) -> web.Response:
    """A pulse card's answers: ``{"as", "round_id", "answers": {question: 1-5}, "comments":
    {about: text}}``: at most one comment, where ``about`` is the statement's question id, or
    ``""`` for a general comment (the card's default)."""
    _authorise(request)
    body = await _body(request, PulseAnswers)
    [(about, comment)] = body.comments.items() or [(GENERAL_COMMENT, "")]
    view = await request.app[CONVERSATION].submit_card(
        body.speaker, body.round_id, dict(body.answers), comment, about
    )
    if isinstance(view, StillSaving):  # the card waits, saying so; the outcome in the inbox
        view.then(partial(request.app[MESSENGER].to_inbox, body.speaker))
        saving = {"type": "saving", "round_id": view.round_id, "text": view.text}
        return web.json_response({"replies": [saving]})
    return _replies(request, [view])


async def chart(request: web.Request) -> web.Response:
    png = request.app[CHARTS].get(request.match_info["key"])
    if png is None:
        raise web.HTTPNotFound(text="this chart has expired; ask for the trends again")
    return web.Response(
        body=png, content_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
    )

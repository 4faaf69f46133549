"""The one aiohttp server: health routes here, platform routes added by adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.conversation import Conversation
from bot.health import READINESS, Readiness, healthz, readyz
from bot.logs import request_ids
from bot.metrics import METRICS, count_requests, install_metrics
from bot.scheduler import PulseScheduler
from bot.service import TeamPulse
from bot.words import UNAVAILABLE
from storage.engine import unavailable

log = logging.getLogger(__name__)

SERVICE: web.AppKey[TeamPulse] = web.AppKey("service", TeamPulse)
CONVERSATION: web.AppKey[Conversation] = web.AppKey("conversation", Conversation)

# Request bodies: each POST route's cap in bytes (set by the adapter that adds the route,
# ``cap_body``); any other route takes at most ``DEFAULT_BODY_CAP``, and nothing more than
# ``MAX_BODY_CAP`` is ever read (aiohttp's ``client_max_size``).  Over its cap: 413, saying so.
BODY_CAPS: web.AppKey[dict[str, int]] = web.AppKey("body_caps", dict)
DEFAULT_BODY_CAP = 16 * 1024
MAX_BODY_CAP = 256 * 1024

Installer = Callable[[web.Application], None]
# how often every server process looks for rounds closed elsewhere (``teampulse pulse close``,
# another replica) whose answers it holds pending, to write who answered (bot/ledger.py)
LEDGER_CHECK_SECONDS = 60.0

STATUS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>teampulse</title></head><body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>teampulse is running</h1><p>Connected platforms: {platforms}.</p>
<p>Talk to the bot in Slack or Microsoft Teams. The local web chat is off because a platform is
configured (set <code>TEAMPULSE_LOCAL_CHAT=on</code> to force it, for local use only).</p>
</body></html>"""


async def status_page(request: web.Request) -> web.Response:
    settings = request.app[SERVICE].settings
    platforms = [
        name
        for name, on in (
            ("Slack", settings.slack_configured),
            ("Microsoft Teams", settings.teams_configured),
        )
        if on
    ]
    return web.Response(
        text=STATUS_PAGE.format(platforms=", ".join(platforms) or "none"), content_type="text/html"
    )


@web.middleware
async def friendly_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bad input is a 4xx with a reason; the database away is a 503 with a reason (and the
    request may be sent again); an unexpected error is logged without request data."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as error:
        if unavailable(error):  # one line for the operator, a reason and 503 for the client
            log.warning(
                "database unavailable: %s %s not done (%s)",
                request.method,
                request.path,
                type(error).__name__,
            )
            return web.json_response({"error": UNAVAILABLE}, status=503)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


def cap_body(app: web.Application, path: str, cap: int) -> None:
    """``path`` takes bodies of at most ``cap`` bytes (at most ``MAX_BODY_CAP``)."""
    app[BODY_CAPS][path] = min(cap, MAX_BODY_CAP)


def _too_large(cap: int) -> web.Response:
    reason = f"the request body is larger than this endpoint takes ({cap} bytes)"
    return web.json_response({"error": reason}, status=413)


@web.middleware
async def capped_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A body over its route's cap is refused before any handler reads it: at once when its
    ``Content-Length`` says so, else once reading it passes the cap (the body read here is the
    one the handler gets)."""
    if request.body_exists:
        cap = request.app[BODY_CAPS].get(request.path, DEFAULT_BODY_CAP)
        if (request.content_length or 0) > cap:
            return _too_large(cap)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(cap)
        if len(body) > cap:
            return _too_large(cap)
    return await handler(request)


def create_app(
    service: TeamPulse,
    installers: list[Installer],
    *,
    run_scheduler: bool = False,
    platforms: Sequence[str] = (),
) -> web.Application:
    """The server for ``service``: ``installers`` add each platform's routes; ``platforms``
    names them (for ``/readyz``); ``run_scheduler`` runs the outbox's sender and takes part in
    the scheduler's election."""
    app = web.Application(
        middlewares=[request_ids, count_requests, capped_bodies, friendly_errors],
        client_max_size=MAX_BODY_CAP,
    )
    app[BODY_CAPS] = {}
    app[SERVICE] = service
    app[READINESS] = Readiness.of(service.db, platforms)
    app[METRICS] = service.metrics  # the request counter's, on the public server too
    app[CONVERSATION] = Conversation(service)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    install_metrics(app, service.metrics, service.db, service.settings)
    for install in installers:
        install(app)
    if not any(route.resource and route.resource.canonical == "/" for route in app.router.routes()):
        app.router.add_get("/", status_page)
    app.cleanup_ctx.append(_ledger_context)  # first in, last out: after the scheduler stops
    if run_scheduler:
        app.cleanup_ctx.append(_scheduler_context)
    return app


async def _ledger_context(app: web.Application) -> AsyncIterator[None]:
    """In every process (the scheduler's tick runs in the leader only): the periodic check for
    closed rounds, and at shutdown the writing of who answered, where that is safe."""
    service = app[SERVICE]
    task = asyncio.get_running_loop().create_task(_check_ledger(service))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await service.close()


async def _check_ledger(service: TeamPulse) -> None:
    while True:
        await asyncio.sleep(LEDGER_CHECK_SECONDS)
        try:
            await service.participants.flush_closed()
        except Exception as error:  # (with the database away: one line, no traceback)
            log.warning(
                "the check for closed rounds failed (%s); will try again",
                type(error).__name__,
                exc_info=not unavailable(error),
            )


async def _scheduler_context(app: web.Application) -> AsyncIterator[None]:
    """The outbox's sender in this process, and its part in the scheduler's election."""
    scheduler = PulseScheduler(app[SERVICE])
    await scheduler.start()
    yield
    await scheduler.stop()

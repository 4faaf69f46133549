"""Bolt's side of the Slack adapter: slack-bolt's ``AsyncApp`` with its middleware and the
listeners, the pulse form's fast path, and the gate's hand-over to Bolt.

slack-bolt (with the listeners and slack_sdk's OAuth modules) is about 200 modules a server that
has only started does not need, so a one-workspace server over HTTP imports this module after it
starts (``on_demand.py``); Socket Mode and OAuth build it at start-up, as they need it then
(docs/performance.md, "Start-up and footprint")."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.allowlist import refused_workspace
from adapters.slack.app import ENVELOPES, PLATFORM
from adapters.slack.blocks import SUBMIT_PULSE
from adapters.slack.fastpath import FastSubmit
from adapters.slack.identity import note_origin
from adapters.slack.listeners import SlackListeners
from adapters.slack.pacing import PacedClient, Pacer
from adapters.slack.shortcut import KudosShortcut
from bot.identities import Inbound
from bot.service import TeamPulse
from bot.settings import Settings

if TYPE_CHECKING:
    from adapters.slack import SlackPlatform

log = logging.getLogger(__name__)

Middleware = Callable[..., Awaitable[BoltResponse | None]]


@dataclass
class BoltSide:
    """The Bolt app, its listeners and the fast path (one-workspace HTTP only)."""

    app: AsyncApp
    listeners: SlackListeners
    fast: FastSubmit | None

    @staticmethod
    def refused_workspace(payload: dict[str, Any], served: frozenset[str]) -> str | None:
        """``allowlist.refused_workspace`` (it reads the workspace as Bolt does)."""
        return refused_workspace(payload, served)

    async def dispatch(
        self, payload: dict[str, Any], query: str, headers: dict[str, list[str]]
    ) -> web.Response:
        """Bolt's answer to a request the gate has checked.  Bolt is given the payload as
        checked, as JSON: its own reading of the body would differ (decoded by the request's
        charset; a slash command's text that says "payload" read as an interaction), and its
        signature check is off (the gate's is the one)."""
        headers["content-type"] = ["application/json"]
        bolt_request = AsyncBoltRequest(
            body=json.dumps(payload), query=query, headers=dict(headers)
        )
        bolt_response = await self.app.async_dispatch(bolt_request)
        if bolt_response.status == 404 and payload.get("type") in ENVELOPES:
            # an event nobody listens to: ack it so Slack doesn't redeliver it
            return web.Response(status=200)
        return await to_aiohttp_response(bolt_response)


def assemble(
    platform: SlackPlatform, service: TeamPulse, oauth: AsyncOAuthSettings | None
) -> BoltSide:
    """``platform``'s Bolt app: its middleware (the workspace's token in OAuth mode, the
    request's origin, the dedupe of redelivered events, paced listener calls) and listeners."""
    # Bolt gets a client of its own, without the shared pool: it deep-copies its client into
    # each lazy listener's request, and a live aiohttp session can't be copied
    bolt = bolt_app(platform.settings, platform.new_client(), oauth)
    if platform.installations is not None:
        from adapters.slack.oauth import bind_workspace, forget_uninstalls

        bolt.middleware(bind_workspace)
        forget_uninstalls(bolt, platform.installations)
    bolt.middleware(note_origin)  # whose accounts may be matched (bot/bindings.py)
    bolt.middleware(dedupe(service.inbound))  # event ids already taken in
    bolt.middleware(paced_listeners(platform.pacer))
    listeners = SlackListeners(platform.directory, platform.messenger)
    listeners.register(bolt)
    KudosShortcut(listeners).register(bolt)
    fast = None
    if platform.mode == "http":  # (OAuth binds each request's workspace token in Bolt)
        fast = FastSubmit(SUBMIT_PULSE, listeners.answer_pulse, platform.client)
    return BoltSide(bolt, listeners, fast)


def bolt_app(
    settings: Settings, client: AsyncWebClient, oauth: AsyncOAuthSettings | None = None
) -> AsyncApp:
    """Bolt without its own signature check: every HTTP request reaches Bolt through the gate,
    which has verified it; Socket Mode's come over a WebSocket opened with the app token, and
    the OAuth pages (``oauth_routes``) call Bolt's OAuth flow directly (browser redirects, unsigned;
    the callback is checked by its ``state``)."""
    return AsyncApp(  # the token is the client's (giving both makes Bolt warn)
        signing_secret=settings.slack_signing_secret,
        client=client,
        oauth_settings=oauth,
        logger=logging.getLogger("slack_bolt.AsyncApp"),
        process_before_response=False,
        request_verification_enabled=False,
    )


def dedupe(inbound: Inbound) -> Middleware:
    """A Bolt global middleware, over HTTP and Socket Mode alike: an ``event_callback`` already
    taken in, by this replica or another, is acked with 200 and ``X-Slack-No-Retry`` and goes no
    further (Bolt returns a middleware's own response quietly when ``next`` isn't called)."""

    async def drop_redelivered_events(
        body: dict[str, Any], request: AsyncBoltRequest, next_: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        event_id = body.get("event_id")
        if (
            body.get("type") == "event_callback"
            and isinstance(event_id, str)
            and not await inbound.first_time(PLATFORM, event_id)
        ):
            retry = request.headers.get("x-slack-retry-num") or ["0"]
            log.info("Slack event redelivered (retry %s); already handled", str(retry[0])[:3])
            return BoltResponse(status=200, headers={"X-Slack-No-Retry": "1"})
        await next_()
        return None

    return drop_redelivered_events


def paced_listeners(pacer: Pacer) -> Middleware:
    """A Bolt global middleware (after Bolt's authorization has given the request its token):
    the ``client`` a listener is handed, a plain one Bolt makes per request, is swapped for one
    that paces its calls (``views.open``, ``chat.postEphemeral``, ...) with the adapter's own."""

    async def pace_listener_calls(
        context: AsyncBoltContext, next_: Callable[[], Awaitable[None]]
    ) -> None:
        plain = context.client
        context["client"] = PacedClient(
            pacer=pacer,
            token=plain.token,
            base_url=plain.base_url,
            timeout=plain.timeout,
            session=plain.session,
            headers=plain.headers,
            team_id=context.team_id,
            logger=plain.logger,
            retry_handlers=plain.retry_handlers,
        )
        await next_()

    return pace_listener_calls

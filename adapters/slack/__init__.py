"""The Slack platform: slack-bolt's ``AsyncApp`` on the project's aiohttp server, in the mode the
environment chooses (one workspace over HTTP, many over OAuth, or Socket Mode; see
docs/architecture.md).  One workspace over HTTP imports Bolt after start (``on_demand.py``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import payloads
from adapters.slack.app import MAX_BODY, SlackGate, client_options, web_client
from adapters.slack.identity import SlackDirectory
from adapters.slack.manifest import EVENTS_PATH
from adapters.slack.messenger import SlackMessenger
from adapters.slack.on_demand import OnDemandBolt
from adapters.slack.pacing import Pacer
from bot.after_start import AfterFirstResponse
from bot.server import SERVICE, cap_body
from bot.service import TeamPulse
from bot.settings import Settings

if TYPE_CHECKING:  # (Bolt, the listeners and OAuth load when needed: on_demand.py)
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
    from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings

    from adapters.slack.bolt import BoltSide
    from adapters.slack.oauth import Installations

log = logging.getLogger(__name__)

NEEDS = (
    "Slack needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (one workspace), SLACK_CLIENT_ID, "
    "SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET (OAuth), or SLACK_APP_TOKEN and SLACK_BOT_TOKEN "
    "(Socket Mode)"
)


def slack_mode(settings: Settings) -> str:
    """``oauth``, ``socket`` or ``http`` (``ValueError`` naming what is missing otherwise)."""
    if settings.slack_client_id and settings.slack_client_secret and settings.slack_signing_secret:
        return "oauth"
    if settings.slack_app_token and settings.slack_bot_token:
        return "socket"
    if settings.slack_bot_token and settings.slack_signing_secret:
        return "http"
    raise ValueError(NEEDS)


class SlackPlatform:
    name = "slack"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mode = slack_mode(settings)
        self.installations: Installations | None = None
        self.pacer = Pacer(settings.slack_post_rate)  # every client's calls, one pace
        self.client = self.new_client()  # the adapter's own calls, over one connection pool
        self.directory = SlackDirectory(self.client, served=settings.slack_workspaces)
        self.messenger = SlackMessenger(self.client, self.directory)
        self.bolt: OnDemandBolt | None = None
        self.socket: AsyncSocketModeHandler | None = None

    def new_client(self) -> AsyncWebClient:
        if self.mode == "oauth":
            from adapters.slack.oauth import WorkspaceClient  # (OAuth: Bolt loads at start)

            return WorkspaceClient(**client_options(self.settings, self.pacer))
        return web_client(self.settings, self.settings.slack_bot_token, self.pacer)

    def install(self, app: web.Application) -> None:
        """The routes; Bolt's side (the listeners) is made when first needed, after start, one
        workspace over HTTP; at once in Socket Mode and OAuth, which need it to start."""
        service = app[SERVICE]
        self.directory.bind(service)
        oauth = self._oauth(service) if self.mode == "oauth" else None
        self.bolt = bolt = OnDemandBolt(lambda: self._assemble(service, oauth))
        if self.mode == "http":
            bolt.install(app)
        else:
            bolt.now()
        if self.settings.slack_signing_secret:
            secret, served = self.settings.slack_signing_secret, self.settings.slack_workspaces
            gate = SlackGate(bolt, secret, served)
            failure = "Slack: the payload checks could not be built"
            AfterFirstResponse(lambda: asyncio.to_thread(payloads.build), failure).install(app)
            app.router.add_post(EVENTS_PATH, gate.handle)
            cap_body(app, EVENTS_PATH, MAX_BODY)
        if self.installations is not None:
            from adapters.slack.oauth import oauth_routes

            oauth_routes(app, bolt.now().app, self.installations)
        app.cleanup_ctx.append(self._lifetime)

    def _oauth(self, service: TeamPulse) -> AsyncOAuthSettings:
        from adapters.slack.oauth import Installations, Workspaces

        self.installations = Installations(
            self.settings, service.db.engine, self.client, service.sealer
        )
        self.directory.workspaces = Workspaces(
            self.installations, service.session, service.identities
        )
        return self.installations.settings(self.settings)

    def _assemble(self, service: TeamPulse, oauth: AsyncOAuthSettings | None) -> BoltSide:
        from adapters.slack.bolt import assemble  # (imported by then: on_demand.py)

        return assemble(self, service, oauth)

    async def _lifetime(self, _app: web.Application) -> AsyncIterator[None]:
        """Start-up: one HTTP connection pool for every Web API call (without it slack_sdk opens,
        and closes, a new connection per call); the OAuth tables; Socket Mode's connection."""
        self.client.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.client.timeout)
        )
        if self.installations is not None:
            await self.installations.create_tables()
        if self.mode == "socket":
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            assert self.bolt is not None
            self.socket = AsyncSocketModeHandler(self.bolt.now().app, self.settings.slack_app_token)
            await self.socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack Socket Mode connected")
        yield
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
        await self.client.session.close()


def platform(settings: Settings) -> SlackPlatform:
    return SlackPlatform(settings)

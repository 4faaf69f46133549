"""The Slack platform: slack-bolt's ``AsyncApp`` on the project's aiohttp server, in the mode the
environment chooses (one workspace over HTTP, many over OAuth, or Socket Mode; see
docs/architecture.md)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.app import (
    MAX_BODY,
    SlackGate,
    bolt_app,
    client_options,
    dedupe,
    paced_listeners,
    web_client,
)
from adapters.slack.blocks import SUBMIT_PULSE
from adapters.slack.fastpath import FastSubmit
from adapters.slack.identity import SlackDirectory, note_origin
from adapters.slack.listeners import SlackListeners
from adapters.slack.manifest import EVENTS_PATH
from adapters.slack.messenger import SlackMessenger
from adapters.slack.oauth import (
    Installations,
    WorkspaceClient,
    Workspaces,
    bind_workspace,
    forget_uninstalls,
    oauth_routes,
)
from adapters.slack.pacing import Pacer
from adapters.slack.shortcut import KudosShortcut
from bot.server import SERVICE, cap_body
from bot.settings import Settings

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
        self.client = self._new_client()  # the adapter's own calls, over one connection pool
        self.directory = SlackDirectory(self.client, served=settings.slack_workspaces)
        self.messenger = SlackMessenger(self.client, self.directory)
        self.listeners = SlackListeners(self.directory, self.messenger)
        self.bolt: AsyncApp | None = None
        self.socket: AsyncSocketModeHandler | None = None

    def _new_client(self) -> AsyncWebClient:
        if self.mode == "oauth":
            return WorkspaceClient(**client_options(self.settings, self.pacer))
        return web_client(self.settings, self.settings.slack_bot_token, self.pacer)

    def install(self, app: web.Application) -> None:
        service = app[SERVICE]
        self.directory.bind(service)
        oauth = None
        if self.mode == "oauth":
            self.installations = Installations(
                self.settings, service.db.engine, self.client, service.sealer
            )
            self.directory.workspaces = Workspaces(
                self.installations, service.session, service.identities
            )
            oauth = self.installations.settings(self.settings)
        # Bolt gets a client of its own, without the shared pool: it deep-copies its client into
        # each lazy listener's request, and a live aiohttp session can't be copied
        self.bolt = bolt_app(self.settings, self._new_client(), oauth)
        if self.installations is not None:
            self.bolt.middleware(bind_workspace)
            forget_uninstalls(self.bolt, self.installations)
        self.bolt.middleware(note_origin)  # whose accounts may be matched (bot/bindings.py)
        self.bolt.middleware(dedupe(service.inbound))  # event ids already taken in
        self.bolt.middleware(paced_listeners(self.pacer))
        self.listeners.register(self.bolt)
        KudosShortcut(self.listeners).register(self.bolt)
        if self.settings.slack_signing_secret:
            fast = None
            if self.mode == "http":  # (OAuth binds each request's workspace token in Bolt)
                fast = FastSubmit(SUBMIT_PULSE, self.listeners.submit_pulse, self.client)
            served = self.settings.slack_workspaces
            gate = SlackGate(self.bolt, self.settings.slack_signing_secret, fast, served)
            app.router.add_post(EVENTS_PATH, gate.handle)
            cap_body(app, EVENTS_PATH, MAX_BODY)
        if self.installations is not None:
            oauth_routes(app, self.bolt, self.installations)
        app.cleanup_ctx.append(self._lifetime)

    async def _lifetime(self, _app: web.Application) -> AsyncIterator[None]:
        """Start-up: one HTTP connection pool for every Web API call (without it slack_sdk opens,
        and closes, a new connection per call); the OAuth tables; Socket Mode's connection."""
        self.client.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.client.timeout)
        )
        if self.installations is not None:
            await self.installations.create_tables()
        if self.mode == "socket":
            assert self.bolt is not None
            self.socket = AsyncSocketModeHandler(self.bolt, self.settings.slack_app_token)
            await self.socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack Socket Mode connected")
        yield
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
        await self.client.session.close()


def platform(settings: Settings) -> SlackPlatform:
    return SlackPlatform(settings)

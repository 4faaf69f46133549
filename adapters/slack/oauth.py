"""Installing to many workspaces (``SLACK_CLIENT_ID`` + ``SLACK_CLIENT_SECRET``).

Bolt's OAuth flow serves ``GET /slack/install`` (a page linking to Slack's authorize URL, with a
one-time ``state``) and ``GET /slack/oauth_redirect`` (exchanges the ``code`` at
``oauth.v2.access``, through the same Web API base as everything else, ``SLACK_API_URL``).
Installations and OAuth states are kept **in the project's database**, by slack_sdk's async
SQLAlchemy stores on the project's own async engine (tables ``slack_installations``,
``slack_bots``, ``slack_oauth_states``, created at start-up if missing).

Each request is authorised with the bot token stored for its workspace (Bolt's installation-store
``authorize``).  The adapter's shared client (identity look-ups, DMs, channel posts) takes that same
token for the request's work; outside a request (the outbox, reminders) it uses the most recently
installed workspace's bot token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiohttp import web
from aiohttp.web_response import StreamResponse
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.slack.manifest import BOT_SCOPES
from bot.settings import Settings

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_EXPIRY = 600  # seconds an install link stays valid

_BOT_TOKEN: ContextVar[str | None] = ContextVar("slack_bot_token", default=None)


class WorkspaceClient(AsyncWebClient):
    """A client without a fixed token: each call uses the current request's workspace bot token
    (bound by ``bind_workspace``), or else ``fallback()`` (the latest installation)."""

    def __init__(self, fallback: Callable[[], Awaitable[str | None]], **kwargs: Any) -> None:
        super().__init__(token=None, **kwargs)
        self.fallback = fallback

    async def api_call(
        self, api_method: str, *, headers: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncSlackResponse:
        if kwargs.get("auth") is None:  # oauth.v2.access authenticates with the client's id
            token = _BOT_TOKEN.get() or await self.fallback()
            if token:
                headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        return await super().api_call(api_method, headers=headers, **kwargs)


async def bind_workspace(context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]) -> Any:
    """Bolt middleware: this request's work uses its workspace's bot token."""
    _BOT_TOKEN.set(context.bot_token)
    return await next()


class Installations:
    """The installation and state stores on the project's engine."""

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        assert settings.slack_client_id is not None
        self.store = AsyncSQLAlchemyInstallationStore(
            client_id=settings.slack_client_id, engine=engine
        )
        self.states = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=STATE_EXPIRY, engine=engine)

    async def create_tables(self) -> None:
        await self.store.create_tables()  # type: ignore[no-untyped-call]
        await self.states.create_tables()  # type: ignore[no-untyped-call]

    async def latest_bot_token(self) -> str | None:
        bots = self.store.bots
        query = select(bots.c.bot_token).order_by(bots.c.installed_at.desc()).limit(1)
        async with self.store.engine.connect() as connection:
            return (await connection.execute(query)).scalar()

    def settings(self, settings: Settings) -> AsyncOAuthSettings:
        return AsyncOAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=list(BOT_SCOPES),
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            installation_store=self.store,
            installation_store_bot_only=True,
            state_store=self.states,
        )


def oauth_routes(app: web.Application, bolt: AsyncApp) -> None:
    """``GET /slack/install`` and ``GET /slack/oauth_redirect`` (Bolt's pages and redirects)."""
    flow = bolt.oauth_flow
    assert isinstance(flow, AsyncOAuthFlow)

    async def install(request: web.Request) -> StreamResponse:
        return await to_aiohttp_response(
            await flow.handle_installation(await to_bolt_request(request))
        )

    async def redirect(request: web.Request) -> StreamResponse:
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

    app.router.add_get(INSTALL_PATH, install)
    app.router.add_get(REDIRECT_PATH, redirect)

"""Many workspaces (OAuth): Bolt's install flow and installation store on the project's database,
and a shared client whose calls carry the bot token bound in this context.  With none bound a call
has no token and Slack refuses it, so no send ever borrows another workspace's token."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiohttp import web
from aiohttp.web_response import StreamResponse
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.sqlalchemy_utils import normalize_datetime_for_db
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.slack.allowlist import ServedInstallationStore, callbacks
from adapters.slack.app import PLATFORM
from adapters.slack.manifest import bot_scopes
from adapters.slack.pacing import PacedClient
from adapters.slack.tokens import BOT_TOKEN, bound
from bot.credentials import Sealer, reseal, seal_columns
from bot.identities import Identities
from bot.settings import Settings
from bot.tenants import Probe, Tenants

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_EXPIRY = 600  # seconds an install link stays valid
# install links not yet used that are kept at most: the oldest go first (an admin installs
# once; a flood of ``GET /slack/install`` must not grow the table without end)
MAX_STATES = 100
# install links issued a minute, per process: past it ``GET /slack/install`` answers 429 without
# touching the database, so a flood of it neither writes nor contends for SQLite's write lock
INSTALL_LINKS_PER_MINUTE = 30
TOO_MANY_INSTALLS = (
    "Too many install requests just now. Try again in {seconds} seconds "
    "(an administrator installs teampulse once)."
)

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True)
class Asker:
    """Who made the request being handled, and from which workspace."""

    team_id: str
    user_id: str | None


_ASKER: ContextVar[Asker | None] = ContextVar("slack_asker", default=None)


class WorkspaceClient(PacedClient):
    """A client without a fixed token: each call uses the bot token bound in this context (the
    request's workspace, or the one ``bound`` around a send); a call that brings its own
    credentials (``oauth.v2.access``'s client id, an explicit ``token=``) keeps them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(token=None, **kwargs)

    async def api_call(
        self, api_method: str, *, headers: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncSlackResponse:
        token = BOT_TOKEN.get()
        if token and kwargs.get("auth") is None and not _has_token(kwargs):
            headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        return await super().api_call(api_method, headers=headers, **kwargs)


def _has_token(kwargs: dict[str, Any]) -> bool:
    return any(
        isinstance(kwargs.get(part), dict) and "token" in kwargs[part]
        for part in ("params", "json", "data")
    )


async def bind_workspace(context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]) -> Any:
    """Bolt middleware: this request's work uses its workspace's bot token, and who asked from
    which workspace is known (``Workspaces.asker_seen``)."""
    BOT_TOKEN.set(context.bot_token)
    _ASKER.set(Asker(context.team_id, context.user_id) if context.team_id else None)
    return await next()


async def revoke(client: AsyncWebClient, token: str) -> None:
    """``auth.revoke`` for ``token``, sent with it (as a bearer token, not in the URL)."""
    with bound(token):
        await client.auth_revoke()


class Installations:
    """The installation and state stores on the project's engine (an install from a workspace
    not in ``TEAMPULSE_SLACK_WORKSPACES`` is refused, not stored, and its token revoked through
    ``client``).  Tokens are sealed at rest (``storage/sealed.py``): the store reads and writes
    them plain, the database holds them sealed."""

    def __init__(
        self, settings: Settings, engine: AsyncEngine, client: AsyncWebClient, sealer: Sealer
    ) -> None:
        assert settings.slack_client_id is not None
        self.store = ServedInstallationStore(
            settings.slack_client_id, engine, settings.slack_workspaces, partial(revoke, client)
        )
        self.sealer = sealer
        seal_columns([self.store.bots, self.store.installations], sealer)
        self.states = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=STATE_EXPIRY, engine=engine)

    async def create_tables(self) -> None:
        """The tables, then any token an older version stored plain is sealed (``reseal``)."""
        await self.store.create_tables()  # type: ignore[no-untyped-call]
        await self.states.create_tables()  # type: ignore[no-untyped-call]
        done = await reseal(self.store.engine, self.sealer)
        if done.sealed:
            log.warning("Sealed %d Slack credentials stored in plain text", done.sealed)

    async def prune_states(self) -> int:
        """Delete install links that expired unused, and the oldest beyond ``MAX_STATES - 1``,
        room for the one being issued (Slack's store deletes a link only when it is used).
        Returns how many went."""
        table = self.states.oauth_states
        now = normalize_datetime_for_db(datetime.now(UTC))
        async with self.states.engine.begin() as connection:
            expired = await connection.execute(table.delete().where(table.c.expire_at <= now))
            newest_dropped = await connection.execute(
                select(table.c.id).order_by(table.c.id.desc()).offset(MAX_STATES - 1).limit(1)
            )
            cut = newest_dropped.scalar()
            crowded = 0
            if cut is not None:
                crowded = (
                    await connection.execute(table.delete().where(table.c.id <= cut))
                ).rowcount
        return int(expired.rowcount) + int(crowded)

    async def bot_tokens(self, session: AsyncSession) -> dict[str, str]:
        """Each installed workspace's bot token (its latest install's), oldest workspace first;
        only the workspaces served (an install kept from before ``TEAMPULSE_SLACK_WORKSPACES``
        was narrowed is never sent to).  Read in ``session``, the caller's unit of work
        (``TeamPulse.session``)."""
        bots = self.store.bots
        query = (
            select(bots.c.team_id, bots.c.bot_token)
            .where(
                bots.c.client_id == self.store.client_id,
                bots.c.team_id.in_(sorted(self.store.served)),
                bots.c.bot_token.is_not(None),
            )
            .order_by(bots.c.installed_at, bots.c.id)
        )
        connection = await session.connection()
        tokens: dict[str, str] = {}
        for team_id, token in (await connection.execute(query)).all():
            tokens[str(team_id)] = str(token)  # a reinstall's token, in the first install's place
        return tokens

    async def uninstalled(self, context: AsyncBoltContext) -> None:
        """``app_uninstalled``: the workspace's rows go (as Bolt's own listener does), so nothing
        more is sent there."""
        await self.store.async_delete_all(
            enterprise_id=context.enterprise_id, team_id=context.team_id
        )
        log.info("Slack app uninstalled; the workspace's installation is removed")

    def settings(self, settings: Settings) -> AsyncOAuthSettings:
        return AsyncOAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=list(bot_scopes()),
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            installation_store=self.store,
            installation_store_bot_only=True,
            state_store=self.states,
            callback_options=callbacks(),
        )


class Workspaces(Tenants):
    """Which installed workspace a send about one person or one channel goes to (``locate``)."""

    def __init__(
        self, installations: Installations, sessions: Sessions, identities: Identities
    ) -> None:
        super().__init__(self.tokens, bound, SlackApiError, identities, PLATFORM)
        self.installations = installations
        self.sessions = sessions

    @asynccontextmanager
    async def in_channel(self, channel: str, sees: Probe[Any]) -> AsyncIterator[None]:
        """Calls inside go with the bot token of the channel's workspace."""
        with bound((await self.of_channel(channel, sees)).credential):
            yield

    async def asker_seen(self, user_id: str, email: str) -> None:
        """When ``user_id`` made the request being handled, they are in its workspace."""
        asker = _ASKER.get()
        if asker is not None and asker.user_id == user_id:
            await self.asked_from(asker.team_id, user_id, email)

    async def tokens(self) -> dict[str, str]:
        """Installed workspaces' bot tokens: the request's workspace first, then by install."""
        async with self.sessions() as session:
            tokens = await self.installations.bot_tokens(session)
        asker = _ASKER.get()
        if asker is not None and asker.team_id in tokens:
            tokens = {asker.team_id: tokens[asker.team_id], **tokens}
        return tokens


def forget_uninstalls(bolt: AsyncApp, installations: Installations) -> None:
    """An uninstall or a revoked bot token removes the workspace's rows (Bolt's listener for
    ``tokens_revoked``; ours, which also logs, for ``app_uninstalled``)."""
    bolt.event("app_uninstalled")(installations.uninstalled)
    bolt.event("tokens_revoked")(bolt.default_tokens_revoked_event_listener())


def oauth_routes(app: web.Application, bolt: AsyncApp, installations: Installations) -> None:
    """``GET /slack/install`` and ``GET /slack/oauth_redirect`` (Bolt's pages and redirects).
    Each install start first prunes the links that expired unused (``prune_states``); past
    ``INSTALL_LINKS_PER_MINUTE`` it is refused with 429 instead."""
    flow = bolt.oauth_flow
    assert isinstance(flow, AsyncOAuthFlow)
    links = MovingWindowRateLimiter(MemoryStorage())
    per_minute = RateLimitItemPerMinute(INSTALL_LINKS_PER_MINUTE)

    async def install(request: web.Request) -> StreamResponse:
        if not await links.hit(per_minute, "slack-install"):
            window = await links.get_window_stats(per_minute, "slack-install")
            seconds = max(1, math.ceil(window.reset_time - time.time()))
            return web.Response(
                status=429,
                text=TOO_MANY_INSTALLS.format(seconds=seconds),
                headers={"Retry-After": str(seconds)},
            )
        await installations.prune_states()
        return await to_aiohttp_response(
            await flow.handle_installation(await to_bolt_request(request))
        )

    async def redirect(request: web.Request) -> StreamResponse:
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

    app.router.add_get(INSTALL_PATH, install)
    app.router.add_get(REDIRECT_PATH, redirect)

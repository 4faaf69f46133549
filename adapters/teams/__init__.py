"""The Microsoft Teams platform: the Bot Framework's ``POST /api/messages`` on the project's
aiohttp server, and proactive sends to the Bot Connector, both on one ``CloudAdapter``
(``adapters/teams/sdk/`` is the one package that knows botbuilder)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from adapters.teams.messenger import TeamsMessenger
from adapters.teams.pacing import Paced
from adapters.teams.references import PLATFORM
from adapters.teams.sdk import BotFramework, OnDemandConnector
from adapters.teams.turns import TeamsBot
from bot.server import SERVICE, cap_body
from bot.settings import Settings

if TYPE_CHECKING:
    from adapters.teams.sdk.inbound import Turn

MESSAGES_PATH = "/api/messages"
# Teams refuses messages over about 40 KB (413 MessageSizeTooBig); an inbound activity is a
# message or a card's submitted values, with its envelope (and a message's HTML can be several
# times its text)
MAX_BODY = 256 * 1024


class TeamsPlatform:
    name = PLATFORM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bot: TeamsBot | None = None
        # the SDK, loaded when first needed; the proactive side shares the inbound endpoint's
        # CloudAdapter (its credentials and tokens)
        self.framework = BotFramework(settings, self._on_turn)
        self.outbound = Paced(OnDemandConnector(self.framework), settings.teams_tenant_rps)
        self.messenger = TeamsMessenger(self.outbound, settings.teams_tenants)

    def install(self, app: web.Application) -> None:
        service = app[SERVICE]
        self.bot = TeamsBot(service, self.messenger)
        self.messenger.bind(service)
        app.router.add_post(MESSAGES_PATH, self.framework.handle)
        self.framework.install(app)
        cap_body(app, MESSAGES_PATH, MAX_BODY)

    async def _on_turn(self, turn: Turn) -> None:
        assert self.bot is not None, "installed before the route is served"
        await self.bot.on_turn(turn)


def platform(settings: Settings) -> TeamsPlatform:
    return TeamsPlatform(settings)

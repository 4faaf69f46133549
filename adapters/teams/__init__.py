"""The Microsoft Teams platform: the Bot Framework's ``POST /api/messages`` on the project's
aiohttp server (``adapters/teams/sdk/`` is the one package that knows botbuilder)."""

from __future__ import annotations

from aiohttp import web

from adapters.teams.messenger import TeamsMessenger
from adapters.teams.references import PLATFORM
from adapters.teams.sdk import BotFrameworkEndpoint
from adapters.teams.turns import TeamsBot
from bot.server import SERVICE
from bot.settings import Settings

MESSAGES_PATH = "/api/messages"


class TeamsPlatform:
    name = PLATFORM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.messenger = TeamsMessenger()

    def install(self, app: web.Application) -> None:
        bot = TeamsBot(app[SERVICE], self.messenger)
        endpoint = BotFrameworkEndpoint(self.settings, bot.on_turn)
        app.router.add_post(MESSAGES_PATH, endpoint.handle)


def platform(settings: Settings) -> TeamsPlatform:
    return TeamsPlatform(settings)

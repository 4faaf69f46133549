"""The local platform: a web chat and a console, for trying teampulse without Slack or Teams."""

from __future__ import annotations

from aiohttp import web

from adapters.local.messenger import LocalMessenger
from adapters.local.webchat import installer
from bot.settings import Settings


class LocalPlatform:
    name = "local"

    def __init__(self) -> None:
        self.messenger = LocalMessenger()

    def install(self, app: web.Application) -> None:
        installer(self.messenger)(app)


def platform(_settings: Settings) -> LocalPlatform:
    return LocalPlatform()

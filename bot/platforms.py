"""Which platforms run in this process.

The core never imports an adapter: adapters are found by module name here, at start-up, and each
exposes ``platform(settings) -> Platform``.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from aiohttp import web

from bot.ports import Messenger
from bot.settings import Settings
from bot.views import View
from storage.models import Person, Team


class Platform(Protocol):
    name: str
    messenger: Messenger

    def install(self, app: web.Application) -> None:
        """Add the platform's routes (and start-up hooks) to the server."""


def adapter_entry(module: str, name: str) -> Any:
    """An adapter's entry point, found by name so the core has no import edge to adapters."""
    return getattr(importlib.import_module(module), name)


def enabled_platforms(settings: Settings) -> list[Platform]:
    modules = []
    if settings.local_mode:
        modules.append("adapters.local")
    loaded: list[Platform] = []
    for module in modules:
        loaded.append(adapter_entry(module, "platform")(settings))
    return loaded


class FirstMessenger:
    """Sends through the first platform.  With Slack and Teams this becomes a router by identity."""

    def __init__(self, platforms: list[Platform]) -> None:
        self.platforms = platforms

    async def send_direct(self, person: Person, view: View) -> None:
        if not self.platforms:
            raise RuntimeError("no platform is connected")
        await self.platforms[0].messenger.send_direct(person, view)

    async def post_to_team(self, team: Team, view: View) -> None:
        for platform in self.platforms[:1]:
            await platform.messenger.post_to_team(team, view)

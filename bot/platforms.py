"""Which platforms run in this process.

The core never imports an adapter: adapters are found by module name here, at start-up, and each
exposes ``platform(settings) -> Platform``.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from aiohttp import web

from bot.ports import Messenger, Recipient, TeamTarget, Unreachable
from bot.settings import Settings
from bot.views import View


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
    if settings.slack_configured:
        modules.append("adapters.slack")
    if settings.teams_configured:
        modules.append("adapters.teams")
    loaded: list[Platform] = []
    for module in modules:
        loaded.append(adapter_entry(module, "platform")(settings))
    return loaded


class IdentityRouter:
    """Sends to a person through the platform where they have an identity.

    Platforms that already know the person go first, then platforms that may find them (Slack
    looks people up by email), then platforms that reach everyone (the local web chat).  A
    platform that cannot reach the person raises ``Unreachable`` and the next one is tried; any
    other error propagates so the outbox retries later.  Team posts go to every platform (each
    posts where the team has a channel there).
    """

    reaches_everyone = False  # (each of its platforms answers for itself in ``_order``)

    def __init__(self, platforms: list[Platform]) -> None:
        self.platforms = platforms

    async def _order(self, recipient: Recipient) -> list[Platform]:
        if len(self.platforms) == 1:  # nothing to order: no need to ask who knows the person
            return list(self.platforms)
        known: list[Platform] = []
        unknown: list[Platform] = []
        everyone: list[Platform] = []
        for platform in self.platforms:
            if await platform.messenger.knows(recipient):
                known.append(platform)
            elif platform.messenger.reaches_everyone:
                everyone.append(platform)
            else:
                unknown.append(platform)
        return known + unknown + everyone

    async def knows(self, recipient: Recipient) -> bool:
        return any([await p.messenger.knows(recipient) for p in self.platforms])

    async def send_direct(
        self, recipient: Recipient, view: View, *, key: str | None = None
    ) -> None:
        if not self.platforms:
            raise RuntimeError("no platform is connected")
        for platform in await self._order(recipient):
            try:
                await platform.messenger.send_direct(recipient, view, key=key)
            except Unreachable:
                continue
            return
        raise Unreachable("no connected platform has an account for this person")

    async def delivered(self, recipient: Recipient, key: str, *, round_id: int) -> bool | None:
        """The answer of the first platform that knows the person; else of those that may find
        them (a send can die after posting, before the platform stored who they are): yes if one
        finds the delivery, no if all are sure it is not there, ``None`` when one can't tell."""
        order = await self._order(recipient)
        if len(self.platforms) > 1 and await order[0].messenger.knows(recipient):
            return await order[0].messenger.delivered(recipient, key, round_id=round_id)
        answers = [
            await p.messenger.delivered(recipient, key, round_id=round_id)
            for p in order
            if not p.messenger.reaches_everyone
        ]
        if True in answers:
            return True
        return None if None in answers or not answers else False

    async def post_to_team(self, team: TeamTarget, view: View) -> None:
        for platform in self.platforms:
            await platform.messenger.post_to_team(team, view)

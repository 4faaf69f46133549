"""Per-person rate limits on kudos and commands (``TEAMPULSE_KUDOS_PER_HOUR``,
``TEAMPULSE_COMMANDS_PER_MINUTE``; docs/security.md, "Rate limits").

Moving windows (the ``limits`` library), held in this process's memory: nothing about who sent
what when is written anywhere, and each server process (``TEAMPULSE_WORKERS``, replicas) counts on
its own, so a person spread over N processes may send up to N times the limit.  Pulse answers are
never limited by person: only kudos and commands, whose counts say nothing about any answer.
A well-formed kudos counts as it arrives, before it is given (so kudos sent at once can't all slip
under the limit; a mistyped one, without a value say, uses none of the allowance); a command counts
as it arrives, whatever it is.

``limits`` imports every storage it supports (Redis, MongoDB, memcached wrappers): about 30
modules a server that has only started does not need, so it is imported by the first command or
kudos, in a thread (``surveys/lazy.py``; docs/performance.md, "Start-up and footprint").
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.settings import Settings
from bot.views import TextReply
from surveys import lazy

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.strategies import MovingWindowRateLimiter

LIMITS = "limits.aio.strategies"  # (imports limits and its storages)


@dataclass(frozen=True)
class Windows:
    limiter: MovingWindowRateLimiter
    kudos: RateLimitItem
    commands: RateLimitItem


class PersonLimits:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._windows: Windows | None = None

    async def windows(self) -> Windows:
        """The limiter and both limits, made the first time (``limits`` imported in a thread)."""
        if self._windows is None:
            await lazy.preload(LIMITS)
            if self._windows is None:  # (no await from here on: made once)
                from limits import RateLimitItemPerHour, RateLimitItemPerMinute
                from limits.aio.storage import MemoryStorage
                from limits.aio.strategies import MovingWindowRateLimiter

                self._windows = Windows(
                    MovingWindowRateLimiter(MemoryStorage()),
                    RateLimitItemPerHour(self.settings.kudos_per_hour),
                    RateLimitItemPerMinute(self.settings.commands_per_minute),
                )
        return self._windows

    async def command(self, email: str) -> TextReply | None:
        """Count one command; a friendly refusal when the person is over their minute's share."""
        windows = await self.windows()
        if await windows.limiter.hit(windows.commands, "command", _key(email)):
            return None
        wait = await self._wait(windows.commands, "command", email)
        seconds = max(1, math.ceil(wait))
        return TextReply(
            "You've sent a lot of commands in the last minute — try again in "
            f"{seconds} second{'s' if seconds != 1 else ''}.",
            kind="error",
        )

    async def kudos(self, email: str) -> TextReply | None:
        """Count one kudos about to be given; a friendly refusal (nothing counted) when the
        person has given their hour's share."""
        windows = await self.windows()
        if await windows.limiter.hit(windows.kudos, "kudos", _key(email)):
            return None
        minutes = max(1, math.ceil(await self._wait(windows.kudos, "kudos", email) / 60))
        return TextReply(
            "You've sent a lot of kudos this hour — try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}. Thank you for celebrating "
            "your colleagues!",
            kind="error",
        )

    async def _wait(self, item: RateLimitItem, kind: str, email: str) -> float:
        limiter = (await self.windows()).limiter
        stats = await limiter.get_window_stats(item, kind, _key(email))
        return stats.reset_time - time.time()


def _key(email: str) -> str:
    return email.strip().casefold()

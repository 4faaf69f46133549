"""slack-bolt, loaded when Slack first needs it rather than when the server starts.

slack-bolt with the listeners and slack_sdk's OAuth modules is about 200 modules that a server
which has only started does not need (docs/performance.md, "Start-up and footprint").
``OnDemandBolt`` is the one place that loads them (``adapters/slack/bolt.py``): in a worker thread
(``bot.lazy.preload``), so neither the event loop nor the requests in flight wait on the import,
started once the server has answered its first request (a health check, usually); a Slack
request that needs Bolt before then waits for it (a few tenths of a second, well within Slack's
3 s), and nobody else does.  Socket Mode and OAuth load it at start-up (``now``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from bot import lazy
from bot.after_start import AfterFirstResponse

if TYPE_CHECKING:
    from adapters.slack.bolt import BoltSide


BOLT = "adapters.slack.bolt"  # (imports slack_bolt and every module that uses it)


class OnDemandBolt:
    """Bolt's side of the adapter, made by ``build`` (which may import ``BOLT``'s names) the
    first time it is needed."""

    def __init__(self, build: Callable[[], BoltSide]) -> None:
        self._build = build
        self._side: BoltSide | None = None

    async def side(self) -> BoltSide:
        if self._side is None:
            await lazy.preload(BOLT)  # (in a thread; no wait once loaded)
            if self._side is None:  # (no await from here on: made once)
                self._side = self._build()
        return self._side

    def now(self) -> BoltSide:
        """Loaded and made here, at start-up (Socket Mode connects with it, OAuth's pages use
        it): the import blocks, as any import at start-up does."""
        if self._side is None:
            lazy.load(BOLT)
            self._side = self._build()
        return self._side

    @property
    def loaded(self) -> bool:
        return self._side is not None

    def install(self, app: web.Application) -> None:
        """Load Bolt in the background once ``app`` has answered its first request."""
        AfterFirstResponse(self.side, "Slack: slack-bolt could not be loaded").install(app)

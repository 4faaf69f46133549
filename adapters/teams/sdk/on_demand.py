"""The Bot Framework SDK, loaded when Teams first needs it rather than when the server starts.

botbuilder with msrest, MSAL and azure-core takes about 0.25 s of CPU and 25 MB to import, a
quarter of a Slack + Teams server's start-up, and a server that has only started needs none of it
(docs/performance.md, "Start-up and footprint").  ``BotFramework`` is the one place that loads it:
in a worker thread (``bot.lazy.preload``), so that neither the event loop nor the requests in
flight wait on the import; it starts once the server has answered its first request (a health
check, usually), so the first Teams message or proactive send finds it loaded already.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from adapters.teams.sdk.plain import Json, PageRunner, just_fetch
from bot import lazy
from bot.after_start import AfterFirstResponse
from bot.settings import Settings

if TYPE_CHECKING:
    from adapters.teams.sdk.inbound import BotFrameworkEndpoint, Handler
    from adapters.teams.sdk.outbound import Connector


SDK = "adapters.teams.sdk.outbound"  # (imports inbound and auth: every botbuilder module used)


class BotFramework:
    """``POST /api/messages`` and the proactive ``Connector``, both on one ``CloudAdapter`` made
    the first time either is needed."""

    def __init__(self, settings: Settings, handler: Handler) -> None:
        self.settings = settings
        self.handler = handler
        self._endpoint: BotFrameworkEndpoint | None = None
        self._connector: Connector | None = None

    async def endpoint(self) -> BotFrameworkEndpoint:
        await lazy.preload(SDK)  # (no wait once loaded)
        if self._endpoint is None:  # (no await from here on: made once)
            from adapters.teams.sdk.inbound import BotFrameworkEndpoint
            from adapters.teams.sdk.outbound import Connector

            self._endpoint = BotFrameworkEndpoint(self.settings, self.handler)
            self._connector = Connector.of(self._endpoint)
        return self._endpoint

    async def connector(self) -> Connector:
        await self.endpoint()
        assert self._connector is not None, "made with the endpoint"
        return self._connector

    async def handle(self, request: web.Request) -> web.Response:
        return await (await self.endpoint()).handle(request)

    def install(self, app: web.Application) -> None:
        """Load the SDK in the background once ``app`` has answered its first request."""
        failure = "Teams: the Bot Framework SDK could not be loaded"
        AfterFirstResponse(self.endpoint, failure).install(app)


class OnDemandConnector:
    """``Connector``'s calls, each on the connector ``framework`` makes when first needed."""

    def __init__(self, framework: BotFramework) -> None:
        self.framework = framework

    async def send(self, reference: Json, activity: Json) -> str:
        return await (await self.framework.connector()).send(reference, activity)

    async def update(self, reference: Json, message_id: str, activity: Json) -> None:
        await (await self.framework.connector()).update(reference, message_id, activity)

    async def open_personal_chat(self, service_url: str, tenant: str, account: str) -> Json:
        connector = await self.framework.connector()
        return await connector.open_personal_chat(service_url, tenant, account)

    async def roster(
        self, reference: Json, team: str | None = None, *, each_page: PageRunner = just_fetch
    ) -> list[Json]:
        connector = await self.framework.connector()
        return await connector.roster(reference, team, each_page=each_page)

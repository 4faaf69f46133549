"""What the rest of the Teams adapter sees of the Bot Connector's proactive side: plain JSON, a
roster page, and the calls (``Outbound``), with no SDK type, so that importing them loads no SDK
(``adapters/teams/sdk/on_demand.py``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

Json = dict[str, Any]


@dataclass(frozen=True)
class RosterPage:
    """Members of a team, as plain JSON, and the token of the next page (None: the last)."""

    members: list[Json]
    token: str | None


PageFetch = Callable[[], Awaitable[RosterPage]]
PageRunner = Callable[[PageFetch], Awaitable[RosterPage]]


async def just_fetch(fetch: PageFetch) -> RosterPage:
    return await fetch()


class Outbound(Protocol):
    """Proactive sends, message updates, 1:1 chats and rosters (``outbound.Connector``)."""

    async def send(self, reference: Json, activity: Json) -> str: ...

    async def update(self, reference: Json, message_id: str, activity: Json) -> None: ...

    async def open_personal_chat(self, service_url: str, tenant: str, account: str) -> Json: ...

    async def roster(
        self, reference: Json, team: str | None = None, *, each_page: PageRunner = just_fetch
    ) -> list[Json]: ...

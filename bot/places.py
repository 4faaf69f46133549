"""Where a platform's bot is (``storage.models.PlatformPlace``): the adapters' store for places,
never people.  Teams keeps, for example, each tenant's and each channel's service URL and
conversation reference here, so a kudos post reaches a team's channel after a restart, on any
replica.  Nothing is cached here, so every replica reads what another wrote or forgot; an adapter
that writes on every request keeps its own note of what it stored last."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.identities import json_object
from storage.models import PlatformPlace

log = logging.getLogger(__name__)

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class Places:
    def __init__(self, session: Sessions) -> None:
        self.session = session

    async def get(self, platform: str, key: str) -> dict[str, Any]:
        """What is kept for the place (empty when nothing is)."""
        async with self.session() as session:
            row = await session.get(PlatformPlace, (platform, key))
        return json_object(row.data) if row is not None else {}

    async def put(self, platform: str, key: str, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into the place's data (the place is created if need be; a key set
        to None is dropped)."""
        now = datetime.now(UTC)
        try:
            async with self.session() as session:
                row = await session.get(PlatformPlace, (platform, key))
                merged = {**(json_object(row.data) if row is not None else {}), **changes}
                text = _dump({name: value for name, value in merged.items() if value is not None})
                if row is None:
                    row = PlatformPlace(platform=platform, key=key, data=text, updated_at=now)
                else:
                    row.data, row.updated_at = text, now
                session.add(row)
        except IntegrityError:  # another replica created it at the same moment: theirs is as good
            log.info("%s place already stored", platform)

    async def forget(self, platform: str, key: str) -> None:
        async with self.session() as session:
            same = (col(PlatformPlace.platform) == platform) & (col(PlatformPlace.key) == key)
            await session.exec(delete(PlatformPlace).where(same))

    async def keys(self, platform: str, prefix: str) -> list[str]:
        """The keys of a platform's places that start with ``prefix`` (``team:``, say)."""
        async with self.session() as session:
            query = select(PlatformPlace.key).where(
                col(PlatformPlace.platform) == platform,
                col(PlatformPlace.key).startswith(prefix, autoescape=True),
            )
            return sorted((await session.exec(query)).all())


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True)

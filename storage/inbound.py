"""Platform events already taken in, kept in the database so that a redelivered event is handled
once across every replica sharing it (platform-neutral: Slack's ``event_id`` today; a Bot
Framework activity id could use the same table).

"First time" is decided by the database itself: one ``INSERT … ON CONFLICT DO NOTHING`` on the
primary key (platform, event id), so of two replicas given the same event at the same moment
exactly one inserts the row.  Platforms retry within minutes (Slack: at once, after 1 minute, after
5), so rows older than ``KEEP`` are pruned, at most once per ``PRUNE_EVERY`` in each process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, delete

from storage.engine import Database, on_postgresql
from storage.models import InboundEvent

KEEP = timedelta(hours=1)
PRUNE_EVERY = timedelta(minutes=10)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class InboundEvents:
    def __init__(
        self,
        db: Database,
        *,
        keep: timedelta = KEEP,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.db = db
        self.keep = keep
        self.clock = clock
        self._pruned_at: datetime | None = None

    async def first_time(self, platform: str, event_id: str) -> bool:
        """Record the event; True only for its first delivery, to whichever replica."""
        now = self.clock()
        async with self.db.session() as session:
            dialect = postgresql if on_postgresql(session) else sqlite
            insert = dialect.insert(InboundEvent).values(
                platform=platform, event_id=event_id, received_at=now
            )
            result = await session.exec(insert.on_conflict_do_nothing())
            if self._prune_due(now):
                old = col(InboundEvent.received_at) < now - self.keep
                await session.exec(delete(InboundEvent).where(old))
            await session.commit()
        return int(result.rowcount) == 1

    async def forget(self, platform: str, event_id: str) -> None:
        """The event's handling failed: its redelivery is handled again."""
        async with self.db.session() as session:
            same = (col(InboundEvent.platform) == platform) & (
                col(InboundEvent.event_id) == event_id
            )
            await session.exec(delete(InboundEvent).where(same))
            await session.commit()

    def _prune_due(self, now: datetime) -> bool:
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return False
        self._pruned_at = now
        return True

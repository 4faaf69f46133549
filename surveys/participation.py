"""Who has answered a round, recorded so that the database's own log cannot tell whose answer is
whose.

The threat: someone with a copy of every file of the database taken at any moment (SQLite's
``-wal``, PostgreSQL's ``pg_wal`` and its archive), the logs and ``TEAMPULSE_SECRET``.  With the
secret, HMAC(secret, round, person) can be worked out for everyone invited, so every digest in the
participation record names a person; and the log keeps transactions in commit order.  Were a
person's digest written in the answer's own transaction (or the one next to it, at low load), the
log would pair each answer with its author.

So an answer's transaction writes answer rows only, and is committed before the receipt.  Who
answered is held in this process's memory (``Ledger``), per round, and written to the round's
``Participation`` row later, in its own transactions, in batches (flushes):

* when a round's pending digests reach ``2k`` (k = ``TEAMPULSE_MIN_GROUP``), the oldest
  ``pending - k`` of them are flushed (at least k), and k stay pending;
* when the round closes (here, or noticed closed by the periodic check), all of its pending
  digests are flushed; on a graceful stop, a round's pending digests are flushed when the round is
  closed or they are at least k, else they are dropped (see the crash bound below).

The argument.  Take any answer A of a round with R respondents.  A's author's digest is pending
when A commits and is flushed only after it.  Every flush committed after A either is a
threshold flush, which holds at least k digests, or is a closing flush.  If any process made a
threshold flush of the round, that process kept k pending, so its closing flush holds at least k.
If no process ever did, the closing flushes (all after every answer) hold all R respondents.  So
the people whose digests appear in flushes committed after A number at least min(k, R), and
nothing committed at or before A names anyone: the best an attacker can say from the order of
transactions is "one of those people", which the finished round's rows already say.  With one
process, the same holds even for an attacker who knows which flush holds the author: each flush
holds at least min(k, R) digests (with several, a process's closing flush may hold fewer, and the
bound is the one above).

Cross-process exclusivity ("already answered" while a digest is pending in another process) is
the job of ``storage.claims`` (PostgreSQL advisory locks, which live in shared memory and leave no
trace in any file).  The honest bound: if a process stops while a round is open, the (up to
2k - 1) people whose digests it held pending may answer that round once more, and their streak
may miss it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import bindparam, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Participation, PulseRound
from surveys.anonymity import format_digests, parse_digests

Key = tuple[int, str]  # (round id, participation digest)
# (round id, person id) pairs -> those of them that have answered (flushed or pending anywhere)
Answered = Callable[[AsyncSession, Sequence[tuple[int, int]]], Awaitable[set[tuple[int, int]]]]


class Gate(Protocol):
    """Admits first answers: ``admit`` reserves each key it accepts, ``settle`` ends the
    reservation once the answers' transaction has committed (or failed)."""

    async def admit(self, session: AsyncSession, keys: Sequence[Key]) -> list[bool]: ...

    async def settle(self, keys: Sequence[Key], committed: bool) -> None: ...


@dataclass
class _Round:
    pending: list[str] = field(default_factory=list)  # answers committed, oldest first
    reserved: set[str] = field(default_factory=set)  # answers being committed


class Ledger:
    """This process's pending digests, per round (pure bookkeeping: no I/O)."""

    def __init__(self, min_group: int) -> None:
        self.k = min_group
        self._rounds: dict[int, _Round] = {}

    def holds(self, round_id: int, digest: str) -> bool:
        found = self._rounds.get(round_id)
        return found is not None and (digest in found.reserved or digest in found.pending)

    def reserve(self, keys: Iterable[Key]) -> None:
        for round_id, digest in keys:
            self._rounds.setdefault(round_id, _Round()).reserved.add(digest)

    def settle(self, keys: Iterable[Key], committed: bool) -> None:
        for round_id, digest in keys:
            found = self._rounds.setdefault(round_id, _Round())
            found.reserved.discard(digest)
            if committed and digest not in found.pending:
                found.pending.append(digest)
            self._forget_if_empty(round_id)

    def due(self) -> dict[int, list[str]]:
        """Threshold flushes: for each round with at least 2k pending, its oldest pending - k."""
        return {
            round_id: found.pending[: len(found.pending) - self.k]
            for round_id, found in self._rounds.items()
            if len(found.pending) >= 2 * self.k
        }

    def everything(self, round_ids: Iterable[int]) -> dict[int, list[str]]:
        """Closing flushes: every pending digest of these rounds."""
        return {
            round_id: list(self._rounds[round_id].pending)
            for round_id in round_ids
            if round_id in self._rounds and self._rounds[round_id].pending
        }

    def at_stop(self, closed: set[int]) -> dict[int, list[str]]:
        """What a graceful stop may flush: closed rounds' pending, and open rounds' when at least
        k (never fewer than k people for a round still open)."""
        return {
            round_id: list(found.pending)
            for round_id, found in self._rounds.items()
            if found.pending and (round_id in closed or len(found.pending) >= self.k)
        }

    def flushed(self, batches: dict[int, list[str]]) -> None:
        """Forget digests once their flush has committed."""
        for round_id, digests in batches.items():
            found = self._rounds.get(round_id)
            if found is None:
                continue
            gone = set(digests)
            found.pending = [digest for digest in found.pending if digest not in gone]
            self._forget_if_empty(round_id)

    def rounds(self) -> set[int]:
        return set(self._rounds)

    def pending(self, round_id: int) -> list[str]:
        found = self._rounds.get(round_id)
        return list(found.pending) if found else []

    def _forget_if_empty(self, round_id: int) -> None:
        found = self._rounds.get(round_id)
        if found is not None and not found.pending and not found.reserved:
            del self._rounds[round_id]


# -- the participation rows ------------------------------------------------------------------
async def flushed_digests(session: AsyncSession, round_ids: Iterable[int]) -> dict[int, set[str]]:
    """The digests already written for these rounds."""
    wanted = set(round_ids)
    if not wanted:
        return {}
    query = select(Participation.round_id, Participation.digests).where(
        col(Participation.round_id).in_(wanted)
    )
    found = {round_id: parse_digests(text) for round_id, text in (await session.exec(query)).all()}
    return {round_id: found.get(round_id, set()) for round_id in wanted}


async def write_digests(session: AsyncSession, batches: dict[int, list[str]]) -> None:
    """Add a flush's digests to the rounds' sorted sets (rows locked, in round order, so two
    processes' flushes never wait for each other in a circle).  ``respondents`` is kept equal to
    the set's size; counts shown to people come from the answers themselves."""
    if not batches:
        return
    query = (
        select(Participation.round_id, Participation.digests)
        .where(col(Participation.round_id).in_(set(batches)))
        .order_by(col(Participation.round_id))
        .with_for_update()
    )
    stored = {round_id: parse_digests(text) for round_id, text in (await session.exec(query)).all()}
    table = Participation.__table__  # type: ignore[attr-defined]
    statement = (
        update(table)
        .where(table.c.round_id == bindparam("key"))
        .values(digests=bindparam("text"), respondents=bindparam("count"))
    )
    rows = []
    for round_id, digests in sorted(batches.items()):
        merged = stored.get(round_id, set()) | set(digests)
        rows.append({"key": round_id, "text": format_digests(merged), "count": len(merged)})
    connection = await session.connection()
    await connection.execute(statement, rows)


async def closed_rounds(session: AsyncSession, round_ids: Iterable[int]) -> set[int]:
    wanted = set(round_ids)
    if not wanted:
        return set()
    query = select(PulseRound.id).where(
        col(PulseRound.id).in_(wanted), col(PulseRound.closed).is_(True)
    )
    return {round_id for round_id in (await session.exec(query)).all() if round_id is not None}

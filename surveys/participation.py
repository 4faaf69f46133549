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
  digests are flushed, if they are at least k or the whole round (every card of it): a smaller
  closing batch is dropped, never written (``closing_batches``);
* on a graceful stop, a closed round's pending digests are flushed as at its close, and an open
  round's are dropped (never written: a later answer in another process would otherwise be alone
  in the closing flush after them).

The argument.  Take any answer A of a round with R respondents.  A's author's digest is pending
when A commits and is flushed only after it.  Every flush committed after A either is a
threshold flush, which holds at least k digests, or is a closing flush.  If any process made a
threshold flush of the round, that process kept k pending, so its closing flush holds at least k.
If no process ever did, the closing flushes (all after every answer) hold all R respondents.  So
the people whose digests appear in flushes committed after A number at least min(k, R), and
nothing committed at or before A names anyone: the best an attacker can say from the order of
transactions is "one of those people", which the finished round's rows already say.  The same
holds for an attacker who can tell one process's answers and flushes apart from another's (by
timing: say, the only process after a restart): every batch written is at least k digests or the
whole round, so a process's few answers are never paired with its few digests.

Cross-process exclusivity ("already answered" while a digest is pending in another process) is
the job of ``storage.claims`` (PostgreSQL advisory locks, which live in shared memory and leave no
trace in any file).  The honest bound: if a process stops while a round is open, the people
whose digests it held pending (up to 2k - 1 between batches, more just after a large batch or
while its flushes fail) may answer that round once more, and their streak may miss it.

Such repeated answers must not count as more people (``Participation.unsure``).  Before a process
admits a batch of answers to a round it commits, alone, a reservation on the round's ``unsure``
count covering every digest it could hold pending for the round once that batch commits: ``2k``
before its first answer (up to 2k - 1 pending between flushes, since it flushes at 2k and keeps
k, and a one-card batch's new one), topped up before a batch that could hold more (a ward
answering at once: held plus the batch's cards; or threshold flushes that keep failing), so a
crash right after any batch's commit is covered.  Its closing flush of the round, once
committed, gives the reservation back; a graceful stop gives back all of it but the n digests it
drops; a crash gives back nothing.  If its claims connection dropped while it held claims
(another process may then have admitted a second answer from one of its pending people), it
never gives back the reservation of the rounds it held.  The cut counts a round's people as its
cards minus ``unsure`` (``surveys/rollup.py``): fewer than answered, never more.  These writes
are round-level counts at fixed moments (before a batch of answers, at the round's close, at a
stop): they carry no digest and say nothing about who answered; a top-up tells no more than the
size of the batch whose answers' transaction follows it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from sqlalchemy import Update, bindparam, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import on_postgresql
from storage.lists import any_of, distinct
from storage.models import Participation, PulseRound, Response
from surveys.anonymity import format_digests, parse_digests

Key = tuple[int, str]  # (round id, participation digest)
# (round id, person id) pairs -> those of them that have answered (flushed or pending anywhere)
Answered = Callable[[AsyncSession, Sequence[tuple[int, int]]], Awaitable[set[tuple[int, int]]]]


class Gate(Protocol):
    """Admits first answers: ``admit`` reserves each key it accepts, ``settle`` ends the
    reservation once the answers' transaction has committed (or failed).  ``in_doubt``: the
    failure was the ``COMMIT`` itself (a connection cut off in flight), so the answers may be
    stored although their people were told to try again, and a retry may store a second card."""

    async def admit(self, session: AsyncSession, keys: Sequence[Key]) -> list[bool]: ...

    async def settle(
        self, keys: Sequence[Key], committed: bool, in_doubt: bool = False
    ) -> None: ...


@dataclass
class _Round:
    pending: list[str] = field(default_factory=list)  # answers committed, oldest first
    reserved: set[str] = field(default_factory=set)  # answers being committed


class Ledger:
    """This process's pending digests, per round (pure bookkeeping: no I/O)."""

    def __init__(self, min_group: int) -> None:
        self.k = min_group
        self._rounds: dict[int, _Round] = {}
        # what this process has added to each round's ``unsure`` and not given back yet
        self._reservations: dict[int, int] = {}
        self._kept: set[int] = set()  # of those, the ones never to give back (claims were lost)

    @property
    def span(self) -> int:
        """The most digests a process holds pending for one round once a one-card batch has
        committed, while its flushes succeed: up to 2k - 1 before it (it flushes at 2k and keeps
        k), and the new one."""
        return 2 * self.k

    # -- reservations (``Participation.unsure``) -------------------------------------------
    def shortfall(self, cards: Iterable[int]) -> dict[int, int]:
        """What to add to each round's reservation before a batch with these cards (a round id
        each) may be admitted: enough that the reservation covers every digest this process
        could hold for the round once the batch commits, and at least ``span``.  A batch larger
        than the room left, or flushes that keep failing, need more than ``span``."""
        wanted = Counter(cards)
        more = {
            round_id: max(self.span, self._held(round_id) + count)
            - self._reservations.get(round_id, 0)
            for round_id, count in wanted.items()
        }
        return {round_id: amount for round_id, amount in more.items() if amount > 0}

    def reserved(self, amounts: dict[int, int]) -> None:
        """These additions to rounds' ``unsure`` have committed."""
        for round_id, amount in amounts.items():
            self._reservations[round_id] = self._reservations.get(round_id, 0) + amount

    def reservation(self, round_id: int) -> int:
        return self._reservations.get(round_id, 0)

    def keep(self, round_ids: Iterable[int]) -> None:
        """Never give back these rounds' reservations: someone may have answered them twice."""
        self._kept |= set(round_ids) & set(self._reservations)

    def give_back(self, round_ids: Iterable[int], closed: set[int]) -> dict[int, int]:
        """What to subtract from ``unsure`` for these rounds: a closed round's whole reservation
        (its pending is written), an open one's less the digests dropped with it."""
        wanted = set(round_ids) - self._kept
        return {
            round_id: amount if round_id in closed else max(0, amount - self._held(round_id))
            for round_id, amount in self._reservations.items()
            if round_id in wanted
        }

    def forget(self, round_ids: Iterable[int]) -> None:
        """The reservations of these rounds are settled (given back, or kept for good)."""
        for round_id in round_ids:
            self._reservations.pop(round_id, None)
        self._kept -= set(round_ids)

    def _held(self, round_id: int) -> int:
        found = self._rounds.get(round_id)
        return len(found.pending) + len(found.reserved) if found else 0

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
        """What a graceful stop may flush: closed rounds' pending only.  An open round's are
        dropped, never written: a later answer in another process could otherwise be the only
        digest of that round's closing flush."""
        return self.everything(closed)

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
        """The rounds this process holds digests or a reservation for."""
        return set(self._rounds) | set(self._reservations)

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
    query = _flushed_query(on_postgresql(session))
    rows = (await session.exec(query, params={"round_ids": distinct(wanted)})).all()
    found = {round_id: parse_digests(text) for round_id, text in rows}
    return {round_id: found.get(round_id, set()) for round_id in wanted}


# Statements on every batch's path, built once (``@cache``, values bound when they run):
# building them cost more CPU than running them (docs/performance.md, "Statements built once").
@cache
def _flushed_query(pg: bool) -> Any:
    return select(Participation.round_id, Participation.digests).where(
        any_of(col(Participation.round_id), "round_ids", pg)
    )


@cache
def _set_digests() -> Update:
    table = Participation.__table__  # type: ignore[attr-defined]
    return (
        update(table)
        .where(table.c.round_id == bindparam("key"))
        .values(digests=bindparam("text"), respondents=bindparam("count"))
    )


@cache
def _add_unsure() -> Update:
    table = Participation.__table__  # type: ignore[attr-defined]
    return (
        update(table)
        .where(table.c.round_id == bindparam("key"))
        .values(unsure=table.c.unsure + bindparam("amount"))
    )


async def closing_batches(
    session: AsyncSession, batches: dict[int, list[str]], min_group: int
) -> dict[int, list[str]]:
    """What a closing flush may write: a batch of at least k, or one holding every card of its
    round.  A smaller batch is dropped (those people's streak misses the round; the round is
    closed, so no one can answer it again).  Were it written, an attacker who can tell this
    process's answers apart (say, the only process after a restart, whose earlier pending people
    were never written) would pair its few answers with its few digests."""
    small = {round_id for round_id, digests in batches.items() if len(digests) < min_group}
    if not small:
        return batches
    query = (
        select(Response.round_id, func.count(func.distinct(col(Response.submission_id))))
        .where(col(Response.round_id).in_(small))
        .group_by(col(Response.round_id))
    )
    cards = {round_id: int(count) for round_id, count in (await session.exec(query)).all()}
    return {
        round_id: digests
        for round_id, digests in batches.items()
        if round_id not in small or cards.get(round_id, 0) == len(set(digests))
    }


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
    rows = []
    for round_id, digests in sorted(batches.items()):
        merged = stored.get(round_id, set()) | set(digests)
        rows.append({"key": round_id, "text": format_digests(merged), "count": len(merged)})
    connection = await session.connection()
    await connection.execute(_set_digests(), rows)


async def reserve(session: AsyncSession, amounts: dict[int, int]) -> dict[int, int]:
    """Add these amounts to the ``unsure`` counts of those of their rounds still open; returns
    what was added."""
    if not amounts:
        return {}
    query = select(PulseRound.id).where(
        col(PulseRound.id).in_(set(amounts)), col(PulseRound.closed).is_(False)
    )
    found = {round_id for round_id in (await session.exec(query)).all() if round_id is not None}
    added = {round_id: amount for round_id, amount in amounts.items() if round_id in found}
    await add_unsure(session, added)
    return added


async def add_unsure(session: AsyncSession, amounts: dict[int, int]) -> None:
    """Change rounds' ``unsure`` counts by these amounts (round-level: no person in it)."""
    rows = [{"key": r, "amount": n} for r, n in sorted(amounts.items()) if n]
    if rows:
        await (await session.connection()).execute(_add_unsure(), rows)


async def closed_rounds(session: AsyncSession, round_ids: Iterable[int]) -> set[int]:
    wanted = set(round_ids)
    if not wanted:
        return set()
    query = select(PulseRound.id).where(
        col(PulseRound.id).in_(wanted), col(PulseRound.closed).is_(True)
    )
    return {round_id for round_id in (await session.exec(query)).all() if round_id is not None}

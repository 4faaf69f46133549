"""The participation ledger of one process: admits first answers, and writes who answered in
batches, away from the answers (the reasons and the argument: ``surveys/participation.py``).

Everything that asks "has this person answered this round?" (the pending pulses, ``pulse
status``, the Home tab's streak, reminders, a second submission) goes through ``answered``:
digests already written, union this process's pending ones, union (PostgreSQL) those other
processes hold.  Submissions and flushes of this process take turns (``lock``), so a flush never
writes a digest whose answer is not committed yet.

Before a batch of answers, ``reserve`` commits the process's reservation on each round's
``unsure`` count (``2k`` before the first, topped up before a batch that could hold more); a
closing flush gives it back, a graceful stop gives back all but what it drops,
a crash or lost claims give back nothing (``surveys/participation.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.claims import AdvisoryClaims, Claims, LocalClaims
from storage.engine import Database, is_sqlite, unavailable
from storage.uncut import uncut
from surveys import participation
from surveys.anonymity import participation_digest
from surveys.participation import Key, Ledger

log = logging.getLogger(__name__)


class Participants:
    def __init__(self, db: Database, min_group: int) -> None:
        self.db = db
        self.ledger = Ledger(min_group)
        self.claims: Claims = LocalClaims() if is_sqlite(db.url) else AdvisoryClaims(db.engine)
        db.on_dispose(self.claims.close)
        self.lock = asyncio.Lock()
        self._losses = 0  # the claims' losses already accounted for

    # -- reservations --------------------------------------------------------------------------
    async def reserve(self, cards: Iterable[int]) -> None:
        """Before admitting a batch with these cards (a round id each): reserve, in a short
        transaction of its own committed before the answers', enough on each open round's
        ``unsure`` to cover every digest this process could hold for it once the batch commits
        (``Ledger.shortfall``).  The caller holds ``lock``."""
        wanted = self.ledger.shortfall(cards)
        if not wanted:
            return
        async with self.db.session() as session:
            added = await participation.reserve(session, wanted)
            await session.commit()
        self.ledger.reserved(added)

    def _note_losses(self) -> None:
        """Claims lost with a connection: someone pending here may have answered again
        elsewhere, so the rounds held here keep their reservations."""
        if self.claims.losses != self._losses:
            self._losses = self.claims.losses
            self.ledger.keep(self.ledger.rounds())

    # -- admitting answers (``participation.Gate``) ------------------------------------------
    async def admit(self, session: AsyncSession, keys: Sequence[Key]) -> list[bool]:
        """Which keys are first answers, reserving those.  Held here or claimed by another
        process: answered.  Otherwise claimed first, and only then checked against the digests
        already written (so a flush committed by another process in between is seen)."""
        fresh: list[Key] = []
        for key in keys:
            if not self.ledger.holds(*key) and key not in fresh:
                fresh.append(key)
        claimed = await self.claims.claim([digest for _, digest in fresh])
        self._note_losses()
        try:
            written = await participation.flushed_digests(session, {r for r, _ in fresh})
        except BaseException:
            await self.claims.release(claimed)  # or they would read "answered" until a restart
            raise
        admitted = {key for key in fresh if key[1] in claimed and key[1] not in written[key[0]]}
        await self.claims.release(d for r, d in fresh if d in claimed and (r, d) not in admitted)
        self.ledger.reserve(admitted)
        seen: set[Key] = set()
        results = []
        for key in keys:
            results.append(key in admitted and key not in seen)
            seen.add(key)
        return results

    async def settle(self, keys: Sequence[Key], committed: bool, in_doubt: bool = False) -> None:
        """A commit cut off in flight (``in_doubt``) may have stored answers whose people will
        answer again: those rounds keep this process's reservation on ``unsure`` for good, as
        after lost claims, so a second card is not counted as one more person."""
        self.ledger.settle(keys, committed)
        if in_doubt:
            self.ledger.keep(round_id for round_id, _ in keys)
        if not committed:
            await self.claims.release(digest for _, digest in keys)

    # -- reading ---------------------------------------------------------------------------
    async def answered(
        self, session: AsyncSession, secret: bytes, pairs: Sequence[tuple[int, int]]
    ) -> set[tuple[int, int]]:
        """Those (round, person) pairs whose person has answered the round."""
        digests = {pair: participation_digest(secret, *pair) for pair in pairs}
        found = {pair for pair, digest in digests.items() if self.ledger.holds(pair[0], digest)}
        rest = {pair: digest for pair, digest in digests.items() if pair not in found}
        written = await participation.flushed_digests(session, {r for r, _ in rest})
        found |= {pair for pair, digest in rest.items() if digest in written[pair[0]]}
        others = {pair: digest for pair, digest in rest.items() if pair not in found}
        held = await self.claims.held_elsewhere(session, others.values())
        return found | {pair for pair, digest in others.items() if digest in held}

    # -- writing who answered ----------------------------------------------------------------
    async def flush_due(self) -> None:
        """Threshold flushes (a round with 2k pending: its oldest pending - k).  The caller
        holds ``lock``."""
        await self._flush(self.ledger.due())

    async def flush_rounds(self, round_ids: set[int]) -> None:
        """Closing flushes for rounds that have just closed in this process.  They run to their
        end even if the caller is cancelled (the scheduler's tick, when its process stops
        leading): cut between its ``COMMIT`` and ``forget``, a flush would be written twice and
        its reservations given back twice, counting more people than answered."""
        await uncut(self._flush_rounds(round_ids))

    async def _flush_rounds(self, round_ids: set[int]) -> None:
        async with self.lock:
            await self._close_rounds(round_ids & self.ledger.rounds())

    async def flush_closed(self) -> None:
        """The periodic check: rounds closed elsewhere (``teampulse pulse close``, another
        replica) get their pending digests written."""
        async with self.lock:
            if not self.ledger.rounds():
                return
            async with self.db.session() as session:
                closed = await participation.closed_rounds(session, self.ledger.rounds())
            await self._close_rounds(closed)

    async def close(self) -> None:
        """A graceful stop: flush closed rounds' pending (an open round's is dropped, never
        written), give back the reservations but the dropped digests, let the claims go.  What
        is left is the crash bound."""
        async with self.lock:
            try:
                async with self.db.session() as session:
                    closed = await participation.closed_rounds(session, self.ledger.rounds())
                await self._close_rounds(closed)
                await self.claims.check()
                self._note_losses()
                await self._give_back(self.ledger.rounds(), closed=set())
            except Exception:
                log.warning("could not look up rounds at shutdown; pending answers dropped")
            left = sum(len(self.ledger.pending(r)) for r in self.ledger.rounds())
            if left:
                log.info("%d answers of open rounds were pending at shutdown", left)
            await self.claims.close()

    async def _close_rounds(self, closed: set[int]) -> None:
        """Closing flushes of these closed rounds, giving back their reservations in the same
        transaction.  The claims are checked before it, and again once it has committed (from
        then on no process can admit those people again): a drop found only then puts the
        reservations back, in a transaction of its own (rare: a drop within that moment)."""
        if not closed:
            return
        await self.claims.check()
        self._note_losses()
        batches = self.ledger.everything(closed)
        amounts = self.ledger.give_back(closed, closed)
        if not await self._write(batches, {r: -n for r, n in amounts.items()}, closing=True):
            return
        self.ledger.forget(closed)
        await self.claims.check()
        if self.claims.losses != self._losses:
            self._note_losses()
            await self._put_back(amounts)
        await self._forget_written(batches)

    async def _put_back(self, amounts: dict[int, int]) -> None:
        try:
            async with self.db.session() as session:
                await participation.add_unsure(session, amounts)
                await session.commit()
        except Exception:
            log.warning("could not keep the reservations of rounds whose claims were lost")

    async def _give_back(self, round_ids: set[int], closed: set[int]) -> None:
        """One transaction giving back these rounds' reservations (or what is left of them)."""
        amounts = self.ledger.give_back(round_ids, closed)
        if amounts:
            try:
                async with self.db.session() as session:
                    await participation.add_unsure(session, {r: -n for r, n in amounts.items()})
                    await session.commit()
            except Exception:
                log.warning("could not give back reservations; will try again", exc_info=True)
                return
        self.ledger.forget(round_ids)

    async def _flush(self, batches: dict[int, list[str]]) -> None:
        """One transaction for the batches; the claims go once it has committed.  A failure is
        logged and the digests stay pending (the answers are already safe)."""
        if batches and await self._write(batches):
            await self._forget_written(batches)

    async def _write(
        self,
        batches: dict[int, list[str]],
        unsure: dict[int, int] | None = None,
        *,
        closing: bool = False,
    ) -> bool:
        """One transaction: the batches' digests, and changes to rounds' ``unsure`` counts.  A
        closing batch of fewer than k is written only when it is the whole round."""
        if not batches and not unsure:
            return True
        try:
            async with self.db.session() as session:
                if closing:
                    batches = await participation.closing_batches(session, batches, self.ledger.k)
                await participation.write_digests(session, batches)
                await participation.add_unsure(session, unsure or {})
                await session.commit()
        except Exception as error:  # (with the database away: one line, no traceback)
            log.warning(
                "participation flush failed (%s); will try again",
                type(error).__name__,
                exc_info=not unavailable(error),
            )
            return False
        return True

    async def _forget_written(self, batches: dict[int, list[str]]) -> None:
        self.ledger.flushed(batches)
        await self.claims.release(digest for digests in batches.values() for digest in digests)
        self._note_losses()

"""Cards that arrive together are committed together, and each still gets its own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.batching import Expired, GroupCommit, Running
from bot.service import UnknownPerson
from bot.settings import Settings
from bot.views import Receipt, TextReply
from storage.engine import Database
from storage.models import Participation, Response
from tests.support import answers_for, email, make_service


async def test_a_rush_of_cards_is_recorded_once_each_with_the_right_reply(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    [card] = await service.pending_pulses(email("a0"))
    answers = answers_for(card)
    people = [email(f"a{i}") for i in range(12)]
    calls = [service.submit_pulse(person, card.round_id, answers) for person in people]
    calls += [service.submit_pulse(person, card.round_id, answers) for person in people]  # twice
    calls.append(service.submit_pulse(email("b0"), card.round_id, answers))  # not asked
    calls.append(service.submit_pulse(email("a0"), card.round_id, {card.questions[0].id: 5}))
    calls.append(service.submit_pulse("stranger@elsewhere.example", card.round_id, answers))
    comment = {card.questions[0].id: "Short\x00staffed on nights\x07"}
    calls.append(service.submit_pulse(email("a1"), card.round_id, answers, comment))

    replies = await asyncio.gather(*calls, return_exceptions=True)

    firsts, seconds = replies[:12], replies[12:24]
    outsider, partial, stranger, late_comment = replies[24:]
    receipts = [r for r in firsts + seconds if isinstance(r, Receipt)]
    already = [r for r in firsts + seconds if isinstance(r, TextReply) and r.kind == "info"]
    assert len(receipts) == 12 and len(already) == 12  # one of each per person, whichever won
    assert all("already answered" in r.text for r in already)
    assert isinstance(outsider, TextReply) and "not sent to you" in outsider.text
    assert isinstance(partial, TextReply) and "answer all" in partial.text
    assert isinstance(stranger, UnknownPerson)
    assert isinstance(late_comment, TextReply) and "already answered" in late_comment.text

    assert await service.pending_pulses(email("a5")) == []
    await service.close_round(
        await service.team_named("Ward A")
    )  # who answered is written in full once it closes
    async with db.session() as session:
        participation = await session.get(Participation, card.round_id)
        stored = (await session.exec(select(Response))).all()
        submissions = (
            await session.exec(select(func.count(func.distinct(Response.submission_id))))
        ).one()
    assert participation is not None and participation.respondents == 12
    assert len(stored) == 12 * len(card.questions) and submissions == 12
    assert all(row.comment is None for row in stored)


async def test_a_comment_keeps_its_words_without_control_characters(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    [card] = await service.pending_pulses(email("a2"))
    comment = {card.questions[0].id: "  Short\x00staffed on\tnights\x07 "}
    reply = await service.submit_pulse(email("a2"), card.round_id, answers_for(card), comment)
    assert isinstance(reply, Receipt)
    async with db.session() as session:
        stored = (
            await session.exec(select(Response.comment).where(Response.comment.is_not(None)))  # type: ignore[union-attr]
        ).all()
    assert stored == ["Shortstaffed on\tnights"]


# -- the batching itself -----------------------------------------------------------------------
class Doubler:
    """Doubles numbers in batches; a batch holding 13 fails as a whole (as a database error
    fails a transaction).  Each batch waits for ``release``, like a commit in flight."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.running = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        self.running.set()
        await self.release.wait()
        if 13 in items:
            raise RuntimeError("unlucky")
        return [ValueError("odd") if n % 2 else n * 2 for n in items]


async def test_calls_that_queue_behind_a_running_batch_go_together_in_the_next() -> None:
    doubler = Doubler()
    doubler.release.clear()
    commit: GroupCommit[int, int] = GroupCommit(doubler)
    first = asyncio.ensure_future(commit(2))
    await doubler.running.wait()  # a lone call starts at once, as a batch of one
    queued = [asyncio.ensure_future(commit(n)) for n in (4, 6, 8)]
    doubler.release.set()
    assert await first == 4
    assert await asyncio.gather(*queued) == [8, 12, 16]
    assert doubler.batches == [[2], [4, 6, 8]]


async def test_each_call_gets_its_own_outcome_and_a_failed_batch_is_rerun_alone() -> None:
    doubler = Doubler()
    commit: GroupCommit[int, int] = GroupCommit(doubler, limit=10)
    outcomes = await asyncio.gather(*(commit(n) for n in (2, 13, 3, 6)), return_exceptions=True)
    assert outcomes[0] == 4 and outcomes[3] == 12
    assert isinstance(outcomes[1], RuntimeError) and isinstance(outcomes[2], ValueError)
    assert doubler.batches == [[2, 13, 3, 6], [2], [13], [3], [6]]  # together, then alone


@pytest.mark.parametrize("limit", [1, 2])
async def test_a_batch_never_exceeds_its_limit(limit: int) -> None:
    doubler = Doubler()
    commit: GroupCommit[int, int] = GroupCommit(doubler, limit=limit)
    assert await asyncio.gather(*(commit(n) for n in (2, 4, 6, 8, 10))) == [4, 8, 12, 16, 20]
    assert all(len(batch) <= limit for batch in doubler.batches)
    assert [n for batch in doubler.batches for n in batch] == [2, 4, 6, 8, 10]


async def test_a_batch_failing_because_the_database_is_away_fails_whole_and_is_not_rerun() -> None:
    """No call of it was to blame, and rerunning each against a database that is away would
    hold up every batch queued behind it (each try waiting for its connection to fail)."""
    batches: list[list[int]] = []

    async def unreachable(items: Sequence[int]) -> list[int | Exception]:
        batches.append(list(items))
        raise ConnectionRefusedError("the database refused the connection")

    commit: GroupCommit[int, int] = GroupCommit(unreachable)
    outcomes = await asyncio.gather(*(commit(n) for n in (1, 2, 3)), return_exceptions=True)
    assert all(isinstance(outcome, ConnectionRefusedError) for outcome in outcomes)
    assert batches == [[1, 2, 3]]


async def test_a_call_given_up_on_while_queued_is_not_run_when_abandoned_ones_are_dropped() -> None:
    """A person told "couldn't save, please try again" (their wait ran out while their card
    queued behind a batch stuck on the database) must not have the card saved afterwards."""
    doubler = Doubler()
    doubler.release.clear()
    commit: GroupCommit[int, int] = GroupCommit(doubler, drop_abandoned=True)
    stuck = asyncio.ensure_future(commit(2))
    await doubler.running.wait()
    given_up = asyncio.ensure_future(commit(4))
    waiting = asyncio.ensure_future(commit(6))
    await asyncio.sleep(0)  # one turn of the loop (not a wait for time): both are queued
    given_up.cancel()
    doubler.release.set()
    assert await stuck == 4 and await waiting == 12
    assert doubler.batches == [[2], [6]]


async def test_a_call_past_its_deadline_is_dropped_while_queued_and_handed_back_once_started() -> (
    None
):
    """A person whose wait runs out may be told "couldn't save" only for a call still queued,
    which is then never run, and "still saving" for one whose batch has started: that one
    can't be taken back, and its outcome still comes after."""
    doubler = Doubler()
    doubler.release.clear()
    commit: GroupCommit[int, int] = GroupCommit(doubler, drop_abandoned=True)
    loop = asyncio.get_running_loop()
    running = await commit.by(2, loop.time() + 0.01)  # started at once, then stuck
    assert isinstance(running, Running) and not running.outcome.done()
    with pytest.raises(Expired):
        await commit.by(4, loop.time() + 0.01)  # queued behind the stuck batch
    with pytest.raises(Expired):
        await commit.by(8, loop.time())  # no time left: not even queued
    waiting = asyncio.ensure_future(commit.by(6, loop.time() + 60))
    await asyncio.sleep(0)  # one turn of the loop (not a wait for time): it is queued
    doubler.release.set()
    assert await running.outcome == 4 and await waiting == 12
    assert doubler.batches == [[2], [6]]


async def test_a_call_given_up_on_is_still_run_unless_abandoned_ones_are_dropped() -> None:
    """A look-up nobody waits for any more is still worth its batch (and its result unused)."""
    doubler = Doubler()
    doubler.release.clear()
    commit: GroupCommit[int, int] = GroupCommit(doubler)
    stuck = asyncio.ensure_future(commit(2))
    await doubler.running.wait()
    with pytest.raises(Expired):
        await commit.by(4, asyncio.get_running_loop().time() + 0.01)
    doubler.release.set()
    assert await stuck == 4 and await commit.by(10, None) == 20
    assert doubler.batches == [[2], [4], [10]]

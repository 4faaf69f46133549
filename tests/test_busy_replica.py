"""A busy process keeps its participation claims (``storage/claims.py``) and its scheduler
leadership (``storage/leader.py``), on real PostgreSQL.

A caller cancelled while its claims statement is in flight (a leader stepping down cancels its
tick mid-flush; a person's wait is given up on) must not cost the process its claims: before, the
cut statement made SQLAlchemy invalidate the claims connection, its session ended and every
pending person's claim with it, so another process accepted their second answer and reminded
them.  A connection the server really ended still counts as a loss.  And a leader whose event
loop stalls as it checks its connection keeps leading while the connection answers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from bot.scheduler import PulseScheduler
from bot.settings import Settings
from storage.claims import AdvisoryClaims
from storage.engine import Database
from tests.conftest import BACKENDS
from tests.databases import scratch_database
from tests.support import FixedClock, after_the_week, make_service
from tests.test_leader import candidates, leaders, until
from tests.test_participation_ledger import answer, written
from tests.test_repeated_answers import published_people

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="needs TEST_DATABASE_URL")

PENDING = [f"{n:02x}" * 32 for n in range(1, 41)]  # 40 people whose answers are pending
LATE = ["ee" * 32, "ef" * 32]  # a claim whose caller is cancelled
THIS_DATABASE = "database = (SELECT oid FROM pg_database WHERE datname = current_database())"


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """PostgreSQL only (``db`` and ``settings`` use it)."""
    async with scratch_database("postgresql", tmp_path, name="cl") as scratch:
        yield scratch


@pytest.fixture
async def two(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two processes' databases (each its own engine and connections)."""
    first, second = Database(database_url), Database(database_url)
    yield first, second
    await first.dispose()
    await second.dispose()


def cancel_when(db: Database, marker: str, victim: Callable[[], asyncio.Task[Any] | None]) -> None:
    """Cancel ``victim()`` as soon as a statement containing ``marker`` is sent: the cancel
    lands while the statement is in flight (its answer not read yet)."""
    when(db, marker, lambda: _cancel(victim()))


def _cancel(task: asyncio.Task[Any] | None) -> None:
    if task is not None:
        task.cancel()


def when(db: Database, marker: str, then: Callable[[], None], at_commit: bool = False) -> None:
    """Call ``then`` (once, soon) when a statement containing ``marker`` is first sent, or
    (``at_commit``) when its transaction commits."""
    loop = asyncio.get_running_loop()
    state = {"seen": False, "done": False}

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _sent(*args: Any) -> None:
        if not state["seen"] and marker in args[2]:
            state["seen"] = True
            if not at_commit:
                _fire()

    @event.listens_for(db.engine.sync_engine, "commit")
    def _committing(*_: Any) -> None:
        if at_commit and state["seen"]:
            _fire()

    def _fire() -> None:
        if not state["done"]:
            state["done"] = True
            loop.call_soon(then)


async def until_true(condition: Callable[[], Any], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.02)  # re-checking a condition, not timing a result


@pytest.mark.parametrize("operation", ["claim", "check", "release"])
async def test_a_caller_cancelled_mid_statement_keeps_the_processes_claims(
    two: tuple[Database, Database], operation: str
) -> None:
    """40 people's answers are pending in process A.  A's tick (or a person's wait) is
    cancelled while a claims statement is in flight.  A loses nothing, and process B still
    refuses a second answer from every one of the 40."""
    a_db, b_db = two
    a, b = AdvisoryClaims(a_db.engine), AdvisoryClaims(b_db.engine)
    held = [*PENDING, "dd" * 32]
    assert await a.claim(held) == set(held)
    victim: asyncio.Task[Any] | None = None
    marker = {"claim": "pg_try_advisory_lock", "check": "SELECT 1", "release": "unlock"}
    cancel_when(a_db, marker[operation], lambda: victim)
    work: dict[str, Callable[[], Coroutine[Any, Any, Any]]] = {
        "claim": lambda: a.claim(LATE),
        "check": a.check,
        "release": lambda: a.release(["dd" * 32]),
    }
    victim = asyncio.ensure_future(work[operation]())
    with pytest.raises(asyncio.CancelledError):
        await victim
    victim = None
    await a.check()
    assert a.losses == 0
    assert await b.claim(PENDING) == set()  # "you have already answered"
    if operation == "claim":  # taken for nobody: let go, so those two can answer (in B)
        await until_true(lambda: _claimable(b, LATE))
    if operation == "release":
        await until_true(lambda: _claimable(b, ["dd" * 32]))
    await a.close()
    await b.close()


async def _claimable(claims: AdvisoryClaims, digests: list[str]) -> bool:
    taken = await claims.claim(digests)
    if taken:
        await claims.release(taken)
    return taken == set(digests)


async def test_a_connection_the_server_ended_still_counts_as_a_loss_and_names_its_cause(
    two: tuple[Database, Database], caplog: pytest.LogCaptureFixture
) -> None:
    """The claims' session really ended (a restart, a cut): that is a loss, and its one log line
    says why (the error's type) without naming anyone's digest."""
    a_db, b_db = two
    a = AdvisoryClaims(a_db.engine)
    await a.claim(PENDING)
    async with b_db.engine.connect() as admin:
        ended = await admin.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM (SELECT DISTINCT pid FROM pg_locks "
                f"WHERE locktype = 'advisory' AND {THIS_DATABASE}) AS holders"
            )
        )
        assert ended.scalar_one() == 1
    with caplog.at_level(logging.WARNING, logger="storage.claims"):
        await a.check()
    assert a.losses == 1
    (line,) = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert line.startswith("40 pending claims were lost with a connection (")
    assert not any(digest[:16] in line for digest in PENDING)
    b = AdvisoryClaims(b_db.engine)
    assert await b.claim(PENDING) == set()  # taken again at once by A
    await a.close()
    await b.close()


@pytest.mark.parametrize(
    ("marker", "at_commit"),
    [("SELECT 1", False), ("FOR UPDATE", False), ("FOR UPDATE", True), ("unlock", False)],
)
async def test_the_leader_stepping_down_mid_flush_loses_no_claims_and_its_week_is_published(
    db: Database, settings: Settings, marker: str, at_commit: bool
) -> None:
    """Ward A's round closes in the leader's tick; the process stops leading while the tick is
    writing who answered (at the claims check, inside the flush's transaction, at its commit,
    or releasing the claims after it).  No claim is lost, the 6 digests are written once, and
    the reservation is given back: the week's cut publishes Ward A's 6 people (not 0 cells, as
    lost claims would keep the reservation, nor more people)."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward A"))
    round_id = await answer(service, *(f"a{i}" for i in range(6)))
    scheduler = PulseScheduler(service)
    loop = asyncio.get_running_loop()
    stepping_down: list[asyncio.Task[None]] = []
    step_down = lambda: stepping_down.append(loop.create_task(scheduler._step_down()))  # noqa: E731
    when(db, marker, step_down, at_commit)
    clock.now += timedelta(days=settings.round_days + 1)
    tick = loop.create_task(scheduler.tick())  # as APScheduler runs it
    await asyncio.gather(tick, return_exceptions=True)
    assert stepping_down and tick.cancelled(), "the tick was cut at the statement"
    await asyncio.gather(*stepping_down)
    await service.participants.flush_closed()  # the server's periodic check
    assert service.participants.claims.losses == 0
    assert len(await written(db, round_id)) == 6
    await after_the_week(service, clock)
    people, cells = await published_people(db, "Ward A")
    assert people == [6]
    assert cells and all(count == 6 for count in cells), cells


async def test_a_starved_leader_keeps_leading_while_its_connection_answers(
    database_url: str,
) -> None:
    """Two candidates; the leader's process stalls (its event loop runs nothing for 0.5 s, five
    times its check's bound of 0.1 s) just as it checks its connection, three times over.  The
    connection is healthy: it keeps leading, and the other never takes over."""
    async with candidates(database_url, 2, starved_seconds=0.05, ping_limit=5.0) as group:
        await until(lambda: len(leaders(group)) == 1)
        [leader] = leaders(group)
        [other] = [candidate for candidate in group if candidate is not leader]
        loop = asyncio.get_running_loop()
        pings: list[float] = []

        @event.listens_for(leader.db.engine.sync_engine, "before_cursor_execute")
        def _stall(*args: Any) -> None:
            if args[2] == "SELECT 1":
                pings.append(loop.time())
                if len(pings) <= 3:  # a busy process: a callback holding the loop
                    loop.call_soon(time.sleep, 0.5)

        # three starved checks, then three plain ones (or it stood down: the old flap)
        await until(lambda: len(pings) >= 6 or leader.stepped_down > 0)
        assert leader.stepped_down == 0
        tries = other.election.tries
        await until(lambda: other.election.tries > tries)
        assert leaders(group) == [leader]
        assert leader.stepped_down == 0 and leader.terms == 1 and other.terms == 0

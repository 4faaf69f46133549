"""Who answered is held in memory and written in batches (surveys/participation.py, bot/ledger.py):
what a person notices (already answered, pending pulses, reminders, the streak) is as before, on
one process or several, and what is written waits for k people or the round's end."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from bot.conversation import Conversation
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import Receipt, TextReply
from storage.engine import Database
from storage.models import Participation
from surveys.anonymity import parse_digests
from surveys.participation import Ledger
from tests.conftest import BACKENDS
from tests.support import FixedClock, RecordingMessenger, answers_for, email, make_service

POSTGRESQL = [b for b in BACKENDS if b == "postgresql"]


async def written(db: Database, round_id: int) -> set[str]:
    async with db.session() as session:
        row = await session.get(Participation, round_id)
    return parse_digests(row.digests) if row else set()


async def answer(service: TeamPulse, *names: str) -> int:
    round_id = 0
    for name in names:
        [card] = await service.pending_pulses(email(name))
        reply = await service.submit_pulse(email(name), card.round_id, answers_for(card))
        assert isinstance(reply, Receipt), reply
        round_id = card.round_id
    return round_id


def second_process(
    db: Database, settings: Settings, messenger: RecordingMessenger | None = None
) -> tuple[TeamPulse, Database]:
    """Another server process on the same database: its own engine, its own memory."""
    other = Database(db.url)
    clock = FixedClock()
    return TeamPulse(other, settings, messenger or RecordingMessenger(), clock=clock), other


async def test_an_answer_is_written_with_k_others_or_when_its_round_closes(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    [card] = await service.pending_pulses(email("a0"))
    round_id = await answer(service, "a0")
    assert await written(db, round_id) == set()  # pending, in memory only
    assert await service.pending_pulses(email("a0")) == []
    again = await service.submit_pulse(email("a0"), round_id, answers_for(card, 1))
    assert isinstance(again, TextReply) and "already answered" in again.text
    status = await Conversation(service).handle(email("a0"), "pulse status")
    assert "Pulses waiting for you*: 0" in status[0].text  # type: ignore[attr-defined]
    await answer(service, *(f"a{i}" for i in range(1, 9)))
    assert await written(db, round_id) == set()  # 9 pending: fewer than 2k
    await answer(service, "a9")
    assert len(await written(db, round_id)) == 5  # 2k pending: the oldest k written, k kept
    await service.close_round(await service.team_named("Ward A"))
    assert len(await written(db, round_id)) == 10  # closing writes the rest


async def test_reminders_skip_those_whose_answers_are_pending(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, messenger = await make_service(db, settings, clock)
    await service.open_round(await service.team_named("Ward B"))
    await service.deliver_outbox()
    round_id = await answer(service, "b0", "b1", "b2", "b3")
    assert await written(db, round_id) == set()
    clock.now += timedelta(days=4)
    messenger.direct.clear()
    assert await service.send_reminders() == 2
    assert sorted(to for to, _ in messenger.direct) == [email("b4"), email("b5")]


async def test_a_stop_writes_only_closed_rounds_and_a_crash_lets_people_answer_again(
    db: Database, settings: Settings
) -> None:
    """The honest bound: answers pending in a process that stops while their round is open are
    kept, but who gave them is forgotten (never written, however many): those people could
    answer again.  A closed round's pending answers are written at the stop."""
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    await service.open_round(await service.team_named("Ward B"))
    ward_a = await answer(service, *(f"a{i}" for i in range(6)))
    ward_b = await answer(service, "b0", "b1")
    cli, cli_db = second_process(db, settings)
    await cli.close_round(await cli.team_named("Ward B"))  # closed elsewhere, not yet noticed
    await service.close()  # a graceful stop: Ward B (closed) is written, Ward A (open) is not
    assert await written(db, ward_a) == set() and len(await written(db, ward_b)) == 2
    restarted, other = second_process(db, settings)
    assert len(await restarted.pending_pulses(email("a0"))) == 1
    assert isinstance(await answer(restarted, "a0"), int)  # a0 answers that round a second time
    # a crash (the process gone, nothing written): the same for everyone pending
    await answer(restarted, "a6")
    await other.dispose()
    crashed_again, third = second_process(db, settings)
    assert isinstance(await answer(crashed_again, "a6"), int)
    await third.dispose()
    await cli_db.dispose()


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
async def test_a_second_answer_on_another_process_is_refused_while_the_first_is_pending(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    reminded = RecordingMessenger()
    other, other_db = second_process(db, settings, reminded)
    await service.open_round(await service.team_named("Ward A"))
    await service.deliver_outbox()
    [card] = await other.pending_pulses(email("a0"))
    round_id = await answer(service, "a0")
    assert await written(db, round_id) == set()
    refused = await other.submit_pulse(email("a0"), round_id, answers_for(card))
    assert isinstance(refused, TextReply) and "already answered" in refused.text
    assert await other.pending_pulses(email("a0")) == []
    # the other process (the one running the scheduler) reminds everyone else, not a0
    other.clock.now += timedelta(days=4)  # type: ignore[attr-defined]
    assert await other.send_reminders() == 11
    assert email("a0") not in {to for to, _ in reminded.direct}
    # others may still answer on either process; once written, a0 is still refused anywhere
    await answer(other, "a1", "a2")
    await answer(service, *(f"a{i}" for i in range(3, 12)))
    assert len(await written(db, round_id)) >= 5
    refused = await other.submit_pulse(email("a0"), round_id, answers_for(card))
    assert isinstance(refused, TextReply) and "already answered" in refused.text
    await other_db.dispose()


@pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True)
async def test_a_round_closed_elsewhere_is_written_at_the_next_check(
    db: Database, settings: Settings
) -> None:
    """``teampulse pulse close`` runs in another process: until the server's periodic check,
    its pending answers still count as answered (reminders, the streak)."""
    service, _ = await make_service(db, settings)
    cli, cli_db = second_process(db, settings)
    await service.open_round(await service.team_named("Ward B"))
    round_id = await answer(service, "b0", "b1", "b2")
    await cli.close_round(await cli.team_named("Ward B"))
    assert await written(db, round_id) == set()
    home = await Conversation(cli).home(email("b1"))
    assert home.streak == 1  # the other process holds b1's answer: it counts already
    await service.participants.flush_closed()
    assert len(await written(db, round_id)) == 3
    assert (await Conversation(cli).home(email("b1"))).streak == 1
    assert (await Conversation(cli).home(email("b5"))).streak == 0
    await cli_db.dispose()


@pytest.mark.parametrize("seed", range(40))
def test_every_write_holds_at_least_min_k_respondents(seed: int) -> None:
    """The ledger alone, over random sizes, batches and k: no flush of a round writes fewer than
    min(k, respondents) digests, and everything is written once the round closes."""
    rng = random.Random(seed)
    k = rng.randint(2, 6)
    ledger = Ledger(k)
    respondents = rng.randint(1, 8 * k)
    people = [f"p{i}" for i in range(respondents)]
    writes: list[list[str]] = []
    while people:
        size = rng.randint(1, 4)
        batch, people = people[:size], people[size:]
        keys = [(1, person) for person in batch]
        ledger.reserve(keys)
        ledger.settle(keys, committed=True)
        for batch_written in ledger.due().values():
            writes.append(batch_written)
            ledger.flushed({1: batch_written})
    closing = ledger.everything({1})
    writes.extend(closing.values())
    ledger.flushed(closing)
    total = sum(len(w) for w in writes)
    assert all(len(w) >= min(k, total) for w in writes), (k, [len(w) for w in writes])
    assert ledger.rounds() == set()


def test_a_reservation_is_given_back_whole_at_close_and_less_what_a_stop_drops() -> None:
    """k = 5: a process can hold up to 2k = 10 pending per round once a one-card batch commits.
    Closing gives back 10; a stop gives back 10 less the digests it drops; rounds whose claims
    were lost give back 0."""
    ledger = Ledger(5)
    ledger.reserved(ledger.shortfall([1, 2, 2, 3]))
    keys = [(2, "x"), (2, "y"), (3, "z")]
    ledger.reserve(keys)
    ledger.settle(keys, committed=True)
    ledger.keep({3})
    assert ledger.give_back({1, 2, 3}, closed={1}) == {1: 10, 2: 8}
    ledger.forget({1, 2, 3})
    assert ledger.shortfall([1, 2, 3]) == {1: 10, 2: 10, 3: 10}

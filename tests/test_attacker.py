"""DESIGN.md invariant 1, played as an attacker.

The attacker holds everything: a full dump of every table (``SELECT *`` in the database's natural
order, which is what ``pg_dump``/``COPY`` and ``sqlite3 .dump`` emit), every log record, and
``TEAMPULSE_SECRET``.  With the secret they can work out *who* answered each round; the test shows
they cannot tell *which* answers are whose.  The test knows the truth because it chose who gives
which (distinct, recognisable) answers, in a seeded random order.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from bot.logs import configure_logging
from bot.settings import Settings
from bot.views import Receipt
from storage.engine import Database
from surveys.anonymity import participation_digest
from surveys.responses import sentiment_of
from tests.support import ALLOWED_RESPONSE_COLUMNS, FixedClock, email, make_service

SEED = 20261123
TEAMS = {
    "Ward A": [email(f"a{i}") for i in range(12)],
    "Ward B": [email(f"b{i}") for i in range(6)],
}
# Code words that are nobody's name: a comment is recognisable without naming its author.
WORDS = [
    "amber", "birch", "cobalt", "delta", "ember", "fjord", "garnet", "harbour", "indigo",
    "juniper", "kestrel", "lagoon", "meadow", "nectar", "onyx", "pebble", "quartz", "russet",
]  # fmt: skip
HEX32 = re.compile(r"^[0-9a-f]{32}$")

Dump = dict[str, list[dict[str, Any]]]


async def dump(db: Database) -> Dump:
    """Every table, every row, in the order the database stores them (no ORDER BY)."""
    async with db.engine.connect() as connection:
        if db.url.startswith("sqlite"):
            query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        tables = sorted((await connection.execute(text(query))).scalars())
        found: Dump = {}
        for table in tables:
            result = await connection.execute(text(f'SELECT * FROM "{table}"'))
            found[table] = [dict(row._mapping) for row in result]
    return found


@dataclass(frozen=True)
class Given:
    """One card as the test gave it: the truth the attacker must not recover."""

    person: str
    round_id: int
    team: str
    answers: dict[str, int]
    comment: str
    position: int  # when it was given within the round (0 = first)


@dataclass
class Played:
    given: list[Given]
    order: dict[int, list[str]]  # round id -> people in the order they answered
    before_answers: dict[int, Dump]  # round id -> dump after delivery, before any answer
    after_answers: dict[int, Dump]  # round id -> dump after every answer, before closing
    final: Dump


def _distinct_answers(question_ids: list[str], index: int) -> dict[str, int]:
    """A different score pattern for each person (index < 125)."""
    return {qid: 1 + (index // 5**n) % 5 for n, qid in enumerate(question_ids)}


async def play(db: Database, config: Settings) -> Played:
    """Two weekly rounds for Ward A (12) and Ward B (6); everyone answers, in a different random
    order each round, with distinct scores and a comment carrying a code word."""
    clock = FixedClock()
    service, _ = await make_service(db, config, clock)
    rng = random.Random(SEED)
    played = Played([], {}, {}, {}, {})
    words = iter(f"{w}-{n}" for n in range(2) for w in WORDS)
    for week in range(2):
        clock.now = FixedClock().now + timedelta(weeks=week)
        for team in TEAMS:
            await service.open_round(await service.team_named(team))
        await service.deliver_outbox()
        cards = {
            person: card
            for team, people in TEAMS.items()
            for person in people
            for card in await service.pending_pulses(person)
        }
        round_ids = {card.round_id for card in cards.values()}
        snapshot = await dump(db)
        people = [person for members in TEAMS.values() for person in members]
        rng.shuffle(people)
        for index, person in enumerate(people):
            card = cards[person]
            question_ids = [q.id for q in card.questions]
            word = next(words)
            comment = f"{word}: the handover could be better"
            team = card.team
            answers = _distinct_answers(question_ids, index)
            clock.now += timedelta(minutes=7)  # answers arrive minutes apart, on one day
            receipt = await service.submit_pulse(
                person, card.round_id, answers, {question_ids[0]: comment}
            )
            assert isinstance(receipt, Receipt)
            played.order.setdefault(card.round_id, []).append(person)
            position = len(played.order[card.round_id]) - 1
            played.given.append(Given(person, card.round_id, team, answers, comment, position))
        after = await dump(db)
        for round_id in round_ids:
            played.before_answers[round_id] = snapshot
            played.after_answers[round_id] = after
        for team in TEAMS:
            await service.close_round(await service.team_named(team))
    played.final = await dump(db)
    return played


@pytest.fixture
async def attack(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> tuple[Played, list[logging.LogRecord]]:
    configure_logging(verbose=True)
    with caplog.at_level(logging.DEBUG):
        played = await play(db, settings)
    return played, list(caplog.records)


@dataclass
class Attacker:
    """What the attacker can compute from the dump and the secret."""

    dump: Dump
    secret: bytes

    def digests(self, round_id: int) -> dict[str, int]:
        """digest -> person id, for everyone invited to the round."""
        invited = [d["person_id"] for d in self.dump["delivery"] if d["round_id"] == round_id]
        return {participation_digest(self.secret, round_id, p): p for p in invited}

    def who_answered(self, round_id: int) -> list[int]:
        """Person ids in the order of the round's participation record."""
        [row] = [p for p in self.dump["participation"] if p["round_id"] == round_id]
        known = self.digests(round_id)
        return [known[d] for d in row["digests"].split(",") if d]

    def submissions(self, round_id: int) -> list[str]:
        """The round's submission ids in dump order (first appearance)."""
        seen: dict[str, None] = {}
        for row in self.dump["response"]:
            if row["round_id"] == round_id:
                seen.setdefault(row["submission_id"], None)
        return list(seen)

    def orders(self, round_id: int) -> dict[str, list[int]]:
        """Every order of people the dump offers for a round, restricted to those who answered."""
        answered = set(self.who_answered(round_id))
        deliveries = sorted(
            (d for d in self.dump["delivery"] if d["round_id"] == round_id), key=lambda d: d["id"]
        )
        dump_deliveries = [d for d in self.dump["delivery"] if d["round_id"] == round_id]
        return {
            "participation digest order": self.who_answered(round_id),
            "delivery id order": [d["person_id"] for d in deliveries],
            "delivery dump order": [d["person_id"] for d in dump_deliveries],
            "person id order": sorted(answered),
            "person dump order": [p["id"] for p in self.dump["person"] if p["id"] in answered],
        }


def _truth(played: Played, attacker: Attacker) -> dict[str, int]:
    """submission id -> the person id who really gave it (the test knows from the comments)."""
    by_email = {row["email"]: row["id"] for row in attacker.dump["person"]}
    by_comment = {g.comment: by_email[g.person] for g in played.given}
    return {
        row["submission_id"]: by_comment[row["comment"]]
        for row in attacker.dump["response"]
        if row["comment"] is not None
    }


def _strings(value: Any) -> Iterable[str]:
    if value is not None:
        yield str(value)


def _has_word(textual: str, value: str) -> bool:
    return re.search(rf"(?<![\w.@-]){re.escape(value)}(?![\w@-])", textual) is not None


def _windows(value: str, size: int = 12) -> set[str]:
    return {value[i : i + size] for i in range(len(value) - size + 1)}


def _round_ids(played: Played) -> list[int]:
    return sorted(played.order)


# ---------------------------------------------------------------------------------------------


async def test_i_response_rows_hold_only_the_answer_and_nothing_of_the_person(
    attack: tuple[Played, list[logging.LogRecord]], settings: Settings
) -> None:
    played, _ = attack
    attacker = Attacker(played.final, settings.hashing_secret())
    rows = attacker.dump["response"]
    assert len(rows) == sum(len(g.answers) for g in played.given) == 2 * 18 * 3
    # Every column of every row is accounted for by the answer itself.
    by_comment = {g.comment: g for g in played.given}
    truth = {r["submission_id"]: by_comment[r["comment"]] for r in rows if r["comment"]}
    assert len(truth) == len(played.given)
    days = set()
    for row in rows:
        assert set(row) == ALLOWED_RESPONSE_COLUMNS
        given = truth[row["submission_id"]]
        assert row["round_id"] == given.round_id
        assert row["score"] == given.answers[row["question_id"]]
        if row["comment"] is not None:
            assert row["comment"] == given.comment
            assert row["sentiment"] == pytest.approx(sentiment_of(given.comment))
        else:
            assert row["sentiment"] is None
        assert HEX32.match(row["id"]) and HEX32.match(row["submission_id"])
        days.add((row["round_id"], str(row["day"])))
    # People answered minutes apart, but each round keeps one day: no time of day, nothing finer.
    assert len(days) == len(played.order) == 4
    # No value in a response row equals or embeds anything about a person: id, email, its local
    # part, display name, a platform identity, or any of their participation digests.
    person_values: set[str] = set()
    for person in attacker.dump["person"]:
        person_values |= {person["email"], person["email"].split("@")[0], person["display_name"]}
    for identity in attacker.dump.get("platform_identity", []):
        person_values.add(str(identity["external_id"]))
    digests = {d for round_id in _round_ids(played) for d in attacker.digests(round_id)}
    digest_windows = set().union(*(_windows(d) for d in digests))
    person_ids = {person["id"] for person in attacker.dump["person"]}
    team_ids = {team["name"]: team["id"] for team in attacker.dump["team"]}
    for row in rows:
        for key, value in row.items():
            for textual in _strings(value):
                assert textual not in digests and not _windows(textual) & digest_windows, key
                if key in {"id", "submission_id"}:
                    # 32 random hex digits: a 2-character local part ("a4") turns up by chance
                    assert not any(len(v) >= 6 and v in textual for v in person_values), key
                else:
                    assert not any(_has_word(textual, v) for v in person_values), (key, textual)
        # the only other number is the team: the team of the round, not anything of a person
        assert row["team_id"] == team_ids[truth[row["submission_id"]].team]
        assert row["team_id"] not in person_ids - set(team_ids.values())


async def test_ii_no_other_table_holds_a_response_id_submission_id_or_comment(
    attack: tuple[Played, list[logging.LogRecord]],
) -> None:
    played, _ = attack
    rows = played.final["response"]
    secrets_of_response = {r["id"] for r in rows} | {r["submission_id"] for r in rows}
    comments = {g.comment for g in played.given}
    words = {g.comment.split(":")[0] for g in played.given}
    for table, table_rows in played.final.items():
        if table == "response":
            continue
        for row in table_rows:
            for value in row.values():
                for textual in _strings(value):
                    assert not any(s in textual for s in secrets_of_response), (table, row)
                    assert not any(c in textual for c in comments | words), (table, row)


async def test_iii_participation_is_a_sorted_set_whatever_the_order_people_answered_in(
    attack: tuple[Played, list[logging.LogRecord]], settings: Settings
) -> None:
    played, _ = attack
    attacker = Attacker(played.final, settings.hashing_secret())
    assert {name for name in played.final["participation"][0]} == {
        "round_id",
        "digests",
        "respondents",
        "unsure",
    }  # no timestamps, no order, no person
    by_email = {row["email"]: row["id"] for row in attacker.dump["person"]}
    orders_seen = []
    for round_id in _round_ids(played):
        [row] = [p for p in played.final["participation"] if p["round_id"] == round_id]
        stored = row["digests"].split(",")
        answered = [by_email[e] for e in played.order[round_id]]
        in_answer_order = [participation_digest(attacker.secret, round_id, p) for p in answered]
        # The attacker learns exactly who answered, and that is all: the stored order is the
        # sorted order, not the order of answering.
        assert stored == sorted(stored) == sorted(in_answer_order)
        assert stored != in_answer_order
        assert row["respondents"] == len(answered)
        assert row["unsure"] == 0  # one process, closing its rounds: its reservations given back
        orders_seen.append(played.order[round_id])
    # The four rounds (two teams, two weeks) were answered in different orders, yet each record
    # has the same form.
    assert len({tuple(order) for order in orders_seen}) == len(orders_seen)


async def test_iv_answering_changes_nothing_but_the_answers_and_the_participation_set(
    attack: tuple[Played, list[logging.LogRecord]], db: Database
) -> None:
    played, _ = attack
    for round_id in _round_ids(played):
        before, after = played.before_answers[round_id], played.after_answers[round_id]
        changed = {table for table in before if before[table] != after[table]}
        assert changed == {"response", "participation"}, changed
        # Participation rows only change their digest set and count; deliveries (the only rows
        # that name a person beside a round) are exactly as they were before anyone answered.
        for row in after["participation"]:
            assert set(row) == {"round_id", "digests", "respondents", "unsure"}
        assert before["delivery"] == after["delivery"]
    # Dump order of the responses against the order people answered in.
    attacker_dump = played.final["response"]
    by_comment = {g.comment: g for g in played.given}
    by_submission = {
        r["submission_id"]: by_comment[r["comment"]] for r in attacker_dump if r["comment"]
    }
    in_dump = list(dict.fromkeys(r["submission_id"] for r in attacker_dump))
    dump_people = [(by_submission[s].round_id, by_submission[s].person) for s in in_dump]
    answered_people = [(g.round_id, g.person) for g in played.given]  # in the order given
    if db.url.startswith("sqlite"):
        # WITHOUT ROWID: the file is ordered by the random primary key, not by arrival.
        ids = [r["id"] for r in attacker_dump]
        assert ids == sorted(ids)
        assert sorted(dump_people) == sorted(answered_people)
        # Round by round, the k-th card in the file is the k-th card given only by chance.
        same_place = 0
        for round_id in _round_ids(played):
            in_file = [p for r, p in dump_people if r == round_id]
            given = [p for r, p in answered_people if r == round_id]
            same_place += sum(a == b for a, b in zip(in_file, given, strict=True))
        assert same_place <= len(answered_people) // 3, same_place
    else:
        # A PostgreSQL heap keeps insertion order, so the response rows come out in the order
        # they were given.  That order must then be joinable to nothing: the checks above show
        # that answering changes no row but the answers and the (sorted) participation set, so
        # no row naming a person (delivery, person, membership...) carries a time or an order
        # set by answering.
        assert sorted(dump_people) == sorted(answered_people)


async def test_v_logs_name_no_person_and_quote_no_comment(
    attack: tuple[Played, list[logging.LogRecord]],
) -> None:
    played, records = attack
    assert any("answer recorded" in r.getMessage() for r in records)  # the log was captured
    people = played.final["person"]
    forbidden = {p["email"] for p in people} | {p["display_name"] for p in people}
    forbidden |= {p["email"].split("@")[0] for p in people if len(p["email"].split("@")[0]) > 2}
    forbidden |= {g.comment for g in played.given} | {g.comment.split(":")[0] for g in played.given}
    forbidden.add("@" + email("x").split("@")[1])
    for record in records:
        line = record.getMessage() + " " + repr(record.__dict__)
        for value in forbidden:
            assert value not in line, (value, record.name, record.getMessage())


async def test_vi_lining_up_any_order_in_the_dump_does_no_better_than_chance(
    attack: tuple[Played, list[logging.LogRecord]], settings: Settings
) -> None:
    """The best-guess attacker: the k-th submission in dump order is the k-th person of some
    order the dump offers.  Right for only a handful of the 36 cards, as for a random guess."""
    played, _ = attack
    attacker = Attacker(played.final, settings.hashing_secret())
    truth = _truth(played, attacker)
    total = len(truth)
    assert total == 36
    by_email = {row["email"]: row["id"] for row in attacker.dump["person"]}
    scores: dict[str, int] = {}
    for round_id in _round_ids(played):
        submissions = attacker.submissions(round_id)
        assert sorted(attacker.who_answered(round_id)) == sorted(truth[s] for s in submissions)
        for name, order in attacker.orders(round_id).items():
            answered = [p for p in order if p in set(attacker.who_answered(round_id))]
            hits = sum(truth[s] == p for s, p in zip(submissions, answered, strict=True))
            scores[name] = scores.get(name, 0) + hits
        # The measure can tell a link when there is one: had the dump kept the order people
        # answered in, lining it up with that order would name everyone.
        known = [by_email[e] for e in played.order[round_id]]
        in_answer_order = sorted(submissions, key=lambda s: known.index(truth[s]))
        assert all(truth[s] == p for s, p in zip(in_answer_order, known, strict=True))
    for name, hits in scores.items():
        assert hits <= total // 3, (name, hits, total)


async def test_with_the_secret_a_card_still_hides_among_at_least_k_people(
    db: Database, settings: Settings
) -> None:
    """Five of Ward A answer.  Were the team split into question groups, a card's statements would
    tell its group and the attacker could narrow it to that group's respondents (here 4 and 1);
    with one set of statements per team and round, each card hides among all five."""
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    for name in ("a0", "a2", "a4", "a6", "a1"):
        [card] = await service.pending_pulses(email(name))
        await service.submit_pulse(email(name), card.round_id, {q.id: 3 for q in card.questions})
    await service.close_round(
        await service.team_named("Ward A")
    )  # the finished round: who answered is written in full
    attacker = Attacker(await dump(db), settings.hashing_secret())
    [pulse_round] = attacker.dump["pulse_round"]
    groups = [set(ids) for ids in json.loads(pulse_round["plan"])]
    group_of = {
        d["person_id"]: d["group_index"]
        for d in attacker.dump["delivery"]
        if d["round_id"] == pulse_round["id"]
    }
    answered = attacker.who_answered(pulse_round["id"])
    cards: dict[str, set[str]] = {}
    for row in attacker.dump["response"]:
        cards.setdefault(row["submission_id"], set()).add(row["question_id"])
    for questions in cards.values():
        group = groups.index(questions)
        candidates = [p for p in answered if group_of[p] == group]
        assert len(candidates) >= settings.min_group, (group, candidates)

"""The attacker's inference from the database's own log, shared by the SQLite and PostgreSQL tests.

The log gives the commits in order; for each commit, the attacker sees which answer cards
(submission ids) and which participation digests it added.  With the secret, a digest names a
person.  The sound inference for an answer: its author is among the digests added by the same
commit, if it added any; otherwise among the digests added by the commits after it, or among the
people not written down yet (a copy taken mid-round).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.service import TeamPulse
from bot.views import Receipt
from surveys.anonymity import participation_digest
from tests.support import email


@dataclass(frozen=True)
class Commit:
    answers: dict[int, frozenset[str]]  # round id -> submission ids it added
    digests: dict[int, frozenset[str]]  # round id -> participation digests it added


def diff(
    before: dict[int, frozenset[str]], after: dict[int, frozenset[str]]
) -> dict[int, frozenset[str]]:
    return {
        key: frozenset(after[key] - before.get(key, frozenset()))
        for key in after
        if after[key] - before.get(key, frozenset())
    }


def by_round(rounds: dict[str, int]) -> dict[int, frozenset[str]]:
    grouped: dict[int, set[str]] = {}
    for submission_id, round_id in rounds.items():
        grouped.setdefault(round_id, set()).add(submission_id)
    return {round_id: frozenset(ids) for round_id, ids in grouped.items()}


def candidates(
    commits: list[Commit], unwritten: dict[int, frozenset[str]]
) -> dict[str, frozenset[str]]:
    """submission id -> the digests among which the attacker can place its author."""
    found: dict[str, frozenset[str]] = {}
    for index, commit in enumerate(commits):
        for round_id, submissions in commit.answers.items():
            same = commit.digests.get(round_id)
            if same:
                people = same
            else:
                later = [c.digests.get(round_id, frozenset()) for c in commits[index + 1 :]]
                people = frozenset().union(*later, unwritten.get(round_id, frozenset()))
            for submission_id in submissions:
                found[submission_id] = people
    return found


@dataclass
class Scenario:
    """Ward A (12) and Ward B (6) answer one at a time, in a seeded random order, each card with
    a comment that tells the test (never the attacker) whose it is."""

    secret: bytes
    round_of: dict[str, int] = field(default_factory=dict)  # team -> round id
    person_ids: dict[str, int] = field(default_factory=dict)  # email -> person id
    comments: dict[str, tuple[str, int]] = field(default_factory=dict)  # -> (email, round)
    invited: dict[int, frozenset[str]] = field(default_factory=dict)  # round -> digests
    answered: list[str] = field(default_factory=list)  # emails in the order they answered

    def author(self, comment: str | None) -> str:
        assert comment is not None
        person, round_id = self.comments[comment]
        return participation_digest(self.secret, round_id, self.person_ids[person])


async def answer_one_at_a_time(
    service: TeamPulse,
    person_ids: dict[str, int],
    after_each: Callable[[int], Awaitable[None]],
) -> Scenario:
    scenario = Scenario(service.secret, person_ids=person_ids)
    people = [email(f"a{i}") for i in range(12)] + [email(f"b{i}") for i in range(6)]
    for team in ("Ward A", "Ward B"):
        await service.open_round(await service.team_named(team))
    await service.deliver_outbox()
    for person in people:
        [card] = await service.pending_pulses(person)
        scenario.round_of[card.team] = card.round_id
        digest = participation_digest(service.secret, card.round_id, person_ids[person])
        scenario.invited[card.round_id] = scenario.invited.get(card.round_id, frozenset()) | {
            digest
        }
    await after_each(-1)  # the rounds are open and delivered; nobody has answered
    random.Random(8).shuffle(people)
    for step, person in enumerate(people):
        [card] = await service.pending_pulses(person)
        comment = f"code word {step}"
        scenario.comments[comment] = (person, card.round_id)
        answers = {q.id: 1 + step % 5 for q in card.questions}
        receipt = await service.submit_pulse(
            person, card.round_id, answers, {card.questions[0].id: comment}
        )
        assert isinstance(receipt, Receipt)
        scenario.answered.append(person)
        await after_each(step)
    return scenario


def assert_hidden(
    scenario: Scenario,
    commits: list[Commit],
    comments: dict[str, str | None],
    rounds: dict[str, int],
    k: int,
    unwritten: dict[int, frozenset[str]],
) -> None:
    """Each answer's author stays among at least min(k, its round's respondents) people, and the
    inference is sound (the true author is among them)."""
    found = candidates(commits, unwritten)
    respondents: dict[int, int] = {}
    for round_id in rounds.values():
        respondents[round_id] = respondents.get(round_id, 0) + 1
    assert set(found) == set(rounds), "every answer card was seen being committed"
    for submission_id, people in found.items():
        round_id = rounds[submission_id]
        assert scenario.author(comments[submission_id]) in people, submission_id
        floor = min(k, respondents[round_id])
        assert len(people) >= floor, (submission_id, len(people), floor)


def assert_no_commit_narrows(commits: list[Commit], rounds: dict[str, int], k: int) -> None:
    """Even knowing which commit wrote an author's digest: no commit holds both answers and
    digests, and each commit that writes a round's digests writes at least min(k, R) of them."""
    respondents: dict[int, int] = {}
    for round_id in rounds.values():
        respondents[round_id] = respondents.get(round_id, 0) + 1
    for commit in commits:
        assert not (commit.answers and commit.digests), commit
        for round_id, digests in commit.digests.items():
            assert len(digests) >= min(k, respondents.get(round_id, 0)), (round_id, digests)

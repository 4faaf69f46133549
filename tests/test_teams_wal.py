"""DESIGN.md invariant 1 on the Teams pulse's path, against PostgreSQL's own log: a pulse answered
on its Adaptive Card (``Action.Execute``, and the ``Action.Submit`` fallback), by someone this
process has seen and by someone it has not, commits no transaction that names a person, a
platform account, a conversation or an inbound event in the answer's window (``pg_waldump``, as
``tests/test_wal_attacker.py`` reads it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters.teams.cards import card_for
from tests.conftest import BACKENDS
from tests.pg_wal import WalReader
from tests.teams_support import Teams, member, personal_message
from tests.test_teams_attacks import answers_for
from tests.test_teams_chat import execute, responses, submit_action

# what names someone (or their account, chat or request) and must not move beside an answer
# (who answered, ``participation``, is the core's and ``tests/test_wal_attacker.py``'s: its
# round's reservation commits first, on its own)
NAMING = (
    "person",
    "platformidentity",
    "conversation_reference",
    "inbound_event",
    "platform_place",
    "membership",
    "delivery",
)


def names_someone(relation: str) -> bool:
    return relation.removeprefix("ix_").startswith(NAMING)


async def pulse_data(teams: Teams, email: str) -> dict[str, Any]:
    [card] = await teams.service.pending_pulses(email)
    shown = card_for(card) or {}
    return {**submit_action(shown)["data"], **answers_for(shown), "about": "general"}


@pytest.mark.parametrize("database_url", [b for b in BACKENDS if b == "postgresql"], indirect=True)
async def test_a_teams_pulse_commits_nothing_that_names_anyone(
    teams: Teams, tmp_path: Path
) -> None:
    url = teams.fake.service_url
    seen, new = member("a1"), member("a3")
    teams.fake.add_member(new)
    await teams.say(seen, "pulse help")
    await teams.service.open_round(await teams.service.team_named("Ward A"))
    submits = [
        execute(new, url, "pulse.submit", await pulse_data(teams, new.email)),
        personal_message(seen, "", url, value=await pulse_data(teams, seen.email)),
    ]
    async with WalReader(teams.service.settings.database_url) as wal:
        start = await wal.mark()
        for submit in submits:
            assert (await teams.post(submit)).status < 300
        end = await wal.mark()
        log = await wal.transactions(start, end, tmp_path / "pg_wal")

    statements = [key for key in submits[1]["value"] if key.startswith("q:")]
    assert await responses(teams.service) == len(submits) * len(statements)
    answers = [t for t in log if t.touches("response")]
    assert answers, "the answers are in the window"
    assert not any(t.touches("participation") for t in answers)
    for transaction in log:
        assert not {r for r in transaction.relations if names_someone(r)}, transaction

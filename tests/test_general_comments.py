"""A comment tied to a statement, or left general (the default): stored with no link to the
person, shown under its theme or "General", and only once enough people answered.

A general comment has no theme, so the rule it is shown by is the week's: at least
``TEAMPULSE_MIN_COMMENT_GROUP`` people answered that week (``rollup_week.comments_published``,
with the same subtraction rule over the hierarchy), from rounds that week's cut counted.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from sqlalchemy import inspect, text

from adapters.local.console import answer_card
from bot.conversation import Conversation
from bot.service import GENERAL_COMMENT, TeamPulse
from bot.settings import Settings
from bot.views import PulseCard, Receipt, TextReply, TrendReportView
from storage.engine import Database
from surveys.responses import MAX_COMMENT
from tests.support import FixedClock, after_the_week, answers_for, email, make_service


async def report(service: TeamPulse, who: str, team: str) -> TrendReportView:
    [view] = await Conversation(service).handle(email(who), f"pulse trends {team}")
    assert isinstance(view, TrendReportView), view
    return view


async def shown(service: TeamPulse, who: str, team: str) -> list[tuple[str, str]]:
    return sorted((await report(service, who, team)).comments)


async def card_of(service: TeamPulse, person: str) -> PulseCard:
    [card] = await service.pending_pulses(email(person))
    return card


async def rows(db: Database, table: str) -> list[dict[str, Any]]:
    async with db.engine.connect() as connection:
        result = await connection.execute(text(f"SELECT * FROM {table}"))
        return [dict(row._mapping) for row in result]


async def open_round(service: TeamPulse, team: str) -> None:
    await service.open_round(await service.team_named(team))


async def close_round(service: TeamPulse, team: str) -> None:
    await service.close_round(await service.team_named(team))


# -- what is stored ------------------------------------------------------------------------------
async def test_a_general_comment_is_stored_with_its_round_only_and_the_answers_hold_none(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await open_round(service, "Ward A")
    card = await card_of(service, "a0")
    before = {table: await rows(db, table) for table in await _tables(db)}
    said = "Nights feel safer since the new rota"
    reply = await service.submit_pulse(
        email("a0"), card.round_id, answers_for(card), general_comment=said
    )
    assert isinstance(reply, Receipt)
    after = {table: await rows(db, table) for table in await _tables(db)}

    # answering wrote the answers and the general comment; participation changed only its
    # round-level count of answers that may repeat someone's (a reservation): no digest
    changed = {t for t in before if before[t] != after[t]}
    assert changed - {"participation"} == {"response", "general_comment"}
    assert [p["digests"] for p in after["participation"]] == [""]
    assert all(row["comment"] is None for row in after["response"])
    [stored] = after["general_comment"]
    assert set(stored) == {"id", "round_id", "comment", "sentiment"}  # no card id, score, day
    assert stored["comment"] == said and stored["round_id"] == card.round_id
    assert stored["sentiment"] is not None
    assert len(stored["id"]) == 32 and stored["id"] not in {r["id"] for r in after["response"]}
    person = [p for p in after["person"] if p["email"] == email("a0")]
    assert not {email("a0"), person[0]["display_name"]} & {str(v) for v in stored.values()}
    if db.url.startswith("sqlite"):
        async with db.engine.connect() as connection:
            sql = (
                await connection.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = 'general_comment'")
                )
            ).scalar_one()
        assert "WITHOUT ROWID" in sql.upper()  # the file keeps no order of arrival


async def _tables(db: Database) -> list[str]:
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    return sorted(set(names) - {"alembic_version"})


async def test_the_general_key_of_comments_is_the_same_as_general_comment(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await open_round(service, "Ward A")
    card = await card_of(service, "a1")
    said = {GENERAL_COMMENT: "Good week", card.questions[1].id: "Handover ran late"}
    assert isinstance(
        await service.submit_pulse(
            email("a1"), card.round_id, answers_for(card), said, general_comment="  "
        ),
        Receipt,
    )
    [general] = await rows(db, "general_comment")
    assert general["comment"] == "Good week"  # general_comment="" (blank) leaves it as it is
    tied = {r["question_id"]: r["comment"] for r in await rows(db, "response") if r["comment"]}
    assert tied == {card.questions[1].id: "Handover ran late"}


@pytest.mark.parametrize(
    ("comments", "general", "reason"),
    [
        ({}, "x" * (MAX_COMMENT + 1), f"{MAX_COMMENT} characters"),
        ({GENERAL_COMMENT: "x" * (MAX_COMMENT + 1)}, "", f"{MAX_COMMENT} characters"),
        ({GENERAL_COMMENT: "one"}, "two", "one general comment"),
        ({"not-a-statement-of-this-card": "words"}, "", "or general"),
    ],
)
async def test_a_bad_comment_is_refused_with_a_reason_and_nothing_is_stored(
    db: Database, settings: Settings, comments: dict[str, str], general: str, reason: str
) -> None:
    service, _ = await make_service(db, settings)
    await open_round(service, "Ward A")
    card = await card_of(service, "a2")
    reply = await service.submit_pulse(
        email("a2"), card.round_id, answers_for(card), comments, general_comment=general
    )
    assert isinstance(reply, TextReply) and reply.kind == "error"
    assert reason in reply.text
    assert await rows(db, "response") == [] and await rows(db, "general_comment") == []
    assert await service.pending_pulses(email("a2")) == [card]  # they may answer again


# -- what is shown -------------------------------------------------------------------------------
async def test_general_comments_show_under_general_once_ten_people_answered_the_week(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await open_round(service, "Ward A")
    theme = ""
    for i in range(10):
        card = await card_of(service, f"a{i}")
        theme = card.questions[1].theme
        comments = {card.questions[1].id: "Tied to the second"} if i == 9 else {}
        general = f"General words {i}" if i < 6 else ""
        await service.submit_pulse(
            email(f"a{i}"), card.round_id, answers_for(card), comments, general_comment=general
        )
    await close_round(service, "Ward A")
    assert await shown(service, "manager.a", "Ward A") == []  # the week is not over yet

    await after_the_week(service, clock)
    seen = await report(service, "manager.a", "Ward A")
    assert sorted(seen.comments) == sorted(
        [("General", f"General words {i}") for i in range(6)] + [(theme, "Tied to the second")]
    )
    assert seen.mood is not None  # the general comments count in the mood
    # members never see comments; the director sees the same comments for Medicine
    assert await shown(service, "director", "Medicine") == sorted(seen.comments)


async def test_a_general_comment_of_fewer_than_ten_people_is_never_shown(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await open_round(service, "Ward B")  # six people
    for i in range(6):
        card = await card_of(service, f"b{i}")
        await service.submit_pulse(
            email(f"b{i}"), card.round_id, answers_for(card), general_comment=f"From b{i}"
        )
    await close_round(service, "Ward B")
    await after_the_week(service, clock)
    assert (await report(service, "manager.b", "Ward B")).themes  # the scores are out (6 >= 5)
    assert await shown(service, "manager.b", "Ward B") == []
    assert await shown(service, "director", "Medicine") == []


async def test_a_small_teams_general_comment_cannot_be_had_by_subtracting_reports(
    db: Database, settings: Settings
) -> None:
    """Ward A (12 people) alone would show its comments, but Medicine (12 + 6 + 3) minus Ward A
    would then be the 9 people of Ward B and Tiny: so Ward A's comments are withheld and only
    Medicine, as a whole of 21 people, shows the three general comments."""
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    said = {"a0": "Ward A is fine", "b0": "Only Ward B knows this", "t0": "Tiny is short"}
    for team, people in (("Ward A", 12), ("Ward B", 6), ("Tiny", 3)):
        await open_round(service, team)
        for i in range(people):
            person = f"{team[-1].lower()}{i}" if team != "Tiny" else f"t{i}"
            card = await card_of(service, person)
            await service.submit_pulse(
                email(person),
                card.round_id,
                answers_for(card),
                general_comment=said.get(person, ""),
            )
        await close_round(service, team)
    await after_the_week(service, clock)

    everything = sorted(("General", words) for words in said.values())
    assert await shown(service, "director", "Medicine") == everything
    for team in ("Ward A", "Ward B"):
        assert await shown(service, "director", team) == [], team
    [tiny] = await Conversation(service).handle(email("director"), "pulse trends Tiny")
    assert isinstance(tiny, TextReply) and "only as part of Medicine" in tiny.text
    assert await shown(service, "manager.a", "Ward A") == []
    assert await shown(service, "manager.b", "Ward B") == []


# -- the console ---------------------------------------------------------------------------------
async def test_the_console_asks_what_the_comment_is_about_and_enter_is_general(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await open_round(service, "Ward A")
    theme = ""
    for i in range(10):
        card = await card_of(service, f"a{i}")
        theme = card.questions[1].theme
        scores = "".join(f"{score}\n" for score in ("9", "4", "4", "4"))  # 9: asked again
        if i == 0:
            typed = scores + "About the second statement\n7\nx\n2\n"  # 7, x: asked again
        elif i < 4:
            typed = scores + f"General from a{i}\n\n"  # Enter: general
        else:
            typed = scores + "\n"  # no comment
        monkeypatch.setattr("sys.stdin", io.StringIO(typed))
        assert isinstance(await answer_card(Conversation(service), email(f"a{i}"), card), Receipt)
    assert "About which statement (1, 2, 3)?" in capsys.readouterr().out
    await close_round(service, "Ward A")
    assert await shown(service, "manager.a", "Ward A") == []

    await after_the_week(service, clock)
    assert await shown(service, "manager.a", "Ward A") == sorted(
        [("General", f"General from a{i}") for i in range(1, 4)]
        + [(theme, "About the second statement")]
    )

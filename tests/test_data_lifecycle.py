"""Comments kept only for ``TEAMPULSE_COMMENT_RETENTION_MONTHS`` (published figures kept), and
``teampulse person forget``: on SQLite and PostgreSQL, through the service and the command line
an operator uses."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from click.testing import CliRunner, Result
from sqlalchemy import text

from bot.cli import main
from bot.conversation import Conversation
from bot.scheduler import PulseScheduler
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import TrendReportView
from storage.engine import Database
from tests.support import FixedClock, after_the_week, answers_for, email, make_service
from tests.test_leader import until

FIGURES = "SELECT * FROM {} ORDER BY team_id, week"
SCORES = "SELECT round_id, question_id, score FROM response ORDER BY 1, 2, 3"
OLD_WORDS = "the old rota was unsafe"
NEW_WORDS = "handover is better now"


async def teampulse(database_url: str, *args: str, env: dict[str, str] | None = None) -> Result:
    """The command line, as an operator runs it (in a thread: it runs its own event loop)."""
    variables = {
        "DATABASE_URL": database_url,
        "TEAMPULSE_SECRET": "cli-test-secret",
        "TEAMPULSE_LOCAL_CHAT": "on",
        **(env or {}),
    }
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=variables)


async def rows(db: Database, query: str) -> list[dict[str, Any]]:
    async with db.engine.connect() as connection:
        return [dict(row._mapping) for row in await connection.execute(text(query))]


COUNTS = ("comments", "moods", "mood_total", "general_comments", "general_moods")


def figures(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rollup rows without the comments they count (retention takes those off), in key order
    (PostgreSQL moves an updated row)."""
    kept = [{k: v for k, v in row.items() if k not in COUNTS and "mood" not in k} for row in found]
    return sorted(kept, key=lambda row: (row["team_id"], str(row["week"]), row.get("theme", "")))


def counted(row: dict[str, Any]) -> bool:
    return any(row.get(name) for name in COUNTS)


async def comments(db: Database) -> list[str]:
    tied = await rows(db, "SELECT comment FROM response WHERE comment IS NOT NULL")
    general = await rows(db, "SELECT comment FROM general_comment")
    return sorted(str(row["comment"]) for row in tied + general)


async def answered_round(service: TeamPulse, words: str) -> None:
    """Ward A's round, ten people answering: five with a comment on a statement, five general."""
    await service.open_round(await service.team_named("Ward A"))
    for i in range(10):
        [card] = await service.pending_pulses(email(f"a{i}"))
        tied = {card.questions[0].id: f"{words} ({i})"} if i < 5 else {}
        general = f"{words} [{i}]" if i >= 5 else ""
        await service.submit_pulse(
            email(f"a{i}"), card.round_id, answers_for(card, 2), tied, general_comment=general
        )
    await service.close_round(await service.team_named("Ward A"))


async def report(service: TeamPulse) -> TrendReportView:
    [view] = await Conversation(service).handle(email("manager.a"), "pulse trends Ward A")
    assert isinstance(view, TrendReportView), view
    return view


async def test_comments_past_retention_go_and_the_published_figures_stay(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    one_month = settings.model_copy(update={"comment_retention_months": 1})
    service, _ = await make_service(db, one_month, clock)
    await answered_round(service, OLD_WORDS)
    await after_the_week(service, clock)
    before = await report(service)
    assert len(before.comments) == 10 and before.themes
    cells, weeks = (
        await rows(db, FIGURES.format("rollup_cell")),
        await rows(db, FIGURES.format("rollup_week")),
    )
    assert cells and weeks

    clock.now = datetime(2027, 1, 4, 10, 0, tzinfo=UTC)  # a round five weeks later
    await answered_round(service, NEW_WORDS)
    clock.now = datetime(2027, 1, 8, 10, 0, tzinfo=UTC)
    answers = await rows(db, SCORES)
    pruned = await service.prune_comments()
    assert (pruned.statement_comments, pruned.general_comments) == (5, 5)
    assert str(pruned.cutoff) == "2026-12-08"
    assert all(NEW_WORDS in words for words in await comments(db))
    assert len(await comments(db)) == 10
    # the old week's figures are what they were but for the comments they count, now none;
    # its report has lost its comments only
    cells_after = await rows(db, FIGURES.format("rollup_cell"))
    weeks_after = await rows(db, FIGURES.format("rollup_week"))
    assert figures(cells_after) == figures(cells) and figures(weeks_after) == figures(weeks)
    assert sum(cell["comments"] for cell in cells) == 10  # Ward A's, and Medicine's
    assert sum(week["general_comments"] for week in weeks) == 10  # Ward A's, and Medicine's
    assert not any(counted(row) for row in cells_after + weeks_after)
    assert await rows(db, SCORES) == answers
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    after = await report(service)
    assert after.comments == () and after.mood is None
    assert after.themes == before.themes and after.rounds == before.rounds
    clock.now = datetime(2027, 1, 8, 10, 0, tzinfo=UTC)
    again = await service.prune_comments()
    assert (again.statement_comments, again.general_comments) == (0, 0)


async def test_data_prune_on_the_command_line_keeps_comments_when_retention_is_zero(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock(datetime(2020, 3, 2, 10, 0, tzinfo=UTC))  # long before any retention
    service, _ = await make_service(db, settings, clock)
    await answered_round(service, OLD_WORDS)
    await db.dispose()

    kept = await teampulse(
        settings.database_url, "data", "prune", env={"TEAMPULSE_COMMENT_RETENTION_MONTHS": "0"}
    )
    assert kept.exit_code == 0, kept.output
    assert "comments are kept" in kept.output and len(await comments(db)) == 10

    pruned = await teampulse(settings.database_url, "data", "prune")  # the default: 24 months
    assert pruned.exit_code == 0, pruned.output
    assert "5 on statements, 5 general" in pruned.output
    assert await comments(db) == []
    answers = await rows(db, "SELECT score FROM response")
    assert answers and {row["score"] for row in answers} == {2}  # the scores are kept


async def test_person_forget_erases_their_identity_and_on_request_their_kudos_words(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    chat = Conversation(service)
    await chat.handle(email("a0"), "kudos @a1 thanks for covering the night shift #teamwork")
    await chat.handle(email("a2"), "kudos @a1 brilliant handover #teamwork")
    await chat.handle(email("a3"), "kudos @a0 you stayed late for us #compassion")
    recipient = await service.identities.recipient(email("a0"))
    assert recipient is not None
    await service.identities.link("slack", recipient, "UA0")
    await service.identities.update_reference("slack", recipient, {"channel": "DA0"})
    await service.open_round(await service.team_named("Ward A"))  # a0's pulse not yet sent
    [card] = await service.pending_pulses(email("a4"))
    await service.submit_pulse(email("a4"), card.round_id, answers_for(card))
    answers = len(await rows(db, "SELECT * FROM response"))
    await db.dispose()

    shown = await teampulse(settings.database_url, "person", "show", email("a0"))
    assert shown.exit_code == 0, shown.output
    held = json.loads(shown.output)
    assert held["person"]["email"] == email("a0")
    assert held["teams"] == [{"team": "Ward A", "role": "member"}]
    assert held["platform_accounts"] == [
        {"platform": "slack", "account": "UA0", "reference": {"channel": "DA0"}}
    ]
    assert [p["status"] for p in held["pulses_sent"]] == ["pending"]
    assert [k["message"] for k in held["kudos_given"]] == ["thanks for covering the night shift"]
    assert [k["message"] for k in held["kudos_received"]] == ["you stayed late for us"]
    assert "nothing stored links an answer" in held["not_held"]
    assert email("a1") not in shown.output and email("a3") not in shown.output  # third parties

    unknown = await teampulse(settings.database_url, "person", "forget", "nobody@x.org", "--yes")
    assert unknown.exit_code == 1 and "no one with the email nobody@x.org" in unknown.output
    done = await teampulse(
        settings.database_url, "person", "forget", email("a0").upper(), "--kudos-text", "--yes"
    )
    assert done.exit_code == 0, done.output
    for line in (
        "platform accounts removed: 1",
        "conversation references removed: 1",
        "team memberships removed: 1",
        "unsent pulses dropped: 1",
        "kudos whose words were removed: 2",
    ):
        assert line in done.output, done.output
    assert email("a1") not in done.output and email("a3") not in done.output  # no one else

    assert await rows(db, f"SELECT * FROM person WHERE email = '{email('a0')}'") == []
    [forgotten] = await rows(db, "SELECT * FROM person WHERE display_name = 'Someone who left'")
    assert str(forgotten["email"]).endswith("@forgotten.invalid")
    mine = f"WHERE person_id = {forgotten['id']}"
    for table in ("platformidentity", "conversation_reference", "membership"):
        assert await rows(db, f"SELECT * FROM {table} {mine}") == [], table
    assert await rows(db, f"SELECT * FROM delivery {mine} AND status = 'pending'") == []
    messages = sorted(str(r["message"]) for r in await rows(db, "SELECT * FROM recognition"))
    assert messages == ["(message removed)", "(message removed)", "brilliant handover"]
    assert len(await rows(db, "SELECT * FROM response")) == answers  # nobody's answers go
    assert await service.identities.recipient(email("a0")) is None

    again = await teampulse(settings.database_url, "person", "forget", email("a0"), "--yes")
    assert again.exit_code == 1  # already forgotten: the email is no longer known
    gone = await teampulse(settings.database_url, "person", "show", email("a0"))
    assert gone.exit_code == 1 and "no one with the email" in gone.output


async def test_backup_writes_a_copy_that_restores(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    await make_service(db, settings)  # the Test Trust: 26 people
    people = len(await rows(db, "SELECT * FROM person"))
    await db.dispose()
    target = tmp_path / "backup.out"
    done = await teampulse(settings.database_url, "backup", "-o", str(target))
    if settings.database_url.startswith("sqlite"):
        assert done.exit_code == 0, done.output
        with closing(sqlite3.connect(target)) as copy:
            assert copy.execute("SELECT count(*) FROM person").fetchone() == (people,)
        return
    if shutil.which("pg_dump") is None:  # the operator is told what to run instead
        assert done.exit_code == 1 and "docker compose exec db pg_dump" in done.output
        return
    assert done.exit_code == 0, done.output
    assert "Backed up to" in done.output and "password" not in done.output.lower()
    listed = subprocess.run(
        ["pg_restore", "--list", str(target)], capture_output=True, text=True, check=True
    )
    assert "TABLE DATA public person" in listed.stdout
    assert "TABLE DATA public response" in listed.stdout


async def test_the_server_prunes_comments_daily_at_half_past_three(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock(datetime(2020, 3, 2, 10, 0, tzinfo=UTC))
    service, _ = await make_service(db, settings, clock)
    await answered_round(service, OLD_WORDS)
    clock.now = datetime.now(UTC)
    scheduler = PulseScheduler(service)
    await scheduler.start()
    try:
        await until(lambda: scheduler.leading)  # the retention job is the elected leader's
        job = scheduler.scheduler.get_job("retention")
        assert job is not None
        local = job.next_run_time.astimezone(ZoneInfo(settings.timezone))
        assert (local.hour, local.minute) == (3, 30)
        assert local - datetime.now(UTC) <= timedelta(days=1)  # daily
        await job.func()  # what APScheduler runs then
    finally:
        await scheduler.stop()
    assert await comments(db) == []

"""What ``bench/trends.py`` compares the report with, and checks it against: the hand-written
SQL baseline, the rows it reads, the statements the report and the command send, the rollups
agreeing with the baseline, and the query plans (``--explain``)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, event, text  # noqa: E402
from trends_backends import Backend  # noqa: E402  (bench/ is on sys.path when run as a script)
from trends_data import MIN_COMMENT_GROUP, MIN_GROUP, REPORT_WEEKS, TODAY  # noqa: E402

from storage.engine import Database  # noqa: E402
from surveys.anonymity import Thresholds  # noqa: E402
from surveys.kudos_counts import counts_since  # noqa: E402
from surveys.rollup import week_of  # noqa: E402
from surveys.trends import team_trend  # noqa: E402


def baseline_sql(backend: Backend) -> Any:
    """The hand-written aggregate: a team's responses of the 24 weeks, by week and theme."""
    week = backend.week_expr("coalesce(pr.report_week, pr.opened_on)")
    return text(
        f"""
        SELECT week, theme,
               count(DISTINCT submission_id) AS respondents,
               count(*) AS answers,
               sum(score) AS total,
               sum(score * score) AS squares,
               sum(CASE WHEN score >= 4 THEN 1 ELSE 0 END) AS favourable,
               sum(CASE WHEN score <= 2 THEN 1 ELSE 0 END) AS unfavourable
        FROM (
            SELECT {week} AS week, q.theme AS theme, r.submission_id AS submission_id,
                   CASE WHEN q.reverse THEN 6 - r.score ELSE r.score END AS score
            FROM response r
            JOIN question q ON q.id = r.question_id
            JOIN pulse_round pr ON pr.id = r.round_id
            WHERE r.team_id IN :teams AND r.day >= :since
              AND pr.team_id IN :teams AND pr.closed = :closed
        ) answers
        GROUP BY week, theme
        """
    ).bindparams(bindparam("teams", expanding=True))


# The command's yardstick: the simplest statements that do what ``pulse trends`` does besides
# the scores (``baseline_sql``): who is asking and the team they manage, with its member count
# for the size check; and the kudos received and given by value over the reported weeks.
MANAGER_SQL = text(
    """
    SELECT t.id, t.name,
           (SELECT count(*) FROM membership s WHERE s.team_id = t.id AND s.role = 'member')
    FROM person p
    JOIN membership m ON m.person_id = p.id AND m.role = 'manager'
    JOIN team t ON t.id = m.team_id AND t.organisation_id = p.organisation_id
    WHERE p.email = :email
    ORDER BY t.name
    LIMIT 1
    """
)
KUDOS_SQL = text(
    """
    SELECT 'received', r.value, count(DISTINCT r.id)
    FROM recognition r JOIN recognition_recipient rr ON rr.recognition_id = r.id
    WHERE rr.team_id IN :teams AND r.created_on >= :since
    GROUP BY r.value
    UNION ALL
    SELECT 'given', value, count(*)
    FROM recognition
    WHERE team_id IN :teams AND created_on >= :since
    GROUP BY value
    """
).bindparams(bindparam("teams", expanding=True))


def period_start() -> date:
    return week_of(TODAY) - timedelta(weeks=REPORT_WEEKS - 1)


def previous_start() -> date:
    return week_of(TODAY) - timedelta(weeks=2 * REPORT_WEEKS - 1)


@dataclass
class Scope:
    label: str
    team_id: int
    subtree: list[int]
    manager: str


async def count(db: Database, sql: str, **params: Any) -> int:
    async with db.session() as session:
        connection = await session.connection()
        return int((await connection.execute(text(sql), params)).scalar_one())


async def count_in(db: Database, teams: list[int], since: date) -> int:
    query = text("SELECT count(*) FROM response WHERE team_id IN :teams AND day >= :since")
    query = query.bindparams(bindparam("teams", expanding=True))
    async with db.session() as session:
        connection = await session.connection()
        return int((await connection.execute(query, {"teams": teams, "since": since})).scalar_one())


async def statements_of(db: Database, step: Callable[[], Awaitable[None]]) -> int:
    """How many statements one run of ``step`` sends to the database (its round trips; the
    rows each reads are in ``--explain``'s plans)."""
    sent = 0

    def count(*_: Any) -> None:
        nonlocal sent
        sent += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await step()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    return sent


async def check_rollups(backend: Backend, db: Database, scope: Scope) -> None:
    """The rollup cells the report reads agree with the hand-written aggregate."""
    async with db.session() as session:
        connection = await session.connection()
        params = {"teams": scope.subtree, "since": previous_start(), "closed": True}
        direct = {
            (str(r[0]), r[1]): tuple(float(v) for v in r[2:])
            for r in (await connection.execute(baseline_sql(backend), params)).all()
        }
        cells = (
            await connection.execute(
                text(
                    "SELECT week, theme, respondents, answers, total, squares, favourable, "
                    "unfavourable FROM rollup_cell WHERE team_id = :t AND week >= :s "
                    "AND theme != 'advocacy'"
                ),
                {"t": scope.team_id, "s": previous_start()},
            )
        ).all()
    rolled = {(str(r[0]), r[1]): tuple(float(v) for v in r[2:]) for r in cells}
    if rolled != direct:
        raise SystemExit(f"rollups disagree with the baseline for {scope.label}")


async def check_command_baseline(db: Database, scope: Scope, weeks: int, today: date) -> None:
    """The command's yardstick finds the manager's team and the kudos the command shows."""
    since = week_of(today) - timedelta(weeks=weeks - 1)
    async with db.session() as session:
        connection = await session.connection()
        team_id, _, _ = (await connection.execute(MANAGER_SQL, {"email": scope.manager})).one()
        rows = await connection.execute(KUDOS_SQL, {"teams": scope.subtree, "since": since})
        counted = await counts_since(session, scope.team_id, since, today)
    direct: dict[str, list[tuple[str, int]]] = {"received": [], "given": []}
    for kind, value, number in sorted(rows.all()):
        direct[kind].append((value, int(number)))
    if team_id != scope.team_id or direct != {"received": counted.received, "given": counted.given}:
        raise SystemExit(f"the command's baseline disagrees with the command for {scope.label}")


async def explain(backend: Backend, db: Database, scope: Scope) -> list[str]:
    """The plans of every statement the report runs, and of the baseline."""
    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _m: Any) -> None:
        statements.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with db.session() as session:
            await team_trend(
                session,
                scope.team_id,
                len(scope.subtree) > 1,
                REPORT_WEEKS,
                TODAY,
                Thresholds(MIN_GROUP, MIN_COMMENT_GROUP),
            )
            connection = await session.connection()
            params = {"teams": scope.subtree, "since": previous_start(), "closed": True}
            await connection.execute(baseline_sql(backend), params)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    out = []
    async with db.session() as session:
        connection = await session.connection()
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            rows = await connection.exec_driver_sql(
                backend.explain_prefix() + statement, parameters
            )
            plan = [" | ".join(str(c) for c in row) for row in rows.all()]
            out.append(" ".join(statement.split())[:160] + "\n    " + "\n    ".join(plan))
    return out

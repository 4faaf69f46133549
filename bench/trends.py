"""Trend report benchmark: one team's ``pulse trends`` report against a hand-written SQL aggregate.

For each size and backend it builds, in a fresh database migrated with ``storage.migrate.upgrade``:

* an organisation of 2,021 teams: 1 trust -> 20 directorates -> 100 wards each (the 2,000 wards
  answer pulses), about 28,000 people and their memberships, and the question bank synced with
  ``surveys.organisation.sync_questions``;
* 52 weeks of closed weekly pulses: one ``pulse_round`` per ward and week (104,000 rounds), its
  ``participation`` row, one ``delivery`` row per ward member (so "invited" is real), some kudos,
  and N ``response`` rows (random ids; 3 to 5 answers per submission; scores 1-5; some comments
  with their TextBlob polarity).  Rows are written in bulk (sqlite3 ``executemany``, asyncpg
  ``COPY``), not through the submit path;
* the published rollups, rebuilt week by week with ``surveys.rollup.rebuild_weeks`` as closing a
  week's rounds does (timed: that is the cost paid at round close).

Then it times, interleaved in the same run, for one ward (and, with fewer runs, its directorate and
the trust):

* ``report``: ``surveys.trends.team_trend`` (what ``pulse trends`` computes);
* ``chat``: ``Conversation.handle(manager, "pulse trends")``, the whole command without the chart
  (the PNG is rendered off the request path; its time is printed separately);
* ``baseline``: one hand-written SQL statement aggregating the same teams' responses of the same
  24 weeks (12 reported + 12 compared) by week and theme, straight from ``response``.

The measured ward has the same shape at every size (16 people; 10-14 of them answer 4 questions
each week; its own random stream), so its rows are identical at 100,000 and 1,000,000 responses;
the other rows are spread over the other 1,999 wards.  The table grows; the team does not.

Usage::

    .venv/bin/python bench/trends.py --sizes 100000,1000000 --backends sqlite,postgresql --runs 50

PostgreSQL: ``--pg-url`` names the server (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/
postgres``); a fresh database is created for each size and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402
import numpy as np  # noqa: E402
from sqlalchemy import bindparam, event, text  # noqa: E402

import bot.conversation as conversation_module  # noqa: E402
from bot.charts import render_chart  # noqa: E402
from bot.conversation import Conversation  # noqa: E402
from bot.service import TeamPulse  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.views import TrendReportView, View  # noqa: E402
from storage.engine import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from surveys.anonymity import Thresholds  # noqa: E402
from surveys.bank import interleave_by_theme, load_bank, plan_round  # noqa: E402
from surveys.organisation import sync_questions  # noqa: E402
from surveys.recognition import DEFAULT_VALUES  # noqa: E402
from surveys.responses import sentiment_of  # noqa: E402
from surveys.rollup import rebuild_weeks, week_of  # noqa: E402
from surveys.trends import TrendSummary, team_trend  # noqa: E402

DIRECTORATES = 20
WARDS_PER_DIRECTORATE = 100
WARDS = DIRECTORATES * WARDS_PER_DIRECTORATE
WEEKS = 52
REPORT_WEEKS = 12  # the default period of "pulse trends"
TODAY = date(2026, 11, 28)  # a Saturday: the last week's rounds (opened Monday 23 Nov) have closed
LAST_MONDAY = week_of(TODAY)
FIRST_MONDAY = LAST_MONDAY - timedelta(weeks=WEEKS - 1)
DOMAIN = "bench.example"
MIN_GROUP = 5
MIN_COMMENT_GROUP = 10

# The measured ward: same shape at every size.
FOCUS_PEOPLE = 16
FOCUS_PER_PULSE = 4
FOCUS_RESPONDENTS = (10, 14)

TRUST_ID = 1
COMMENT_RATE = 0.12
KUDOS_RATE = 0.4  # kudos per ward and week

COMMENTS = {
    "good": [
        "Really supportive team this week, thank you all.",
        "Great handover and a calm shift, well done everyone.",
        "My manager listened and acted on what I raised.",
        "Lovely to feel appreciated after a busy weekend.",
        "Good teamwork on the night shift, we helped each other.",
        "Training session was useful and well organised.",
    ],
    "mixed": [
        "Busy week, some days better than others.",
        "Staffing was okay but the rota changed late.",
        "Not sure the new process has made much difference yet.",
        "Handovers are fine, breaks are still hard to take.",
    ],
    "bad": [
        "Short staffed again and nobody seems to notice.",
        "Too tired to take breaks, it is not sustainable.",
        "I raised a concern and heard nothing back.",
        "Felt rushed and unsupported on the late shift.",
        "Poor communication about the ward move, very stressful.",
    ],
}


# -- the organisation ------------------------------------------------------------------------------
@dataclass
class Ward:
    index: int
    team_id: int
    parent_id: int
    people: list[int]
    per_pulse: int
    groups: int
    mean: float
    answers: list[int]  # per week
    rnd: random.Random


@dataclass
class Org:
    size: int
    wards: list[Ward]
    people: list[tuple[int, str]]  # id, email
    managers: dict[int, list[int]]  # team id -> manager person ids

    @property
    def focus(self) -> Ward:
        return self.wards[0]

    def directorate_ids(self) -> list[int]:
        return [TRUST_ID + 1 + d for d in range(DIRECTORATES)]

    def email(self, person_id: int) -> str:
        return self.people[person_id - 1][1]

    def manager_of(self, team_id: int) -> str:
        return self.email(self.managers[team_id][0])

    def subtree(self, team_id: int) -> list[int]:
        if team_id == TRUST_ID:
            return [TRUST_ID, *self.directorate_ids(), *(w.team_id for w in self.wards)]
        if team_id in self.directorate_ids():
            return [team_id, *(w.team_id for w in self.wards if w.parent_id == team_id)]
        return [team_id]


def plan_org(size: int, seed: int) -> Org:
    """Who is where, and how many answers each ward gives each week (the focus ward's fixed)."""
    focus_rnd = random.Random(f"{seed}:focus")
    focus_answers = [FOCUS_PER_PULSE * focus_rnd.randint(*FOCUS_RESPONDENTS) for _ in range(WEEKS)]
    background = size - sum(focus_answers)
    if background < 0:
        raise SystemExit(f"--sizes: {size} is below the measured ward's {sum(focus_answers)} rows")
    rng = np.random.default_rng(seed)
    others = WARDS - 1
    weight = rng.gamma(2.0, 0.5, others)  # engagement differs between wards (mean 1)
    noise = rng.uniform(0.6, 1.4, (others, WEEKS))  # and from week to week
    share = (weight[:, None] * noise).ravel()
    answers = rng.multinomial(background, share / share.sum()).reshape(others, WEEKS)
    per_pulse = rng.integers(3, 6, others)
    base_people = rng.integers(8, 21, others)
    means = rng.normal(3.7, 0.35, others)

    people: list[tuple[int, str]] = []

    def person(local: str) -> int:
        people.append((len(people) + 1, f"{local}@{DOMAIN}"))
        return len(people)

    managers = {TRUST_ID: [person("chief.executive"), person("chair")]}
    for d in range(DIRECTORATES):
        managers[TRUST_ID + 1 + d] = [person(f"director.{d + 1:02d}")]
    wards = []
    for index in range(WARDS):
        team_id = TRUST_ID + 1 + DIRECTORATES + index
        parent_id = TRUST_ID + 1 + index // WARDS_PER_DIRECTORATE
        if index == 0:
            weekly, per, size_, mean = focus_answers, FOCUS_PER_PULSE, FOCUS_PEOPLE, 3.6
            rnd = random.Random(f"{seed}:focus:rows")
        else:
            weekly = [int(a) for a in answers[index - 1]]
            per, mean = int(per_pulse[index - 1]), float(means[index - 1])
            most = max(math.ceil(a / per) for a in weekly)
            size_ = max(int(base_people[index - 1]), most)
            rnd = random.Random(f"{seed}:ward:{index}")
        roster = [person(f"ward{index + 1:04d}.staff{j + 1:02d}") for j in range(size_)]
        managers[team_id] = [roster[0]]  # the ward manager answers pulses too
        wards.append(
            Ward(
                index=index,
                team_id=team_id,
                parent_id=parent_id,
                people=roster,
                per_pulse=per,
                groups=1,  # one question set per team and round, as open_round plans
                mean=mean,
                answers=weekly,
                rnd=rnd,
            )
        )
    return Org(size=size, wards=wards, people=people, managers=managers)


# -- rows ------------------------------------------------------------------------------------------
Row = tuple[Any, ...]


@dataclass
class Formats:
    """How a backend takes dates and times (sqlite3: SQLAlchemy's text forms; asyncpg: objects)."""

    sqlite: bool

    def day(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    def stamp(self, value: datetime) -> Any:
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value


@dataclass
class Tables:
    rows: dict[str, list[Row]] = field(default_factory=dict)

    def add(self, table: str, row: Row) -> None:
        self.rows.setdefault(table, []).append(row)

    def rows_of(self, table: str) -> list[Row]:
        return self.rows.setdefault(table, [])


COLUMNS = {
    "organisation": ["id", "name", "is_demo"],
    "team": [
        "id",
        "organisation_id",
        "name",
        "parent_id",
        "cadence",
        "schedule_day",
        "schedule_time",
        "questions_per_pulse",
        "created_at",
    ],
    "person": ["id", "organisation_id", "email", "display_name"],
    "membership": ["id", "team_id", "person_id", "role"],
    "pulse_round": [
        "id",
        "team_id",
        "sequence",
        "opened_on",
        "closes_on",
        "closed",
        "report_week",
        "plan",
    ],
    "participation": ["round_id", "digests", "respondents"],
    "delivery": [
        "id",
        "round_id",
        "person_id",
        "group_index",
        "status",
        "attempts",
        "sent_at",
    ],
    "response": [
        "id",
        "submission_id",
        "round_id",
        "team_id",
        "question_id",
        "score",
        "comment",
        "sentiment",
        "day",
    ],
    "recognition": [
        "id",
        "organisation_id",
        "giver_id",
        "team_id",
        "message",
        "value",
        "created_on",
        "created_at",
    ],
    "recognition_recipient": ["recognition_id", "person_id", "team_id"],
}


def org_rows(org: Org, fmt: Formats) -> Tables:
    out = Tables()
    created = fmt.stamp(datetime(2025, 1, 6, 9, 0, tzinfo=UTC))
    out.add("organisation", (1, "Bench NHS Trust", False))

    def team(team_id: int, name: str, parent: int | None, per_pulse: int = 3) -> None:
        row = (team_id, 1, name, parent, "weekly", "mon", "10:00", per_pulse, created)
        out.add("team", row)

    team(TRUST_ID, "Bench Trust", None)
    for d in range(DIRECTORATES):
        team(TRUST_ID + 1 + d, f"Directorate {d + 1:02d}", TRUST_ID)
    for ward in org.wards:
        team(ward.team_id, f"Ward {ward.index + 1:04d}", ward.parent_id, ward.per_pulse)
    for person_id, email in org.people:
        out.add("person", (person_id, 1, email, email.split("@")[0].replace(".", " ").title()))
    memberships = [(team_id, p, "manager") for team_id, ps in org.managers.items() for p in ps]
    memberships += [(w.team_id, p, "member") for w in org.wards for p in w.people]
    for number, (team_id, person_id, role) in enumerate(memberships, 1):
        out.add("membership", (number, team_id, person_id, role))
    return out


@dataclass
class Comments:
    text: dict[str, list[tuple[str, float]]]

    @classmethod
    def build(cls) -> Comments:
        return cls({k: [(t, sentiment_of(t)) for t in v] for k, v in COMMENTS.items()})

    def pick(self, rnd: random.Random, score: int) -> tuple[str, float]:
        mood = "good" if score >= 4 else "bad" if score <= 2 else "mixed"
        return rnd.choice(self.text[mood])


class Generator:
    """One week's rows for every ward; each ward draws from its own random stream."""

    def __init__(self, org: Org, fmt: Formats) -> None:
        bank = load_bank()
        self.org, self.fmt = org, fmt
        self.cycle = interleave_by_theme(list(bank.questions))
        self.reverse = {q.id: q.reverse for q in bank.questions}
        shift = {t.id: (i % 5 - 2) * 0.12 for i, t in enumerate(bank.themes)}
        self.theme_shift = {q.id: shift[q.theme] for q in bank.questions}
        self.comments = Comments.build()
        self.plans: dict[tuple[int, int, int], list[list[str]]] = {}
        self.delivery_id = 0
        self.kudos_id = 0
        self.values = sorted(DEFAULT_VALUES)

    def plan(self, sequence: int, per_pulse: int, groups: int) -> list[list[str]]:
        key = (sequence, per_pulse, groups)
        if key not in self.plans:
            self.plans[key] = plan_round(self.cycle, sequence, per_pulse, groups).groups
        return self.plans[key]

    def week(self, week: int) -> Tables:
        out = Tables()
        opened = FIRST_MONDAY + timedelta(weeks=week)
        days = [self.fmt.day(opened + timedelta(days=d)) for d in range(5)]
        sent = self.fmt.stamp(datetime.combine(opened, datetime.min.time(), UTC).replace(hour=10))
        for ward in self.org.wards:
            self._round(out, ward, week, opened, days, sent)
        return out

    def _round(
        self, out: Tables, ward: Ward, week: int, opened: date, days: list[Any], sent: Any
    ) -> None:
        rnd, fmt = ward.rnd, self.fmt
        random_, gauss, getrandbits = rnd.random, rnd.gauss, rnd.getrandbits
        round_id = ward.index * WEEKS + week + 1
        plan = self.plan(week + 1, ward.per_pulse, ward.groups)
        plan_text = json.dumps(plan)
        opened_on, closes_on = fmt.day(opened), fmt.day(opened + timedelta(days=5))
        out.add(
            "pulse_round",
            (round_id, ward.team_id, week + 1, opened_on, closes_on, True, opened_on, plan_text),
        )
        first = self.delivery_id + 1
        self.delivery_id += len(ward.people)
        out.rows_of("delivery").extend(
            (first + position, round_id, person_id, position % ward.groups, "sent", 1, sent)
            for position, person_id in enumerate(ward.people)
        )
        responses = out.rows_of("response")
        left = ward.answers[week]
        respondents = 0
        mean = ward.mean + (0.006 * week if ward.index == 0 else 0.0)
        while left > 0:
            questions = plan[respondents % ward.groups][: min(ward.per_pulse, left)]
            submission = f"{getrandbits(128):032x}"
            day = days[int(random_() * 5)]
            for question in questions:
                score = min(5, max(1, round(gauss(mean + self.theme_shift[question], 1.0))))
                comment, mood = None, None
                if random_() < COMMENT_RATE:
                    comment, mood = self.comments.pick(rnd, score)
                responses.append(
                    (
                        f"{getrandbits(128):032x}",
                        submission,
                        round_id,
                        ward.team_id,
                        question,
                        6 - score if self.reverse[question] else score,
                        comment,
                        mood,
                        day,
                    )
                )
            left -= len(questions)
            respondents += 1
        digests = ",".join(sorted(f"{getrandbits(256):064x}" for _ in range(respondents)))
        out.add("participation", (round_id, digests, respondents))
        if random_() < KUDOS_RATE and len(ward.people) > 1:
            giver, receiver = rnd.sample(ward.people, 2)
            self.kudos_id += 1
            on = opened + timedelta(days=int(random_() * 5))
            at = datetime.combine(on, datetime.min.time(), UTC) + timedelta(hours=14)
            value = rnd.choice(self.values)
            out.add(
                "recognition",
                (
                    self.kudos_id,
                    1,
                    giver,
                    ward.team_id,
                    f"Thank you for your help this week #{value}",
                    value,
                    fmt.day(on),
                    fmt.stamp(at),
                ),
            )
            out.add("recognition_recipient", (self.kudos_id, receiver, ward.team_id))


# -- backends --------------------------------------------------------------------------------------
class Backend:
    name: str
    url: str

    async def create(self) -> None:
        raise NotImplementedError

    async def drop(self) -> None:
        raise NotImplementedError

    async def open_loader(self) -> None:
        raise NotImplementedError

    async def load(self, tables: Tables) -> None:
        raise NotImplementedError

    async def finish_load(self) -> None:
        raise NotImplementedError

    async def analyze(self) -> None:
        raise NotImplementedError

    async def size_bytes(self) -> int:
        raise NotImplementedError

    async def version(self) -> str:
        return f"SQLite {sqlite3.sqlite_version}"

    def formats(self) -> Formats:
        return Formats(sqlite=self.name == "sqlite")

    def week_expr(self, column: str) -> str:
        raise NotImplementedError

    def explain_prefix(self) -> str:
        raise NotImplementedError


ORDER = list(COLUMNS)


class SQLite(Backend):
    name = "sqlite"

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="teampulse-bench-")) / "bench.db"
        self.url = f"sqlite+aiosqlite:///{self.path}"
        self._conn: sqlite3.Connection | None = None

    async def create(self) -> None:
        await upgrade(self.url)

    async def drop(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)

    async def open_loader(self) -> None:
        """One transaction for the whole load, no journal (a throwaway file: if the load fails,
        the run fails), foreign keys checked.  The application's WAL mode is back on after."""
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=OFF")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA cache_size=-2000000")
        self._conn.execute("BEGIN")

    async def load(self, tables: Tables) -> None:
        assert self._conn is not None
        for table in ORDER:
            rows = tables.rows.get(table)
            if rows:
                columns = COLUMNS[table]
                marks = ", ".join("?" for _ in columns)
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                self._conn.executemany(sql, rows)

    async def finish_load(self) -> None:
        assert self._conn is not None
        self._conn.execute("COMMIT")
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.close()
        self._conn = None

    async def analyze(self) -> None:
        """Nothing: the application never runs ANALYZE on SQLite, so the planner has no
        statistics here either (the realistic case)."""

    async def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.parent.iterdir() if p.is_file())

    def week_expr(self, column: str) -> str:
        weekday = f"(CAST(strftime('%w', {column}) AS INTEGER) + 6) % 7"
        return f"date({column}, '-' || ({weekday}) || ' days')"

    def explain_prefix(self) -> str:
        return "EXPLAIN QUERY PLAN "


class PostgreSQL(Backend):
    name = "postgresql"

    def __init__(self, server_url: str) -> None:
        self.server_dsn = server_url.replace("postgresql+asyncpg://", "postgresql://")
        self.database = f"tp_bench_{uuid.uuid4().hex[:10]}"
        base = server_url.rsplit("/", 1)[0]
        self.url = f"{base}/{self.database}"
        self.dsn = self.url.replace("postgresql+asyncpg://", "postgresql://")
        self._conn: asyncpg.Connection | None = None

    async def create(self) -> None:
        admin = await asyncpg.connect(self.server_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await admin.close()
        await upgrade(self.url)

    async def drop(self) -> None:
        admin = await asyncpg.connect(self.server_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await admin.close()

    async def open_loader(self) -> None:
        """COPY, with the foreign-key triggers off for this session only (the rows are consistent
        by construction; the SQLite load, with its checks on, proves the same generator)."""
        self._conn = await asyncpg.connect(self.dsn)
        await self._conn.execute("SET session_replication_role = replica")

    async def load(self, tables: Tables) -> None:
        assert self._conn is not None
        async with self._conn.transaction():
            for table in ORDER:
                rows = tables.rows.get(table)
                if rows:
                    await self._conn.copy_records_to_table(
                        table, records=rows, columns=COLUMNS[table]
                    )

    async def finish_load(self) -> None:
        assert self._conn is not None
        for table in ("organisation", "team", "person", "membership", "pulse_round", "delivery"):
            await self._conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        await self._conn.execute(
            "SELECT setval(pg_get_serial_sequence('recognition', 'id'), "
            "(SELECT coalesce(max(id), 0) + 1 FROM recognition), false)"
        )
        await self._conn.close()
        self._conn = None

    async def analyze(self) -> None:
        """What autovacuum does soon after a bulk load, done now so timings do not depend on
        when it wakes up."""
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    async def size_bytes(self) -> int:
        conn = await asyncpg.connect(self.dsn)
        try:
            return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await conn.close()

    def week_expr(self, column: str) -> str:
        return f"CAST(date_trunc('week', {column}) AS DATE)"

    async def version(self) -> str:
        conn = await asyncpg.connect(self.dsn)
        try:
            return f"PostgreSQL {await conn.fetchval('SHOW server_version')}"
        finally:
            await conn.close()

    def explain_prefix(self) -> str:
        return "EXPLAIN "


# -- what is timed ---------------------------------------------------------------------------------
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


def previous_start() -> date:
    return week_of(TODAY) - timedelta(weeks=2 * REPORT_WEEKS - 1)


@dataclass
class Scope:
    label: str
    team_id: int
    subtree: list[int]
    manager: str


@dataclass
class Timing:
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass
class ScopeResult:
    scope: str
    teams: int
    report: Timing
    chat: Timing
    baseline: Timing
    rollup_rows: int
    comment_rows: int
    baseline_rows: int
    baseline_groups: int


@dataclass
class RunResult:
    backend: str
    size: int
    responses: int
    deliveries: int
    rounds: int
    load_s: float
    rebuild_s: float
    rebuild_week_median_s: float
    rebuild_week_max_s: float
    db_mb: float
    chart_ms: float
    server: str
    scopes: list[ScopeResult]
    plans: dict[str, list[str]] = field(default_factory=dict)


async def _no_chart(summary: TrendSummary, team: str) -> bytes:
    return b""


@asynccontextmanager
async def chart_off() -> Any:
    names = vars(conversation_module)
    saved = names["render_chart"]
    names["render_chart"] = _no_chart
    try:
        yield
    finally:
        names["render_chart"] = saved


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def build(backend: Backend, org: Org) -> float:
    """Load everything; returns the seconds it took (generation + inserts)."""
    started = time.perf_counter()
    db = Database(backend.url)
    try:
        async with db.session() as session:
            await sync_questions(session)
            await session.commit()
    finally:
        await db.dispose()
    fmt = backend.formats()
    await backend.open_loader()
    await backend.load(org_rows(org, fmt))
    generator = Generator(org, fmt)
    loop = asyncio.get_running_loop()
    # Generate the next week in a thread while this one is written.
    pending = loop.run_in_executor(None, generator.week, 0)
    for week in range(WEEKS):
        rows = await pending
        if week + 1 < WEEKS:
            pending = loop.run_in_executor(None, generator.week, week + 1)
        await backend.load(rows)
    await backend.finish_load()
    return time.perf_counter() - started


async def rebuild(db: Database) -> list[float]:
    """Each week's rollups in its own transaction, as closing that week's rounds does."""
    times = []
    for week in range(WEEKS):
        monday = FIRST_MONDAY + timedelta(weeks=week)
        started = time.perf_counter()
        async with db.session() as session:
            await rebuild_weeks(session, {monday}, Thresholds(MIN_GROUP, MIN_COMMENT_GROUP))
            await session.commit()
        times.append(time.perf_counter() - started)
    return times


async def count(db: Database, sql: str, **params: Any) -> int:
    async with db.session() as session:
        connection = await session.connection()
        return int((await connection.execute(text(sql), params)).scalar_one())


async def run_scope(
    backend: Backend,
    db: Database,
    service: TeamPulse,
    scope: Scope,
    runs: int,
    warmup: int,
    budget: float,
) -> ScopeResult:
    thresholds = Thresholds(MIN_GROUP, MIN_COMMENT_GROUP)
    chat = Conversation(service)
    query = baseline_sql(backend)
    params = {"teams": scope.subtree, "since": previous_start(), "closed": True}
    # Only the ward is asked as in the issue (team_ids=[team]); a parent's report gets its subtree.
    team_ids = scope.subtree

    async def report() -> None:
        async with db.session() as session:
            await team_trend(session, scope.team_id, team_ids, REPORT_WEEKS, TODAY, thresholds)

    async def conversation() -> None:
        views: list[View] = await chat.handle(scope.manager, "pulse trends")
        assert isinstance(views[0], TrendReportView), views

    async def baseline() -> None:
        async with db.session() as session:
            connection = await session.connection()
            (await connection.execute(query, params)).all()

    timings = {"report": Timing(), "chat": Timing(), "baseline": Timing()}
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("report", report),
        ("baseline", baseline),
        ("chat", conversation),
    ]
    async with chart_off():
        for _ in range(warmup):
            for _, step in steps:
                await step()
        started = time.perf_counter()
        for _ in range(runs):
            for name, step in steps:
                began = time.perf_counter()
                await step()
                timings[name].samples.append(time.perf_counter() - began)
            if time.perf_counter() - started > budget and len(timings["report"].samples) >= 3:
                break

    async with db.session() as session:
        connection = await session.connection()
        groups = (await connection.execute(query, params)).all()
    since = previous_start()
    period = week_of(TODAY) - timedelta(weeks=REPORT_WEEKS - 1)
    return ScopeResult(
        scope=scope.label,
        teams=len(scope.subtree),
        report=timings["report"],
        chat=timings["chat"],
        baseline=timings["baseline"],
        rollup_rows=await count(
            db,
            "SELECT count(*) FROM rollup_cell WHERE team_id = :t AND week >= :s AND published "
            "= :yes",
            t=scope.team_id,
            s=since,
            yes=True,
        )
        + await count(
            db,
            "SELECT count(*) FROM rollup_week WHERE team_id = :t AND week >= :s",
            t=scope.team_id,
            s=period,
        ),
        comment_rows=await count_comments(db, scope, period),
        baseline_rows=await count_in(db, scope.subtree, since),
        baseline_groups=len(groups),
    )


async def count_in(db: Database, teams: list[int], since: date) -> int:
    query = text("SELECT count(*) FROM response WHERE team_id IN :teams AND day >= :since")
    query = query.bindparams(bindparam("teams", expanding=True))
    async with db.session() as session:
        connection = await session.connection()
        return int((await connection.execute(query, {"teams": teams, "since": since})).scalar_one())


async def count_comments(db: Database, scope: Scope, period: date) -> int:
    """Comment rows the report reads: the subtree's comments in its published comment weeks."""
    query = text(
        "SELECT count(*) FROM response r JOIN pulse_round pr ON pr.id = r.round_id "
        "WHERE r.team_id IN :teams AND r.day >= :since AND r.comment IS NOT NULL "
        "AND coalesce(pr.report_week, pr.opened_on) IN (SELECT week FROM rollup_week "
        "WHERE team_id = :team "
        "AND week >= :since AND comments_published = :yes)"
    ).bindparams(bindparam("teams", expanding=True))
    async with db.session() as session:
        connection = await session.connection()
        params = {"teams": scope.subtree, "since": period, "team": scope.team_id, "yes": True}
        return int((await connection.execute(query, params)).scalar_one())


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
                scope.subtree,
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


async def run_one(args: argparse.Namespace, backend: Backend, size: int) -> RunResult:
    org = plan_org(size, args.seed)
    log(f"{backend.name} {size:,}: creating the database")
    await backend.create()
    try:
        load_s = await build(backend, org)
        log(f"{backend.name} {size:,}: loaded in {load_s:.1f} s")
        await backend.analyze()
        db = Database(backend.url)
        try:
            weekly = await rebuild(db)
            log(f"{backend.name} {size:,}: rollups rebuilt in {sum(weekly):.1f} s")
            await backend.analyze()
            responses = await count(db, "SELECT count(*) FROM response")
            deliveries = await count(db, "SELECT count(*) FROM delivery")
            rounds = await count(db, "SELECT count(*) FROM pulse_round")
            assert responses == size, (responses, size)
            settings = Settings(
                _env_file=None,
                DATABASE_URL=backend.url,
                TEAMPULSE_SECRET="bench-secret",
                TEAMPULSE_MIN_GROUP=MIN_GROUP,
                TEAMPULSE_MIN_COMMENT_GROUP=MIN_COMMENT_GROUP,
            )
            now = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=12)
            service = TeamPulse(db, settings, clock=lambda: now)
            focus = org.focus
            parent = focus.parent_id
            scopes = [Scope("ward", focus.team_id, [focus.team_id], org.manager_of(focus.team_id))]
            if args.parents:
                scopes += [
                    Scope("directorate", parent, org.subtree(parent), org.manager_of(parent)),
                    Scope("trust", TRUST_ID, org.subtree(TRUST_ID), org.manager_of(TRUST_ID)),
                ]
            await check_rollups(backend, db, scopes[0])
            results = []
            for scope in scopes:
                ward = scope.label == "ward"
                runs = args.runs if ward else min(args.runs, args.parent_runs)
                warmup = args.warmup if ward else min(args.warmup, 1)
                results.append(
                    await run_scope(backend, db, service, scope, runs, warmup, args.budget)
                )
                log(f"{backend.name} {size:,}: {scope.label} timed")
            chart_ms = await time_chart(db, focus.team_id)
            plans = {}
            if args.explain:
                plans["ward"] = await explain(backend, db, scopes[0])
            return RunResult(
                backend=backend.name,
                size=size,
                responses=responses,
                deliveries=deliveries,
                rounds=rounds,
                load_s=load_s,
                rebuild_s=sum(weekly),
                rebuild_week_median_s=statistics.median(weekly),
                rebuild_week_max_s=max(weekly),
                db_mb=await backend.size_bytes() / 1e6,
                chart_ms=chart_ms,
                server=await backend.version(),
                scopes=results,
                plans=plans,
            )
        finally:
            await db.dispose()
    finally:
        if args.keep:
            log(f"kept {backend.url}")
        else:
            await backend.drop()


async def time_chart(db: Database, team_id: int) -> float:
    async with db.session() as session:
        thresholds = Thresholds(MIN_GROUP, MIN_COMMENT_GROUP)
        summary = await team_trend(session, team_id, [team_id], REPORT_WEEKS, TODAY, thresholds)
    samples = []
    for _ in range(5):
        began = time.perf_counter()
        await render_chart(summary, "Ward 0001")
        samples.append(time.perf_counter() - began)
    return 1000 * statistics.median(samples[1:])


# -- output ----------------------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f}"


def tables(results: Sequence[RunResult]) -> Iterator[str]:
    yield "| backend | responses | scope | report median / p95 (ms) | baseline median / p95 (ms) "
    yield "| report ÷ baseline | chat median / p95 (ms) | rows read: report (rollup + comments) | "
    yield "rows read: baseline | runs |\n"
    yield "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n"
    for run in results:
        for s in run.scopes:
            yield (
                f"| {run.backend} | {run.responses:,} | {s.scope} ({s.teams} teams) | "
                f"{ms(s.report.median)} / {ms(s.report.p95)} | "
                f"{ms(s.baseline.median)} / {ms(s.baseline.p95)} | "
                f"{s.report.median / s.baseline.median:.2f} | "
                f"{ms(s.chat.median)} / {ms(s.chat.p95)} | "
                f"{s.rollup_rows} + {s.comment_rows:,} | {s.baseline_rows:,} | "
                f"{len(s.report.samples)} |\n"
            )
    yield "\n| backend | responses | deliveries | rounds | load (s) | rebuild 52 weeks (s) | "
    yield "rebuild one week median / max (s) | database (MB) | chart PNG (ms) |\n"
    yield "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for run in results:
        yield (
            f"| {run.backend} | {run.responses:,} | {run.deliveries:,} | {run.rounds:,} | "
            f"{run.load_s:.1f} | {run.rebuild_s:.1f} | {run.rebuild_week_median_s:.2f} / "
            f"{run.rebuild_week_max_s:.2f} | {run.db_mb:,.0f} | {run.chart_ms:.0f} |\n"
        )


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, {memory:.0f} GiB RAM, "
        f"Python {platform.python_version()}"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="responses, comma-separated")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite and/or postgresql")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first")
    parser.add_argument(
        "--budget", type=float, default=20.0, help="stop a measurement after this many seconds"
    )
    parser.add_argument(
        "--parents",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time the ward's directorate and the trust",
    )
    parser.add_argument("--parent-runs", type=int, default=20, help="runs for those")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server to create the throwaway databases on",
    )
    parser.add_argument("--explain", action="store_true", help="print the query plans too")
    parser.add_argument("--keep", action="store_true", help="keep the databases (prints where)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    names = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(names) - {"sqlite", "postgresql"}
    if unknown:
        raise SystemExit(f"--backends: unknown {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    log(f"load average at the start {_load()}")
    results: list[RunResult] = []
    for name in names:
        for size in sizes:
            backend: Backend = SQLite() if name == "sqlite" else PostgreSQL(args.pg_url)
            results.append(await run_one(args, backend, size))
    servers = ", ".join(sorted({run.server for run in results}))
    print(f"Machine: {machine()}; {servers}; load average at the end {_load()}\n")
    print("".join(tables(results)))
    for run in results:
        for label, plans in run.plans.items():
            print(f"\nPlans, {run.backend} {run.responses:,}, {label} report and baseline:\n")
            for plan in plans:
                print(plan)
    print(f"\nTotal: {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([_jsonable(r) for r in results], indent=2, default=str))


def _jsonable(run: RunResult) -> dict[str, Any]:
    data = dict(run.__dict__)
    data["scopes"] = [
        {
            **{k: v for k, v in s.__dict__.items() if not isinstance(v, Timing)},
            **{
                name: {"median_ms": 1000 * t.median, "p95_ms": 1000 * t.p95, "runs": len(t.samples)}
                for name, t in s.__dict__.items()
                if isinstance(t, Timing)
            },
        }
        for s in run.scopes
    ]
    return data


if __name__ == "__main__":
    asyncio.run(main())

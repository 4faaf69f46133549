"""Data for bench/trends.py: the organisation (1 trust, 20 directorates, 2,000 wards), 52 weeks of
closed pulses and answers, as rows for bench/trends_backends.py to load.  See bench/trends.py."""

from __future__ import annotations

import json
import math
import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from surveys.bank import interleave_by_theme, load_bank, plan_round  # noqa: E402
from surveys.recognition import DEFAULT_VALUES  # noqa: E402
from surveys.responses import sentiment_of  # noqa: E402
from surveys.rollup import week_of  # noqa: E402

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

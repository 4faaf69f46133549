"""Demo data: a trust with 3 directorates, 8 teams and about 60 people, with 8 weeks of history
entered through the real submit path, so trends show something at once.

Everything here is clearly marked as demo: the organisation is called "Riverside NHS Trust (demo)",
its row has ``is_demo`` set, and every address is at ``riverside-demo.nhs.uk``.  It is loaded only in
local mode, into an empty database (``ensure_demo``).

History is made the way real use makes it: each past week a round is opened for every ward team
(with the clock set to that Monday), most members fetch their pending card and submit it through
``TeamPulse.submit_pulse``, and the round is closed.  So the anonymity rules (random response ids,
participation digests, days only) hold for demo data exactly as they do for real answers.
"""

from __future__ import annotations

import logging
import random
import time as timer
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlmodel import col, select

from bot.service import TeamPulse
from storage.models import Delivery, DeliveryStatus, Organisation, Person
from surveys import directory, recognition, rounds
from surveys.bank import load_bank
from surveys.organisation import (
    OrgSpec,
    PersonSpec,
    ScheduleSpec,
    TeamSpec,
    import_spec,
)

log = logging.getLogger(__name__)

ORGANISATION = "Riverside NHS Trust (demo)"
DOMAIN = "riverside-demo.nhs.uk"
TRUST = "Riverside Trust"

# The people to try in the web chat (and to name in the docs).
DEMO_NURSE = f"amara.okafor@{DOMAIN}"
DEMO_MANAGER = f"daniel.hughes@{DOMAIN}"
DEMO_DIRECTOR = f"priya.shah@{DOMAIN}"


@dataclass(frozen=True)
class _Unit:
    """A team in the demo trust (names, not emails)."""

    name: str
    parent: str | None
    managers: tuple[str, ...]
    members: tuple[str, ...] = ()


_BOARD = _Unit(TRUST, None, ("Margaret Ellis", "Kwame Mensah"))
_DIRECTORATES = (
    _Unit("Medicine", TRUST, ("Priya Shah",)),
    _Unit("Surgery", TRUST, ("Robert Campbell",)),
    _Unit("Clinical Support", TRUST, ("Fatima Begum",)),
)
# Ward and department teams: the manager answers pulses too, so is also a member.
_WARDS = (
    _Unit(
        "Ward 7 Respiratory",
        "Medicine",
        ("Daniel Hughes",),
        (
            "Amara Okafor",
            "Tom Gallagher",
            "Grace Adeyemi",
            "Rhys Morgan",
            "Mei Lin Chen",
            "Joseph Mwangi",
            "Hannah Price",
            "Maria Santos",
            "Daniel Hughes",
        ),
    ),
    _Unit(
        "Ward 9 Elderly Care",
        "Medicine",
        ("Sarah Thompson",),
        (
            "Olivia Bennett",
            "Nkechi Eze",
            "Aled Jones",
            "Jasmine Kaur",
            "Liam O'Connor",
            "Beatriz Silva",
            "Samuel Osei",
            "Sarah Thompson",
        ),
    ),
    _Unit(
        "Emergency Department",
        "Medicine",
        ("Imran Qureshi",),
        (
            "Chloe Walsh",
            "Marcus Reid",
            "Aisha Rahman",
            "Ewan MacLeod",
            "Sophie Turner",
            "Tunde Bakare",
            "Niamh Byrne",
            "Rajesh Patel",
            "Imran Qureshi",
        ),
    ),
    _Unit(
        "Theatres",
        "Surgery",
        ("Helen Carter",),
        (
            "Oliver Wright",
            "Yusuf Ali",
            "Lucy Davies",
            "Gareth Evans",
            "Abena Asante",
            "Kieran Doyle",
            "Ana Popescu",
            "Wei Zhang",
            "Charlotte Green",
            "Helen Carter",
        ),
    ),
    _Unit(
        "Ward 12 Orthopaedics",
        "Surgery",
        ("Mark Robinson",),
        (
            "Emily Clarke",
            "Faisal Hussain",
            "Bethany Lewis",
            "Chidi Nwosu",
            "Katarzyna Nowak",
            "Jack Murphy",
            "Mark Robinson",
        ),
    ),
    _Unit(
        "Pharmacy",
        "Clinical Support",
        ("Anjali Mehta",),
        (
            "Adam Fletcher",
            "Zainab Ahmed",
            "Ruth Harrison",
            "Dev Sharma",
            "Laura McKenzie",
            "Anjali Mehta",
        ),
    ),
    _Unit(
        "Radiology",
        "Clinical Support",
        ("Stephen Parry",),
        (
            "Nadia Hassan",
            "Ben Cooper",
            "Ifeoma Obi",
            "Claire Watson",
            "Arjun Nair",
            "Stephen Parry",
        ),
    ),
    # Fewer members than the anonymity threshold: reported only as part of Clinical Support.
    _Unit(
        "Physiotherapy",
        "Clinical Support",
        ("Rebecca Hall",),
        (
            "Kofi Boateng",
            "Megan Phillips",
            "Tariq Mahmood",
            "Rebecca Hall",
        ),
    ),
)
WARD_TEAMS: tuple[str, ...] = tuple(unit.name for unit in _WARDS)
_FEATURED = ("Amara Okafor", "Daniel Hughes", "Priya Shah")


def email_of(name: str) -> str:
    """``Liam O'Connor`` -> ``liam.oconnor@riverside-demo.nhs.uk``."""
    parts = ["".join(ch for ch in part.lower() if ch.isalnum()) for part in name.split()]
    return f"{parts[0]}.{''.join(parts[1:])}@{DOMAIN}"


def demo_spec() -> OrgSpec:
    """Riverside NHS Trust (demo): board, three directorates and eight ward/department teams."""
    names: list[str] = list(_FEATURED)
    for unit in (_BOARD, *_DIRECTORATES, *_WARDS):
        names.extend(n for n in (*unit.managers, *unit.members) if n not in names)
    people = [PersonSpec(email=email_of(name), name=name) for name in names]
    schedule = ScheduleSpec(cadence="weekly", day="mon", time="10:00", timezone="Europe/London")
    teams = [
        TeamSpec(
            name=unit.name,
            parent=unit.parent,
            managers=[email_of(n) for n in unit.managers],
            members=[email_of(n) for n in unit.members],
            channel=None,  # no platform channels: the local web chat keeps a feed per team
            schedule=schedule if unit.members else None,
            questions_per_pulse=5,
        )
        for unit in (_BOARD, *_DIRECTORATES, *_WARDS)
    ]
    return OrgSpec(name=ORGANISATION, teams=teams, people=people)


# -- how each team feels ------------------------------------------------------------------------
# A trust-wide baseline per theme (roughly the shape of the NHS Staff Survey: health and wellbeing
# and recognition lowest, freedom from bullying highest), then a shift per team, then a few
# team-and-theme stories that move week by week so trends show a real change.
_THEME_BASE: dict[str, float] = {
    "vision_values": 3.8,
    "goals_performance": 3.6,
    "support_compassion": 3.7,
    "learning_innovation": 3.4,
    "equity_inclusion": 3.8,
    "teamwork": 3.7,
    "health_wellbeing": 3.1,
    "voice_involvement": 3.4,
    "speaking_up": 3.5,
    "valued_recognised": 3.3,
    "freedom_from_bullying": 4.0,
}
_TEAM_SHIFT: dict[str, float] = {
    "Ward 7 Respiratory": 0.0,
    "Ward 9 Elderly Care": -0.1,
    "Emergency Department": -0.2,
    "Theatres": 0.1,
    "Ward 12 Orthopaedics": 0.2,
    "Pharmacy": 0.3,
    "Radiology": 0.1,
    "Physiotherapy": 0.4,
}
# (team, theme) -> (offset at the oldest week, change per week)
_STORIES: dict[tuple[str, str], tuple[float, float]] = {
    ("Ward 7 Respiratory", "teamwork"): (-1.0, 0.22),  # a new huddle routine is working
    ("Ward 7 Respiratory", "support_compassion"): (-0.3, 0.08),
    ("Emergency Department", "health_wellbeing"): (
        0.5,
        -0.22,
    ),  # winter pressure and short staffing
    ("Emergency Department", "valued_recognised"): (0.2, -0.08),
    ("Ward 9 Elderly Care", "valued_recognised"): (-0.3, 0.1),
    ("Theatres", "speaking_up"): (0.2, -0.06),
}


def _expected(team: str, theme: str, week: int) -> float:
    offset, slope = _STORIES.get((team, theme), (0.0, 0.0))
    return _THEME_BASE.get(theme, 3.5) + _TEAM_SHIFT.get(team, 0.0) + offset + slope * week


# Short comments in staff's own words, by theme: (favourable, unfavourable).  No names.
_COMMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vision_values": (
        ("Patient care really does come first here.", "Proud of the care we give on this unit."),
        (
            "The trust priorities feel far removed from the ward floor.",
            "Hard to see how the big plans connect to what we do day to day.",
        ),
    ),
    "goals_performance": (
        (
            "Clear handovers and we all know what the shift needs.",
            "Good feedback at my appraisal, it helped.",
        ),
        (
            "Appraisal was rushed and I still don't have clear objectives.",
            "We never get time to talk about how the team is doing.",
        ),
    ),
    "support_compassion": (
        ("My manager always makes time to listen.", "People here are kind to each other."),
        ("Concerns get noted but nothing happens.", "Feels like nobody has time to check in."),
    ),
    "learning_innovation": (
        ("Great teaching sessions this month.", "Got support to go on the course I wanted."),
        (
            "Training keeps getting cancelled because of staffing.",
            "Hard to get study time approved.",
        ),
    ),
    "equity_inclusion": (
        ("Everyone is treated with respect on this team.", "Really welcoming to new starters."),
        (
            "Progression feels like it depends on who you know.",
            "Some comments at handover were not okay.",
        ),
    ),
    "teamwork": (
        (
            "The morning huddle has made a real difference.",
            "Great teamwork on a very busy shift.",
            "We cover for each other without being asked.",
        ),
        ("Feels like we are working in silos.", "Tension between day and night shifts again."),
    ),
    "health_wellbeing": (
        ("Good to have the wellbeing room back.", "Rota this month has been much fairer."),
        (
            "Exhausted, we were short staffed all week.",
            "No breaks on most shifts this week.",
            "Too many extra shifts, I am running on empty.",
        ),
    ),
    "voice_involvement": (
        (
            "My suggestion about the drug round was taken up.",
            "We were asked before the rota changed.",
        ),
        ("Changes are announced, never discussed.", "No one asked us about the new layout."),
    ),
    "speaking_up": (
        (
            "I felt safe raising a concern and it was handled well.",
            "Incidents are treated fairly here.",
        ),
        (
            "People worry about being blamed when things go wrong.",
            "I raised a safety issue weeks ago and heard nothing back.",
        ),
    ),
    "valued_recognised": (
        ("Thank you cards from the manager mean a lot.", "Feel appreciated by the team."),
        ("Nobody notices the extra effort.", "Feel like a number, not a person."),
    ),
    "freedom_from_bullying": (
        ("Bad behaviour gets challenged here.", "A respectful team to work in."),
        ("Verbal abuse from relatives is getting worse.", "Some rude behaviour goes unchallenged."),
    ),
}
_COMMENT_RATE = 0.15

# Kudos messages with their value (keys of recognition.DEFAULT_VALUES).  No names in the text.
_KUDOS: tuple[tuple[str, str], ...] = (
    ("Thanks for covering the night shift at such short notice.", "teamwork"),
    ("Brilliant calm handling of a very distressed relative today.", "compassion"),
    ("Thank you for teaching me the new syringe driver, so patient with my questions.", "learning"),
    ("Stayed late to make sure the discharge went smoothly. Above and beyond.", "recognised"),
    ("Thanks for speaking up at the safety huddle, it made us all stop and check.", "voice"),
    ("Swapped shifts so I could be at my daughter's school play. Thank you!", "flexible"),
    ("Spotted the deteriorating patient early and escalated perfectly.", "safe"),
    ("Made sure everyone took a break during a really tough shift.", "safe"),
    ("Amazing support for our new starters this week.", "teamwork"),
    ("Thank you for the kindness you showed a patient at end of life.", "compassion"),
    ("Turned round the urgent discharge meds in record time.", "teamwork"),
    ("Great teaching session on sepsis, really clear.", "learning"),
    ("Thanks for listening and acting on our rota concerns.", "voice"),
    ("Kept the whole team laughing through a horrible night.", "teamwork"),
    ("Helped me find a flexible pattern that works around my caring role.", "flexible"),
    ("Thank you for checking in on me after a difficult shift.", "compassion"),
    ("Fantastic work getting the audit finished on time.", "recognised"),
    ("Thanks for the quick scan turnaround, it made a real difference to the patient.", "teamwork"),
    ("Challenged a rude comment on the ward, respect.", "safe"),
    ("Brought in cake after a long week, morale boost!", "recognised"),
    ("Your idea for the new handover sheet has saved us so much time.", "voice"),
    ("Patient and clear explanation to a worried family.", "compassion"),
    ("Thanks for mentoring our student nurses so well.", "learning"),
    ("Jumped in to help on our ward when we were short staffed.", "teamwork"),
    ("Thank you for always making new colleagues feel welcome.", "compassion"),
)


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Keep hundreds of "pulse answer recorded" lines out of the log while history is made."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(max(logging.WARNING, level))
    try:
        yield
    finally:
        logger.setLevel(level)


class _Clock:
    """A settable clock for the history-making service."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _score(rng: random.Random, mean: float, reverse: bool) -> int:
    """A 1..5 answer around ``mean`` (the favourable direction); reversed items are flipped."""
    favourable = min(5, max(1, round(mean + rng.gauss(0.0, 0.7))))
    return 6 - favourable if reverse else favourable


async def _week(
    service: TeamPulse,
    rng: random.Random,
    week: int,
    monday: datetime,
    leaning: dict[str, float],
) -> None:
    """One past week: open, answer and close a round for every ward team."""
    bank = load_bank()
    clock = _Clock(monday)
    past = TeamPulse(service.db, service.settings, service.messenger, clock=clock)
    for unit in _WARDS:
        clock.now = monday
        await past.open_round(unit.name)
        await _mark_sent(service, unit.name, monday)
        members = [email_of(name) for name in unit.members]
        rate = rng.uniform(0.65, 0.9)
        answering = rng.sample(members, max(1, round(rate * len(members))))
        for email in answering:
            clock.now = monday + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
            cards = await past.pending_pulses(email)
            card = next(c for c in cards if c.team == unit.name)
            answers: dict[str, int] = {}
            feeling: dict[str, float] = {}
            for question in card.questions:
                item = bank.question(question.id)
                mean = _expected(unit.name, item.theme, week) + leaning[email]
                answers[question.id] = _score(rng, mean, item.reverse)
                feeling[question.id] = (
                    6 - answers[question.id] if item.reverse else answers[question.id]
                )
            comments: dict[str, str] = {}
            if rng.random() < _COMMENT_RATE:
                qid = max(feeling, key=lambda q: abs(feeling[q] - 3) + rng.random() / 10)
                good, bad = _COMMENTS[bank.question(qid).theme]
                comments[qid] = rng.choice(good if feeling[qid] >= 3 else bad)
            await past.submit_pulse(email, card.round_id, answers, comments)
        clock.now = monday + timedelta(days=4, hours=7)
        await past.close_round(unit.name)


async def _mark_sent(service: TeamPulse, team_name: str, when: datetime) -> None:
    """History was delivered at the time: keep the outbox from sending it now."""
    async with service.db.session() as session:
        team = await directory.team_by_name(session, team_name)
        assert team is not None and team.id is not None
        pulse_round = await rounds.open_round_for(session, team.id)
        assert pulse_round is not None
        query = select(Delivery).where(Delivery.round_id == pulse_round.id)
        for delivery in (await session.exec(query)).all():
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = when
            session.add(delivery)
        await session.commit()


async def _kudos(service: TeamPulse, rng: random.Random, mondays: list[datetime]) -> None:
    """About 25 kudos spread over the weeks, mostly within a ward, some across teams."""
    async with service.db.session() as session:
        people = {
            p.email: p
            for p in (
                await session.exec(select(Person).where(col(Person.email).endswith(DOMAIN)))
            ).all()
        }
        for index, (message, value) in enumerate(_KUDOS):
            assert value in recognition.DEFAULT_VALUES
            monday = mondays[index * len(mondays) // len(_KUDOS)]
            unit = rng.choice(_WARDS)
            giver, *others = rng.sample(unit.members, 3)
            if rng.random() < 0.2:  # thanks across teams
                elsewhere = rng.choice([u for u in _WARDS if u is not unit])
                others = [rng.choice(elsewhere.members)]
            recipients = others[: 2 if rng.random() < 0.2 else 1]
            when = monday + timedelta(days=rng.randrange(0, 5), hours=rng.randrange(0, 9))
            await recognition.give(
                session,
                people[email_of(giver)],
                [people[email_of(name)] for name in recipients],
                message,
                value,
                when,
            )


async def load_demo(service: TeamPulse, weeks: int = 8, seed: int = 7) -> None:
    """Import the demo trust, make ``weeks`` weeks of history, then open this week's pulses."""
    rng = random.Random(seed)
    async with service.db.session() as session:
        await import_spec(session, demo_spec(), is_demo=True)
    everyone = sorted({email_of(n) for unit in _WARDS for n in unit.members})
    # Some people are generally more (or less) positive than their team.
    leaning = {email: rng.gauss(0.0, 0.3) for email in everyone}
    this_monday = service.today() - timedelta(days=service.today().weekday())
    mondays = [
        datetime.combine(this_monday - timedelta(weeks=back), time(10, 0), tzinfo=UTC)
        for back in range(weeks, 0, -1)
    ]
    with _quiet("bot.service"):
        for week, monday in enumerate(mondays):
            await _week(service, rng, week, monday, leaning)
        if mondays:
            await _kudos(service, rng, mondays)
    for unit in _WARDS:
        await service.open_round(unit.name)
    await service.deliver_outbox()


async def ensure_demo(service: TeamPulse) -> bool:
    """Load the demo organisation into an empty database; returns whether it did."""
    async with service.db.session() as session:
        if (await session.exec(select(Organisation.id).limit(1))).first() is not None:
            return False
    started = timer.perf_counter()
    await load_demo(service)
    spec = demo_spec()
    log.info(
        "Loaded demo organisation %s: %d teams, %d people, 8 weeks of pulses in %.1f s (demo data)",
        spec.name,
        len(spec.teams),
        len(spec.people),
        timer.perf_counter() - started,
    )
    return True

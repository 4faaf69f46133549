"""The demo's history: past weeks of pulses answered through the real submit path, each team's
answers drawn from its story, deterministic for a seed (``History``), and kudos over those weeks."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot import demo_text
from bot.demo_trust import DOMAIN, WARDS, email_of
from bot.service import GENERAL_COMMENT, TeamPulse
from bot.views import PulseCard, Receipt
from storage.models import Delivery, DeliveryStatus, Person
from surveys import recognition, rounds
from surveys.bank import load_bank
from surveys.directory import TeamRef

# -- how each team feels ------------------------------------------------------------------------
# A trust-wide baseline per theme (roughly the shape of the NHS Staff Survey: health and wellbeing
# and recognition lowest, freedom from bullying highest), a shift per team, and a few
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
# (team, theme) -> (offset in the oldest week, change per week)
_STORIES: dict[tuple[str, str], tuple[float, float]] = {
    ("Ward 7 Respiratory", "teamwork"): (-1.0, 0.22),  # a new morning huddle is working
    ("Ward 7 Respiratory", "support_compassion"): (-0.3, 0.08),
    ("Emergency Department", "health_wellbeing"): (0.5, -0.22),  # winter pressure, short staffed
    ("Emergency Department", "valued_recognised"): (0.2, -0.08),
    ("Ward 9 Elderly Care", "valued_recognised"): (-0.3, 0.1),
    ("Theatres", "speaking_up"): (0.2, -0.06),
}
ANSWER_SPREAD = 0.6  # standard deviation of one answer around the team's mean
PERSON_SPREAD = 0.25  # how much more (or less) positive than their team a person is
COMMENT_RATE = 0.15  # share of submitted cards with a comment
GENERAL_SHARE = 1 / 3  # share of those comments about the card as a whole ("General")


def _expected(team: str, theme: str, week: int) -> float:
    offset, slope = _STORIES.get((team, theme), (0.0, 0.0))
    return _THEME_BASE.get(theme, 3.5) + _TEAM_SHIFT.get(team, 0.0) + offset + slope * week


@contextmanager
def quiet(logger_name: str) -> Iterator[None]:
    """Keep hundreds of "pulse answer recorded" lines out of the log while history is made."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(max(logging.WARNING, level))
    try:
        yield
    finally:
        logger.setLevel(level)


class _Clock:
    """A settable clock for the service that makes history."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class History:
    """Makes past weeks: answers drawn from each team's story, deterministic for a seed."""

    def __init__(self, service: TeamPulse, seed: int, teams: dict[str, TeamRef]) -> None:
        self.service = service
        self.teams = teams  # the demo organisation's ward teams, resolved once
        self.rng = random.Random(seed)
        self.bank = load_bank()
        self.comments = demo_text.comments()
        self.general = demo_text.general_comments()
        # Which comments are general is drawn from a stream of its own, so the answers (and the
        # stories the default seed shows) are the same draws as before general comments existed.
        self.general_rng = random.Random(f"general comments {seed}")
        everyone = sorted({email_of(name) for unit in WARDS for name in unit.members})
        self.leaning = {email: self.rng.gauss(0.0, PERSON_SPREAD) for email in everyone}

    def card_answers(
        self, team: str, week: int, email: str, card: PulseCard
    ) -> tuple[dict[str, int], dict[str, str]]:
        """One person's answers (1..5 as asked) and, sometimes, a comment: on the statement they
        feel most strongly about, or (about a third of them) general, keyed ``GENERAL_COMMENT``."""
        rng = self.rng
        answers: dict[str, int] = {}
        feeling: dict[str, int] = {}  # favourable direction: 5 is best
        for question in card.questions:
            item = self.bank.question(question.id)
            mean = _expected(team, item.theme, week) + self.leaning[email]
            feeling[item.id] = min(5, max(1, round(mean + rng.gauss(0.0, ANSWER_SPREAD))))
            # Agreeing with a negatively worded statement is the unfavourable answer.
            answers[item.id] = 6 - feeling[item.id] if item.reverse else feeling[item.id]
        comments: dict[str, str] = {}
        if rng.random() < COMMENT_RATE:
            # People comment on what they feel most strongly about.
            qid = max(feeling, key=lambda q: (abs(feeling[q] - 3), rng.random()))
            good, bad = self.comments[self.bank.question(qid).theme]
            if feeling[qid] == 3:
                comments[qid] = rng.choice(good + bad)
            else:
                comments[qid] = rng.choice(good if feeling[qid] > 3 else bad)
            if self.general_rng.random() < GENERAL_SHARE:
                comments = {GENERAL_COMMENT: self._general_comment(feeling)}
        return answers, comments

    def _general_comment(self, feeling: dict[str, int]) -> str:
        """A line about the card as a whole, in the mood of its answers."""
        good, bad = self.general
        balance = sum(value - 3 for value in feeling.values())
        lines = good if balance > 0 else bad if balance < 0 else good + bad
        return self.general_rng.choice(lines)

    async def week(self, week: int, monday: datetime) -> None:
        """One past week: open, answer and close a round for every ward team."""
        service, rng = self.service, self.rng
        clock = _Clock(monday)
        past = TeamPulse(service.db, service.settings, service.messenger, clock=clock)
        clock.now = monday
        for unit in WARDS:  # every ward's pulse opens on the Monday, as scheduled
            await past.open_round(self.teams[unit.name])
            await _mark_sent(service, self.teams[unit.name], monday)
        for unit in WARDS:
            members = [email_of(name) for name in unit.members]
            rate = rng.uniform(0.65, 0.9)
            for email in rng.sample(members, max(1, round(rate * len(members)))):
                clock.now = monday + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
                cards = await past.pending_pulses(email)
                card = next(c for c in cards if c.team == unit.name)
                answers, comments = self.card_answers(unit.name, week, email, card)
                reply = await past.submit_pulse(email, card.round_id, answers, comments)
                if not isinstance(reply, Receipt):
                    raise RuntimeError(f"a demo pulse for {unit.name} was refused: {reply}")
        clock.now = monday + timedelta(days=4, hours=7)
        for unit in WARDS:  # the week is cut once it is over (next week's close, or the end)
            await past.close_round(self.teams[unit.name])
        await past.close()  # who answered is written as each round closes; this lets go the rest

    async def kudos(self, mondays: list[datetime]) -> None:
        """About 25 kudos spread over the weeks, mostly within a ward, some across teams."""
        rng = self.rng
        messages = demo_text.kudos_messages()
        async with self.service.db.session() as session:
            query = select(Person).where(col(Person.email).endswith(f"@{DOMAIN}"))
            people = {person.email: person for person in (await session.exec(query)).all()}
            for index, (message, value) in enumerate(messages):
                monday = mondays[index * len(mondays) // len(messages)]
                unit = rng.choice(WARDS)
                giver, *others = rng.sample(unit.members, 3)
                if rng.random() < 0.2:  # thanks across teams
                    elsewhere = rng.choice([u for u in WARDS if u is not unit])
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


async def _mark_sent(service: TeamPulse, team: TeamRef, when: datetime) -> None:
    """History was delivered at the time: keep the outbox from sending it now."""
    async with service.db.session() as session:
        pulse_round = await rounds.open_round_for(session, team.id)
        assert pulse_round is not None
        query = select(Delivery).where(Delivery.round_id == pulse_round.id)
        for delivery in (await session.exec(query)).all():
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = when
            session.add(delivery)
        await session.commit()

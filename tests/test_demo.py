"""The demo organisation: loaded once into an empty database, with history made through the real
submit path and this week's pulses delivered."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func
from sqlmodel import col, select

from bot.demo import DEMO_DIRECTOR, DEMO_MANAGER, DEMO_NURSE, WARD_TEAMS, demo_spec, ensure_demo
from bot.ports import Recipient, TeamTarget
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import PulseCard, View
from storage.engine import Database
from storage.models import (
    Delivery,
    DeliveryStatus,
    Organisation,
    Person,
    PulseRound,
    Recognition,
    Response,
    Role,
)
from surveys import directory
from surveys.anonymity import Thresholds
from surveys.trends import team_trend


class RecordingMessenger:
    """Stands in for a platform: remembers what was sent to whom."""

    def __init__(self) -> None:
        self.direct: list[tuple[str, View]] = []
        self.posts: list[tuple[str, View]] = []

    async def send_direct(self, person: Recipient, view: View, *, key: str | None = None) -> None:
        self.direct.append((person.email, view))

    async def delivered(self, person: Recipient, key: str, *, round_id: int) -> bool | None:
        return None

    async def post_to_team(self, team: TeamTarget, view: View) -> None:
        self.posts.append((team.name, view))


def test_spec_has_the_documented_people() -> None:
    spec = demo_spec()
    emails = {person.email for person in spec.people}
    assert {DEMO_NURSE, DEMO_MANAGER, DEMO_DIRECTOR} <= emails
    assert len(emails) == len(spec.people)
    for team in spec.teams:
        assert set(team.managers) | set(team.members) <= emails
    ward7 = next(team for team in spec.teams if team.name == "Ward 7 Respiratory")
    assert ward7.members[0] == DEMO_NURSE
    assert ward7.managers == [DEMO_MANAGER]
    assert DEMO_MANAGER in ward7.members
    medicine = next(team for team in spec.teams if team.name == "Medicine")
    assert medicine.managers == [DEMO_DIRECTOR] and medicine.members == []
    physio = next(team for team in spec.teams if team.name == "Physiotherapy")
    assert len(physio.members) < 5  # reported only as part of Clinical Support


async def test_demo_loads_once_with_history_and_current_pulses(
    db: Database, settings: Settings
) -> None:
    messenger = RecordingMessenger()
    service = TeamPulse(db, settings, messenger=messenger)

    assert await ensure_demo(service) is True

    async with db.session() as session:
        organisation = (await session.exec(select(Organisation))).one()
        assert organisation.is_demo
        assert "demo" in organisation.name.lower()

        teams = {team.name: team for team in await directory.all_teams(session)}
        by_id = {team.id: team for team in teams.values()}
        top = [team for team in teams.values() if team.parent_id is None]
        assert [team.name for team in top] == ["Riverside Trust"]
        directorates = [team for team in teams.values() if team.parent_id == top[0].id]
        assert sorted(team.name for team in directorates) == [
            "Clinical Support",
            "Medicine",
            "Surgery",
        ]
        directorate_ids = {team.id for team in directorates}
        wards = [team for team in teams.values() if team.parent_id in directorate_ids]
        assert sorted(team.name for team in wards) == sorted(WARD_TEAMS)
        assert len(wards) == 8
        assert by_id[teams["Ward 7 Respiratory"].parent_id].name == "Medicine"

        people = (await session.exec(select(func.count()).select_from(Person))).one()
        assert 55 <= people <= 70

        ward_members: dict[str, set[str]] = {}
        for ward in wards:
            assert ward.id is not None
            ward_members[ward.name] = {p.email for p in await directory.members(session, ward.id)}
            managers = await directory.members(session, ward.id, Role.MANAGER)
            assert len(managers) == 1 and managers[0].email in ward_members[ward.name]
            closed = await session.exec(
                select(func.count())
                .select_from(PulseRound)
                .where(PulseRound.team_id == ward.id, col(PulseRound.closed).is_(True))
            )
            assert closed.one() == 8, ward.name
            still_open = (
                await session.exec(
                    select(PulseRound).where(
                        PulseRound.team_id == ward.id, col(PulseRound.closed).is_(False)
                    )
                )
            ).all()
            assert len(still_open) == 1, ward.name
            assert still_open[0].opened_on == service.today()
        assert len(ward_members["Physiotherapy"]) < settings.min_group
        director = await directory.person_by_email(session, DEMO_DIRECTOR)
        assert director is not None and director.id is not None
        assert [t.name for t in await directory.teams_of(session, director.id)] == ["Medicine"]

        # Every outbox row was sent: history marked as sent at the time, this week's just now.
        statuses = (
            await session.exec(select(Delivery.status, func.count()).group_by(Delivery.status))
        ).all()
        assert dict(statuses) == {
            DeliveryStatus.SENT: sum(len(m) for m in ward_members.values()) * 9
        }

        answers = (await session.exec(select(func.count()).select_from(Response))).one()
        assert answers >= 8 * 40 * 5  # most of the 59 ward members answered 5 statements a week
        kudos = (await session.exec(select(func.count()).select_from(Recognition))).one()
        assert 20 <= kudos <= 30

        # Trends show something at once: 8 weeks of scores, and the seeded stories move the
        # right way (Ward 7's teamwork rises, the Emergency Department's wellbeing falls).
        thresholds = Thresholds(settings.min_group, settings.min_comment_group)
        ward7, emergency = teams["Ward 7 Respiratory"], teams["Emergency Department"]
        assert ward7.id is not None and emergency.id is not None
        summary = await team_trend(session, ward7.id, False, 12, service.today(), thresholds)
        # a ward never has 10 people in one pulse, so its comments stay hidden; the directorate's
        # roll-up does, so the director sees comments
        assert summary.themes and not summary.comments
        medicine = teams["Medicine"]
        assert medicine.id is not None
        medicine_ids = directory.descendants(list(teams.values()), medicine.id)
        rollup = await team_trend(
            session, medicine.id, len(medicine_ids) > 1, 12, service.today(), thresholds
        )
        assert rollup.comments
        # about a third of the demo's comments are about the card as a whole: a new user sees
        # "General" beside the themed ones in the directorate's report
        about = {theme for theme, _ in rollup.comments}
        assert "General" in about and about - {"General"}
        assert len(summary.rounds) == 8
        assert sum(1 for row in summary.rounds if row.respondents) >= 6
        oldest = min(row.week for row in summary.rounds)
        assert oldest == service.today() - timedelta(days=service.today().weekday(), weeks=8)
        teamwork = summary.series["Teamwork"]
        assert len(teamwork) >= 3 and teamwork[-1][1] > teamwork[0][1]
        emergency_trend = await team_trend(
            session, emergency.id, False, 12, service.today(), thresholds
        )
        wellbeing = emergency_trend.series["Health and wellbeing"]
        assert len(wellbeing) >= 3 and wellbeing[-1][1] < wellbeing[0][1]

    # This week's pulse reached every ward member exactly once, as a pulse card.
    cards = [(email, view) for email, view in messenger.direct if isinstance(view, PulseCard)]
    assert len(cards) == len(messenger.direct)
    everyone = set().union(*ward_members.values())
    assert sorted(email for email, _ in cards) == sorted(everyone)
    nurse_cards = [view for email, view in cards if email == DEMO_NURSE]
    assert len(nurse_cards) == 1 and nurse_cards[0].team == "Ward 7 Respiratory"

    pending = await service.pending_pulses(DEMO_NURSE)
    assert len(pending) == 1
    assert pending[0].team == "Ward 7 Respiratory"
    assert pending[0].round_id == nurse_cards[0].round_id
    assert await service.pending_pulses(DEMO_DIRECTOR) == []

    # A second start finds the organisation and changes nothing.
    async with db.session() as session:
        rounds_before = (await session.exec(select(func.count()).select_from(PulseRound))).one()
    assert await ensure_demo(service) is False
    async with db.session() as session:
        assert (await session.exec(select(func.count()).select_from(PulseRound))).one() == (
            rounds_before
        )
        assert (await session.exec(select(func.count()).select_from(Organisation))).one() == 1
    assert len(messenger.direct) == len(cards)

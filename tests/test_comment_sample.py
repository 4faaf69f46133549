"""A report above a ward shows a bounded random sample of its published comments, says how many
there are in all, and never lets an unpublished comment into the sample.

Medicine (the top of the test trust) sees Ward A's twelve comments of one week: more than a report
shows (``surveys.comments.SAMPLE``, 10).
"""

from __future__ import annotations

from bot.conversation import Conversation
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import TrendReportView
from storage.engine import Database
from surveys.comments import SAMPLE
from tests.support import FixedClock, after_the_week, answers_for, email, make_service

LONE = "Only I was asked about this one"
GOOD, BAD = "Great support from the team this week", "The rota is awful and I am exhausted"


def ward_a() -> dict[str, str]:
    """Ward A's twelve people and the comment each gives: six glad, six not, all different."""
    return {f"a{i}": f"{GOOD if i % 2 else BAD} ({i})" for i in range(12)}


async def run_round(service: TeamPulse, team: str, said: dict[str, str]) -> None:
    """One closed round of ``team``, answered by the keys of ``said``, each with their comment
    on the card's first statement."""
    ref = await service.team_named(team)
    await service.open_round(ref)
    for person, words in said.items():
        [card] = await service.pending_pulses(email(person))
        comment = {card.questions[0].id: words}
        await service.submit_pulse(email(person), card.round_id, answers_for(card, 4), comment)
    await service.close_round(ref)


async def report(service: TeamPulse, who: str, team: str) -> TrendReportView:
    [view] = await Conversation(service).handle(email(who), f"pulse trends {team}")
    assert isinstance(view, TrendReportView), view
    return view


async def published_week(db: Database, settings: Settings) -> TeamPulse:
    clock = FixedClock()
    service, _ = await make_service(db, settings, clock)
    await run_round(service, "Ward A", ward_a())
    # the same week a second pulse (other statements) that one person answers: its theme's
    # group is one person at every level, so their comment is never published
    await run_round(service, "Ward A", {"a0": LONE})
    await after_the_week(service, clock)
    return service


async def test_a_report_with_more_comments_than_it_shows_says_how_many_there_are(
    db: Database, settings: Settings
) -> None:
    service = await published_week(db, settings)
    view = await report(service, "director", "Medicine")
    assert len(view.comments) == SAMPLE
    assert {words for _, words in view.comments} <= set(ward_a().values())
    assert f"Showing {SAMPLE} of 12 comments, picked at random" in " ".join(view.notes)
    # the ward's own report has the same twelve
    ward = await report(service, "manager.a", "Ward A")
    assert f"Showing {SAMPLE} of 12 comments" in " ".join(ward.notes)


async def test_no_unpublished_comment_ever_reaches_the_sample(
    db: Database, settings: Settings
) -> None:
    """The attack: read the top-level report again and again, hoping the lone person's comment
    (one person on its theme that week) turns up in some sample.  It never does, and the total
    never counts it; every published comment turns up sooner or later."""
    service = await published_week(db, settings)
    seen: set[str] = set()
    for _ in range(25):
        view = await report(service, "director", "Medicine")
        words = {words for _, words in view.comments}
        assert LONE not in words
        assert "of 12 comments" in " ".join(view.notes)
        seen |= words
    assert seen == set(ward_a().values())


async def test_the_sample_changes_between_readings_and_the_mood_does_not(
    db: Database, settings: Settings
) -> None:
    service = await published_week(db, settings)
    views = [await report(service, "director", "Medicine") for _ in range(8)]
    assert len({view.comments for view in views}) > 1  # another pick, or another order
    assert len({frozenset(view.comments) for view in views}) > 1  # other comments
    # the mood is over all twelve comments, not the ten shown: the same at every reading
    assert len({view.mood for view in views}) == 1 and views[0].mood is not None

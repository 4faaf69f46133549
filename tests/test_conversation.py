"""Chat commands as a user types them, through the shared conversation handler."""

from __future__ import annotations

from datetime import timedelta

from bot.conversation import Conversation
from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import KudosPost, PulseCard, TextReply, TrendReportView, View
from storage.engine import Database
from tests.support import FixedClock, after_the_week, email, make_service


def only(views: list[View]) -> View:
    assert len(views) == 1
    return views[0]


def text_of(views: list[View]) -> str:
    view = only(views)
    assert isinstance(view, TextReply), view
    return view.text


async def run_rounds(
    service: TeamPulse, clock: FixedClock, team: str, members: list[str], weeks: int, score: int = 4
) -> None:
    for week in range(weeks):
        await service.open_round(await service.team_named(team))
        for member in members:
            [card] = await service.pending_pulses(member)
            answers = {q.id: score if week < weeks // 2 else 5 for q in card.questions}
            comments = {card.questions[0].id: "Great support from the team this week"}
            await service.submit_pulse(member, card.round_id, answers, comments)
        await service.close_round(await service.team_named(team))
        clock.now += timedelta(days=7)
    await service.close_due_rounds()  # the scheduler's tick: the last week is over, so it is cut


async def test_help_lists_every_command(db: Database, settings: Settings) -> None:
    service, _ = await make_service(db, settings)
    reply = text_of(await Conversation(service).handle(email("a0"), "pulse help"))
    for command in ("kudos @name", "pulse trends", "pulse status", "pulse send", "pulse settings"):
        assert command in reply
    assert "sync" not in reply  # Slack's own words are in Slack's help only


async def test_unknown_text_gets_a_helpful_reply(db: Database, settings: Settings) -> None:
    service, _ = await make_service(db, settings)
    reply = await Conversation(service).handle(email("a0"), "what's for lunch?")
    assert "didn't understand" in text_of(reply) and "pulse help" in text_of(reply)


async def test_strangers_are_told_how_to_join(db: Database, settings: Settings) -> None:
    service, _ = await make_service(db, settings)
    reply = await Conversation(service).handle("stranger@elsewhere.example", "pulse")
    assert "don't know you" in text_of(reply)


async def test_pulse_command_shows_the_waiting_card(db: Database, settings: Settings) -> None:
    service, _ = await make_service(db, settings)
    chat = Conversation(service)
    assert "No pulse is waiting" in text_of(await chat.handle(email("b1"), "pulse"))
    await service.open_round(await service.team_named("Ward B"))
    assert isinstance(only(await chat.handle(email("b1"), "pulse")), PulseCard)


async def test_kudos_posts_to_the_team_and_tells_the_recipients(
    db: Database, settings: Settings
) -> None:
    service, messenger = await make_service(db, settings)
    reply = only(
        await Conversation(service).handle(
            email("a0"), "kudos @b1 @a2 thanks for covering the night shift #teamwork"
        )
    )
    assert isinstance(reply, KudosPost)
    assert reply.message == "thanks for covering the night shift"
    assert reply.value == "teamwork" and set(reply.recipients) == {"B1", "A2"}
    assert {team for team, _ in messenger.channel} == {"Ward A", "Ward B"}
    assert {to for to, _ in messenger.direct} == {email("b1"), email("a2")}


async def test_kudos_problems_get_friendly_messages(db: Database, settings: Settings) -> None:
    service, messenger = await make_service(db, settings)
    chat = Conversation(service)
    assert "Add a value" in text_of(await chat.handle(email("a0"), "kudos @b1 great work"))
    assert "isn't one of our values" in text_of(
        await chat.handle(email("a0"), "kudos @b1 great work #awesome")
    )
    assert "couldn't find @nobody" in text_of(
        await chat.handle(email("a0"), "kudos @nobody great work #teamwork")
    )
    assert "can't thank yourself" in text_of(
        await chat.handle(email("a0"), "kudos @a0 great work #teamwork")
    )
    assert "Say who to thank" in text_of(await chat.handle(email("a0"), "kudos great work"))
    assert messenger.channel == []


async def test_manager_gets_trends_with_chart_after_rounds_close(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    clock.now -= timedelta(days=7 * 6)
    service, _ = await make_service(db, settings, clock)
    await run_rounds(service, clock, "Ward B", [email(f"b{i}") for i in range(6)], weeks=6)
    report = only(await Conversation(service).handle(email("manager.b"), "pulse trends"))
    assert isinstance(report, TrendReportView)
    assert report.team == "Ward B" and report.themes
    assert all(row.respondents >= 5 for row in report.themes)
    assert report.chart_png is not None and report.chart_png.startswith(b"\x89PNG")
    assert "Welch" in report.footnote and "95%" in report.footnote
    assert [r.respondents for r in report.rounds] == [6] * 6
    assert report.rounds[0].rate == 100
    # 36 cards over six weeks, but never 10 people in one pulse: comments stay hidden
    assert report.comments == () and report.mood is None
    assert any("at least 10 people answered" in note for note in report.notes)


async def test_comments_show_in_random_order_without_dates_for_big_enough_pulses(
    db: Database, settings: Settings
) -> None:
    clock = FixedClock()
    clock.now -= timedelta(days=7 * 2)
    service, _ = await make_service(db, settings, clock)
    await run_rounds(service, clock, "Ward A", [email(f"a{i}") for i in range(12)], weeks=2)
    report = only(await Conversation(service).handle(email("manager.a"), "pulse trends"))
    assert isinstance(report, TrendReportView)
    # 24 published comments: a random 10 of them are shown, and the report says so
    assert len(report.comments) == 10
    assert "Showing 10 of 24 comments, picked at random (ask again for others); " in " ".join(
        report.notes
    )
    assert {text for _, text in report.comments} == {"Great support from the team this week"}
    assert report.mood is not None and report.mood.startswith("positive")


async def test_trends_hide_groups_below_the_threshold(db: Database, settings: Settings) -> None:
    clock = FixedClock()
    clock.now -= timedelta(days=7 * 2)
    service, _ = await make_service(db, settings, clock)
    await run_rounds(service, clock, "Ward B", [email(f"b{i}") for i in range(4)], weeks=2)
    report = only(await Conversation(service).handle(email("manager.b"), "pulse trends"))
    assert isinstance(report, TrendReportView)
    assert report.themes == () and report.chart_png is None
    assert all(r.respondents is None and r.rate is None for r in report.rounds)
    assert any("Not enough answers" in note for note in report.notes)
    assert report.comments == ()


async def test_trends_are_for_the_teams_managers_and_leaders_above(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    chat = Conversation(service)
    assert "for managers" in text_of(await chat.handle(email("a0"), "pulse trends"))
    assert "isn't one of your teams" in text_of(
        await chat.handle(email("manager.b"), "pulse trends Ward A")
    )
    director = only(await chat.handle(email("director"), "pulse trends Ward A 8"))
    assert isinstance(director, TrendReportView) and director.weeks == 8
    rollup = only(await chat.handle(email("director"), "pulse trends"))
    assert isinstance(rollup, TrendReportView) and "teams below it" in rollup.scope
    tiny = text_of(await chat.handle(email("manager.t"), "pulse trends"))
    assert "fewer than 5 members" in tiny and "Medicine" in tiny


async def test_manager_can_send_a_pulse_and_change_settings(
    db: Database, settings: Settings
) -> None:
    service, messenger = await make_service(db, settings)
    chat = Conversation(service)
    assert "for managers" in text_of(await chat.handle(email("b0"), "pulse send"))
    assert "Opened pulse #1 for Ward B" in text_of(
        await chat.handle(email("manager.b"), "pulse send")
    )
    assert len(messenger.direct) == 6
    changed = text_of(await chat.handle(email("manager.b"), "pulse settings questions 4"))
    assert "4 questions" in changed
    bad = text_of(await chat.handle(email("manager.b"), "pulse settings questions 9"))
    assert "between 2 and 5" in bad
    superscript = text_of(await chat.handle(email("manager.b"), "pulse settings questions \u00b2"))
    assert "between 2 and 5" in superscript  # a digit to str.isdigit, not to int()
    status = text_of(await chat.handle(email("manager.b"), "pulse status"))
    assert "Ward B: pulse #1 open" in status and "fewer than 5 answered" in status


async def test_a_sibling_is_withheld_when_subtraction_would_expose_a_small_team(
    db: Database, settings: Settings
) -> None:
    """Medicine = Ward A (12) + Ward B (6) + Tiny (3).  Showing Medicine, Ward A and Ward B would
    let anyone work out Tiny's three answers, so the smallest sibling (Ward B) is withheld too."""
    clock = FixedClock()
    clock.now -= timedelta(days=7)
    service, _ = await make_service(db, settings, clock)
    for team in ("Ward A", "Ward B", "Tiny"):
        await service.open_round(await service.team_named(team))
    people = [email(f"a{i}") for i in range(12)] + [email(f"b{i}") for i in range(6)]
    for member in [*people, *(email(f"t{i}") for i in range(3))]:
        [card] = await service.pending_pulses(member)
        await service.submit_pulse(member, card.round_id, {q.id: 3 for q in card.questions})
    for team in ("Ward A", "Ward B", "Tiny"):
        await service.close_round(await service.team_named(team))
    await after_the_week(service, clock)
    chat = Conversation(service)
    director = only(await chat.handle(email("director"), "pulse trends"))
    ward_b = only(await chat.handle(email("manager.b"), "pulse trends"))
    assert isinstance(director, TrendReportView) and isinstance(ward_b, TrendReportView)
    ward_a = only(await chat.handle(email("manager.a"), "pulse trends"))
    assert isinstance(ward_a, TrendReportView)
    assert [r.respondents for r in director.rounds] == [21]
    assert [r.respondents for r in ward_a.rounds] == [12]
    assert [r.respondents for r in ward_b.rounds] == [None]  # 21 - 12 - 6 would expose Tiny
    assert {c.team: c.respondents for c in director.children}["Tiny"] is None


async def test_admin_export_holds_only_published_cells(db: Database, settings: Settings) -> None:
    clock = FixedClock()
    clock.now -= timedelta(days=7 * 3)
    service, _ = await make_service(db, settings, clock)
    await run_rounds(service, clock, "Ward B", [email(f"b{i}") for i in range(6)], weeks=3)
    rows = (await service.export_csv(await service.team_named("Ward B"), 12)).splitlines()
    assert rows[0].startswith("team,week,theme,respondents,mean")
    assert len(rows) > 1
    assert all(int(row.split(",")[3]) >= settings.min_group for row in rows[1:])
    assert (await service.export_csv(await service.team_named("Tiny"), 12)).splitlines() == rows[:1]

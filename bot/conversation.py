"""What the bot says back: one handler per chat command, shared by every platform."""

from __future__ import annotations

import logging
from datetime import datetime, time

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import commands
from bot.charts import alt_text, render_chart
from bot.help import HELP
from bot.home import home
from bot.ports import Recipient, TeamTarget
from bot.service import TeamPulse, UnknownPerson
from bot.team_choice import chosen_team
from bot.views import HomeView, KudosPost, TextReply, TrendReportView, View
from storage.models import Person, Role, Team
from surveys import directory, recognition, responses, rounds
from surveys.directory import TeamRef
from surveys.trends import FOOTNOTE, team_trend

log = logging.getLogger(__name__)

NOT_KNOWN = (
    "I don't know you yet: your email isn't in this organisation's teams. "
    "Ask your manager or the teampulse admin to add you."
)


class Conversation:
    def __init__(self, service: TeamPulse, platform_help: str = "") -> None:
        """``platform_help``: help lines for words only the adapter asking understands (Slack's
        ``… sync #channel``), shown with the managers' commands; other platforms show none."""
        self.service = service
        self.platform_help = platform_help

    async def handle(self, email: str, text: str) -> list[View]:
        return await self.run(email, commands.parse(text))

    async def run(self, email: str, command: commands.Command) -> list[View]:
        """A parsed command (platforms with forms, like Slack's kudos shortcut, build one)."""
        try:
            return await self.dispatch(email, command)
        except UnknownPerson:
            return [TextReply(NOT_KNOWN, kind="error")]
        except rounds.RoundError as error:
            return [TextReply(str(error), kind="error")]

    async def dispatch(self, email: str, command: commands.Command) -> list[View]:
        match command:
            case commands.Help():
                return [self.help()]
            case commands.Pulse():
                return await self.pulse(email)
            case commands.Kudos():
                return [await self.kudos(email, command)]
            case commands.Trends():
                return [await self.trends(email, command)]
            case commands.Status():
                return [await self.status(email)]
            case commands.Send():
                return [await self.send(email, command.team)]
            case commands.SettingsCmd():
                return [await self.team_settings(email, command.team)]
            case commands.Unknown():
                return [self.unknown(command)]

    async def home(self, email: str) -> HomeView:
        """The person's home page (Slack's App Home tab): shown to them alone."""
        return await home(self.service, email, NOT_KNOWN)

    # -- everyone ------------------------------------------------------------------------------
    def help(self) -> TextReply:
        values = ", ".join(f"#{tag}" for tag in self.service.settings.kudos_values)
        return TextReply(
            HELP.format(
                values=values,
                weeks=commands.DEFAULT_WEEKS,
                k=self.service.settings.min_group,
                platform=self.platform_help,
            )
        )

    def unknown(self, command: commands.Unknown) -> TextReply:
        if command.hint:
            return TextReply(command.hint, kind="error")
        return TextReply(
            f"Sorry, I didn't understand “{command.text[:80]}”. Try `pulse help` to see what I can "
            "do, `pulse` for your pulse, or `kudos @name thanks for… #teamwork`.",
            kind="error",
        )

    async def pulse(self, email: str) -> list[View]:
        cards = await self.service.pending_pulses(email)
        if not cards:
            return [
                TextReply(
                    "No pulse is waiting for you right now. I'll message you when the "
                    "next one opens."
                )
            ]
        return list(cards)

    async def kudos(self, email: str, command: commands.Kudos) -> View:
        values = self.service.settings.kudos_values
        tags = ", ".join(f"#{tag}" for tag in values)
        if command.value is None:
            return TextReply(f"Add a value to your kudos, one of: {tags}.", kind="error")
        if command.value not in values:
            return TextReply(
                f"#{command.value} isn't one of our values. Use one of: {tags}.", kind="error"
            )
        if len(command.message) > recognition.MAX_MESSAGE:
            return TextReply(
                f"Kudos messages are limited to {recognition.MAX_MESSAGE} characters.", kind="error"
            )
        async with self.service.db.session() as session:
            giver = await self.service.person(session, email)
            found, missing = await self._resolve(session, giver, command.mentions)
            if missing:
                names = ", ".join(f"@{m}" for m in missing)
                return TextReply(
                    f"I couldn't find {names}. Mention colleagues by their work email "
                    "or the part before the @.",
                    kind="error",
                )
            if any(person.id == giver.id for person in found):
                return TextReply(
                    "Kudos are for celebrating others, so you can't thank yourself. "
                    "You're doing great though!",
                    kind="error",
                )
            given = await recognition.give(
                session, giver, found, command.message, command.value, self.service.clock()
            )
        post = KudosPost(
            giver=giver.display_name,
            recipients=tuple(p.display_name for p in given.recipients),
            message=command.message,
            value=command.value,
            value_label=values[command.value],
            teams=tuple(team.name for team in given.teams),
            day=f"{self.service.today():%d %b %Y}",
        )
        self.service.metrics.kudos.inc()
        await self._announce(post, given)
        return post

    async def _resolve(
        self, session: AsyncSession, giver: Person, mentions: tuple[str, ...]
    ) -> tuple[list[Person], list[str]]:
        found: dict[int, Person] = {}
        missing = []
        for mention in mentions:
            person = await directory.resolve_mention(session, giver.organisation_id, mention)
            if person is None or person.id is None:
                missing.append(mention)
            else:
                found[person.id] = person
        return list(found.values()), missing

    async def _announce(self, post: KudosPost, given: recognition.GivenKudos) -> None:
        """Post to each team's celebration feed and tell each recipient; a platform hiccup here
        doesn't undo the kudos, which is already saved."""
        messenger = self.service.messenger
        for team in given.teams:
            try:
                await messenger.post_to_team(TeamTarget.of(team), post)
            except Exception:
                log.warning("could not post kudos to a team channel", extra={"team_id": team.id})
        for person in given.recipients:
            try:
                await messenger.send_direct(Recipient.of(person), post)
            except Exception:
                log.warning("could not tell a kudos recipient", extra={"person_id": person.id})

    async def status(self, email: str) -> TextReply:
        async with self.service.db.session() as session:
            person = await self.service.person(session, email)
            assert person.id is not None
            pending = await responses.pending_rounds(session, person.id, self.service.answered)
            teams = await directory.teams_of(session, person.id)
            managed = await directory.teams_of(session, person.id, Role.MANAGER)
            lines = [f"*Your teams*: {', '.join(t.name for t in teams) or 'none yet'}"]
            lines.append(
                f"*Pulses waiting for you*: {len(pending)}" + (" (say `pulse`)" if pending else "")
            )
            for team in managed:
                lines.append(await self._round_status(session, team))
        return TextReply("\n".join(lines))

    async def _round_status(self, session: AsyncSession, team: Team) -> str:
        assert team.id is not None
        open_round = await rounds.open_round_for(session, team.id)
        if open_round is None:
            return f"• {team.name}: no pulse open."
        assert open_round.id is not None
        count = await rounds.respondent_count(session, open_round.id)
        k = self.service.settings.min_group
        answered = f"{count} answered" if count >= k else f"fewer than {k} answered so far"
        return (
            f"• {team.name}: pulse #{open_round.sequence} open until "
            f"{open_round.closes_on:%a %d %b}, {answered}."
        )

    # -- managers ------------------------------------------------------------------------------
    async def settings_team(self, email: str, name: str | None) -> TeamRef | TextReply:
        """The team whose settings this person may change (one they manage, in their own
        organisation; named, or their first), or the reason they may not."""
        try:
            async with self.service.db.session() as session:
                person = await self.service.person(session, email)
                team = await chosen_team(
                    session, person, name, below=False, command="pulse settings"
                )
        except UnknownPerson:
            return TextReply(NOT_KNOWN, kind="error")
        return team if isinstance(team, TextReply) else TeamRef.of(team)

    async def trends(self, email: str, command: commands.Trends) -> View:
        service = self.service
        async with service.db.session() as session:
            person = await service.person(session, email)
            team = await chosen_team(
                session, person, command.team, below=True, command="pulse trends"
            )
            if isinstance(team, TextReply):
                return team
            assert team.id is not None
            team_ids = directory.descendants(await directory.all_teams(session), team.id)
            small = await self._too_small(session, team, has_children=len(team_ids) > 1)
            if small is not None:
                return small
            summary = await team_trend(
                session, team.id, team_ids, command.weeks, service.today(), service.thresholds
            )
            since = datetime.combine(summary.period_start, time(), tzinfo=service.clock().tzinfo)
            received = await recognition.counts_by_value(session, team_ids, since)
            given = await recognition.counts_by_value(session, team_ids, since, given=True)
        chart = await render_chart(summary, team.name) if summary.series else None
        scope = (
            f"{team.name} and the {len(team_ids) - 1} teams below it"
            if len(team_ids) > 1
            else team.name
        )
        return TrendReportView(
            team=team.name,
            weeks=command.weeks,
            themes=tuple(summary.themes),
            rounds=tuple(summary.rounds),
            notes=tuple(summary.notes),
            footnote=FOOTNOTE.format(k=service.settings.min_group),
            chart_png=chart,
            chart_alt=alt_text(summary, team.name),
            recognition=tuple(received),
            recognition_given=tuple(given),
            advocacy=summary.advocacy,
            children=tuple(summary.children),
            mood=_mood(summary.mood),
            comments=tuple(summary.comments),
            scope=scope,
        )

    async def _too_small(
        self, session: AsyncSession, team: Team, *, has_children: bool
    ) -> TextReply | None:
        assert team.id is not None
        size = len(await directory.members(session, team.id))
        k = self.service.settings.min_group
        if has_children or size >= k:
            return None
        parent = await session.get(Team, team.parent_id) if team.parent_id else None
        where = f"as part of {parent.name}" if parent else "only as part of a larger group"
        return TextReply(
            f"{team.name} has fewer than {k} members, so to keep answers anonymous "
            f"its results are reported only {where}."
        )

    async def send(self, email: str, team_name: str | None) -> TextReply:
        """Open a round now.  A manager of several teams is asked which: a pulse messages a
        whole team and can't be taken back, so it is never sent to a guessed one."""
        async with self.service.db.session() as session:
            person = await self.service.person(session, email)
            team = await chosen_team(
                session, person, team_name, below=False, command="pulse send", guess=False
            )
        if isinstance(team, TextReply):
            return team
        message = await self.service.open_round(TeamRef.of(team))
        await self.service.deliver_outbox()
        return TextReply(message, kind="success")

    async def team_settings(self, email: str, args: str | None) -> TextReply:
        words = (args or "").split()
        change = words[-2:] if len(words) >= 2 and words[-2].lower() in SETTINGS_KEYS else []
        name = " ".join(words[: len(words) - len(change)]) or None
        async with self.service.db.session() as session:
            person = await self.service.person(session, email)
            team = await chosen_team(session, person, name, below=False, command="pulse settings")
            if isinstance(team, TextReply):
                return team
            if change:
                problem = apply_setting(team, change[0].lower(), change[1])
                if problem:
                    return TextReply(problem, kind="error")
                session.add(team)
                await session.commit()
            return TextReply(
                describe_settings(team, self.service.settings.timezone),
                kind="success" if change else "info",
            )


SETTINGS_KEYS = {"questions", "day", "time", "cadence"}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def apply_setting(team: Team, key: str, value: str) -> str | None:
    """Change one schedule setting; returns a friendly problem or None."""
    value = value.strip().lower()
    if key == "questions":
        if not value.isdigit() or not 2 <= int(value) <= 5:
            return "A pulse has between 2 and 5 questions."
        team.questions_per_pulse = int(value)
    elif key == "day":
        if value[:3] not in DAYS:
            return "Give a weekday, like `mon` or `thursday`."
        team.schedule_day = value[:3]
    elif key == "time":
        try:
            team.schedule_time = datetime.strptime(value, "%H:%M").strftime("%H:%M")
        except ValueError:
            return "Give a 24-hour time, like `09:30`."
    elif value in {"weekly", "fortnightly"}:
        team.cadence = value
    else:
        return "Cadence is `weekly` or `fortnightly`."
    return None


def describe_settings(team: Team, default_tz: str) -> str:
    return (
        f"*{team.name}*: a {team.cadence} pulse of {team.questions_per_pulse} questions, "
        f"{team.schedule_day.title()} at {team.schedule_time} ({team.timezone or default_tz}), "
        "open for answers until it closes. Change with `pulse settings "
        f"{team.name} questions 4` (or `day`, `time`, `cadence`)."
    )


def _mood(polarity: float | None) -> str | None:
    if polarity is None:
        return None
    label = "positive" if polarity > 0.1 else "negative" if polarity < -0.1 else "mixed"
    return f"{label} (average polarity {polarity:+.2f} on a -1 to +1 scale)"

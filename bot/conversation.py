"""The one entry for every user action on every platform: words typed to the bot, a pulse card
opened and submitted, kudos from a form, the home page.  Each is checked once, here, and answered
with ``Reply`` values that carry their audience (``bot/views.py``), so an adapter only decides
how, never whether, a reply is private."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import cards, commands
from bot.charts import alt_text, render_chart
from bot.help import HELP
from bot.home import home
from bot.kudos import give_kudos, kudos_problems
from bot.me import my_schedule
from bot.member_sync import Fetch, MemberSources, Source
from bot.outage import DatabaseUnavailable, Deadline, StillRunning, within
from bot.saving import StillSaving, still_saving
from bot.service import TeamPulse, UnknownPerson
from bot.team_choice import chosen_team
from bot.team_settings import SETTINGS_KEYS, apply_setting, describe_settings
from bot.views import (
    HomeView,
    PulseCard,
    Receipt,
    Reply,
    TextReply,
    TrendReportView,
    View,
    replies,
)
from bot.words import KUDOS_NOT_SAVED, NOT_KNOWN, NOT_SAVED, UNAVAILABLE
from storage.models import Role, Team
from surveys import directory, responses, rounds
from surveys.directory import TeamRef
from surveys.kudos_counts import counts_since
from surveys.trends import FOOTNOTE, prepare_statistics, team_trend


class Conversation:
    def __init__(self, service: TeamPulse, platform_help: str = "") -> None:
        """``platform_help``: help lines for words only the adapter asking understands (Slack's
        ``… sync #channel``), shown with the managers' commands; other platforms show none."""
        self.service = service
        self.platform_help = platform_help

    # -- the entries: every user action on every platform comes in here ----------------------------
    async def ask(self, email: str, text: str) -> list[Reply]:
        """Words typed to the bot (a message, a slash command, a mention)."""
        return await self.command(email, commands.parse(text))

    async def command(self, email: str, command: commands.Command) -> list[Reply]:
        """A command's replies.  With the database away, or not answering within
        ``COMMAND_WAIT``, the person is told that nothing was done (no bound on a trend report
        or a team's pulse being sent: those may take a while)."""
        refused = await self.service.rate_limits.command(email)
        if refused is not None:
            return replies([refused])
        slow = isinstance(command, commands.Trends | commands.Send)
        wait = None if slow else self.service.waits.command
        try:
            views = await within(wait, self.dispatch(email, command), "a chat command")
        except UnknownPerson:
            views = [TextReply(NOT_KNOWN, kind="error")]
        except rounds.RoundError as error:
            views = [TextReply(str(error), kind="error")]
        except DatabaseUnavailable:
            said = KUDOS_NOT_SAVED if isinstance(command, commands.Kudos) else UNAVAILABLE
            views = [TextReply(said, kind="error", retry=True)]
        return replies(views)

    async def handle(self, email: str, text: str) -> list[View]:
        """The views of ``ask``, for a chat that shows every reply to the asker (the web chat)."""
        return [reply.view for reply in await self.ask(email, text)]

    async def open_card(self, email: str, round_id: int) -> PulseCard | TextReply:
        """A pulse form being opened: the card, or a notice why not (within ``PERSON_WAIT``:
        a platform's form must open within seconds)."""
        try:
            return await within(
                self.service.waits.person,
                cards.open_card(self.service, email, round_id),
                "opening a pulse",
            )
        except DatabaseUnavailable:
            return TextReply(UNAVAILABLE, kind="error", retry=True)

    async def submit_card(
        self,
        email: str,
        round_id: int,
        answers: dict[str, int],
        comment: str,
        about: str | None,
        *,
        asked: Sequence[str] = (),
    ) -> Receipt | TextReply | StillSaving:
        """A pulse form sent back: the receipt, or why not (``problems`` for the form's fields).
        A receipt only for answers committed; with the database away (or not answering within
        ``PERSON_WAIT``) the person is asked to try again (``retry``), and the form may be sent
        again as it is.  When the wait runs out while the card's commit is under way, it can't
        be taken back: ``StillSaving`` says so, and brings the outcome after (bot/saving.py)."""
        by = Deadline.after(self.service.waits.person)
        try:
            found = await cards.submit_card(
                self.service, email, round_id, answers, comment, about, asked=asked, by=by
            )
        except DatabaseUnavailable:
            return TextReply(NOT_SAVED, kind="error", retry=True)
        if isinstance(found, StillRunning):
            self.service.metrics.still_saving.inc()
            return still_saving(found.task, round_id, self.service.follow_ups)
        return found

    def kudos_problems(
        self, recipients: Sequence[str], message: str, value: str
    ) -> TextReply | None:
        """A kudos form's problems that need no lookup (a platform may show them on the form)."""
        settings = self.service.settings
        said = " ".join(message.split())
        return kudos_problems(
            settings.kudos_values, recipients, said, value, settings.kudos_max_chars
        )

    async def give_kudos(
        self, email: str, recipient_emails: Sequence[str], message: str, value: str
    ) -> list[Reply]:
        """Kudos from a form: the same checks and path as the ``kudos`` command."""
        command = commands.Kudos(tuple(recipient_emails), " ".join(message.split()), value)
        return await self.command(email, command)

    async def sync_members(
        self, email: str, team_name: str | None, source: Source, fetch: Fetch
    ) -> list[Reply]:
        """A manager ties a team's members to a group on the platform (``fetch`` lists it)."""
        return await self._guarded(self._sync(email, team_name, source, fetch))

    async def _sync(
        self, email: str, team_name: str | None, source: Source, fetch: Fetch
    ) -> list[Reply]:
        team = await self.settings_team(email, team_name)
        if isinstance(team, TeamRef):
            return replies([await MemberSources(self.service).sync(team, source, fetch)])
        return replies([team])

    async def stop_sync(
        self, email: str, team_name: str | None, label_of: Callable[[str], str]
    ) -> list[Reply]:
        """``… sync off``: the team stops following its group; its members stay."""
        return await self._guarded(self._stop_sync(email, team_name, label_of))

    async def _stop_sync(
        self, email: str, team_name: str | None, label_of: Callable[[str], str]
    ) -> list[Reply]:
        team = await self.settings_team(email, team_name)
        if isinstance(team, TeamRef):
            return replies([await MemberSources(self.service).stop(team, label_of)])
        return replies([team])

    @staticmethod
    async def _guarded(work: Awaitable[list[Reply]]) -> list[Reply]:
        """``work``'s replies, or, with the database away, that nothing was done."""
        try:
            return await within(None, work, "a team's member sync")
        except DatabaseUnavailable:
            return replies([TextReply(UNAVAILABLE, kind="error", retry=True)])

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
            case commands.Me():
                return [await my_schedule(self.service, email, command.args)]
            case commands.Unknown():
                return [self.unknown(command)]

    async def home(self, email: str) -> HomeView:
        """The person's home page (Slack's App Home tab): shown to them alone."""
        try:
            found = home(self.service, email, NOT_KNOWN)
            return await within(self.service.waits.person, found, "a home page")
        except DatabaseUnavailable:
            return HomeView(name="", notice=UNAVAILABLE)

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
        """A kudos that is well formed takes one of the giver's hour's allowance before it is
        given (taken at once, so kudos sent together can't all slip under the limit)."""
        problem = self.kudos_problems(command.mentions, command.message, command.value or "")
        if problem is not None:
            return problem
        refused = await self.service.rate_limits.kudos(email)
        if refused is not None:
            return refused
        return await give_kudos(
            self.service, email, command.mentions, command.message, command.value
        )

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
                asker = await self.service.asker(session, email)
                team = await chosen_team(
                    session, asker, name, below=False, command="pulse settings"
                )
        except UnknownPerson:
            return TextReply(NOT_KNOWN, kind="error")
        return team if isinstance(team, TextReply) else TeamRef.of(team)

    async def trends(self, email: str, command: commands.Trends) -> View:
        service = self.service
        await prepare_statistics()  # (the first report's import, before the session)
        # a report only reads: on SQLite its session takes no write lock, so answers being
        # submitted meanwhile don't wait for it
        async with service.db.reading() as session:
            asker = await service.asker(session, email)
            team = await chosen_team(
                session, asker, command.team, below=True, command="pulse trends"
            )
            if isinstance(team, TextReply):
                return team
            assert team.id is not None
            size = await directory.team_size(session, team.id)
            small = await self._too_small(session, team, size)
            if small is not None:
                return small
            teams = size.teams
            summary = await team_trend(
                session, team.id, teams > 1, command.weeks, service.today(), service.thresholds
            )
            kudos = await counts_since(session, team.id, summary.period_start, service.today())
        chart = await render_chart(summary, team.name) if summary.series else None
        scope = f"{team.name} and the {teams - 1} teams below it" if teams > 1 else team.name
        return TrendReportView(
            team=team.name,
            weeks=command.weeks,
            themes=tuple(summary.themes),
            rounds=tuple(summary.rounds),
            notes=tuple(summary.notes),
            footnote=FOOTNOTE.format(k=service.settings.min_group),
            chart_png=chart,
            chart_alt=alt_text(summary, team.name),
            recognition=tuple(kudos.received),
            recognition_given=tuple(kudos.given),
            advocacy=summary.advocacy,
            children=tuple(summary.children),
            mood=_mood(summary.mood),
            comments=tuple(summary.comments),
            scope=scope,
        )

    async def _too_small(
        self, session: AsyncSession, team: Team, size: directory.TeamSize
    ) -> TextReply | None:
        """Why a team's results are not shown, if they are not: it has no teams below it and
        fewer members than the smallest group reported (``TEAMPULSE_MIN_GROUP``)."""
        k = self.service.settings.min_group
        if size.teams > 1 or size.members >= k:
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
            asker = await self.service.asker(session, email)
            team = await chosen_team(
                session, asker, team_name, below=False, command="pulse send", guess=False
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
            asker = await self.service.asker(session, email)
            team = await chosen_team(session, asker, name, below=False, command="pulse settings")
            if isinstance(team, TextReply):
                return team
            if change:
                problem = apply_setting(team, change[0].lower(), change[1])
                if problem:
                    return TextReply(problem, kind="error")
                session.add(team)
                await session.commit()
            return TextReply(
                describe_settings(team, self.service.settings),
                kind="success" if change else "info",
            )


def _mood(polarity: float | None) -> str | None:
    if polarity is None:
        return None
    label = "positive" if polarity > 0.1 else "negative" if polarity < -0.1 else "mixed"
    return f"{label} (average polarity {polarity:+.2f} on a -1 to +1 scale)"

"""The core service that every adapter calls.  It speaks in people (by email) and views.

``TeamPulse`` is a facade: its jobs live in modules of their own, each given the service (its
clock, messenger, settings and database, read when called): pulse cards and submitting them in
``bot/pulses.py``, rounds and weeks in ``bot/pulse_rounds.py``, the outbox and reminders in
``bot/outbox.py`` and ``bot/reminders.py``, people and teams in ``bot/members.py``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import credentials, members, outbox, pulse_rounds, pulses, reminders, turnout
from bot.batching import GroupCommit
from bot.credentials import Sealer
from bot.identities import Identities, Inbound
from bot.ledger import Participants
from bot.members import UnknownPerson as UnknownPerson
from bot.metrics import Metrics
from bot.outage import Deadline, StillRunning, Waits, grouped_or_running, within
from bot.places import Places
from bot.ports import Messenger, NullMessenger
from bot.rate_limits import PersonLimits
from bot.saving import FollowUps
from bot.settings import Settings
from bot.views import PulseCard, Receipt, TextReply, View
from storage.engine import Database
from storage.inbound import InboundEvents
from storage.models import Person, PulseRound, Team
from surveys import directory, lifecycle, responses, rounds, subject_access
from surveys.anonymity import Thresholds
from surveys.directory import TeamRef
from surveys.organisation import ImportSummary, OrgSpec

log = logging.getLogger(__name__)
# the ``comments`` key of a comment about the whole card, tied to no statement ("General")
GENERAL_COMMENT = responses.GENERAL


def utc_now() -> datetime:
    return datetime.now(UTC)


class TeamPulse:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        messenger: Messenger | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.db = db
        self.settings = settings
        self.messenger: Messenger = messenger or NullMessenger()
        self.clock = clock
        self.thresholds = Thresholds(settings.min_group, settings.min_comment_group)
        # how long a person waits on the database (bot/outage.py)
        self.waits = Waits.of(db.url, settings.person_wait)
        self.metrics = Metrics()
        self._secret: bytes | None = None
        self._outbox_wake: asyncio.Event | None = None
        self._submissions: GroupCommit[pulses.SubmittedCard, View] = GroupCommit(
            self._submit_cards, drop_abandoned=True
        )
        # outcomes still to show to people told their answers were still being saved
        self.follow_ups = FollowUps()
        self.outcomes = outbox.outcome_batches(db)  # the outbox's outcomes, committed together
        # who has answered, held here until written in batches (surveys/participation.py)
        self.participants = Participants(db, settings.min_group)
        # platform accounts and references, and inbound event ids: the adapters' only way in
        self.identities = Identities(self.session)
        self.inbound = Inbound(InboundEvents(db))
        self.places = Places(self.session)
        # kudos and commands per person, in this process's memory (bot/rate_limits.py)
        self.rate_limits = PersonLimits(settings)

    # -- time and identity -------------------------------------------------------------------
    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = self.settings.hashing_secret()
        return self._secret

    @property
    def sealer(self) -> Sealer:
        """Seals the credentials an adapter stores (``bot/credentials.py``)."""
        return credentials.sealer(self.settings, self.secret)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work for adapters' own rows (platform identities, conversation references):
        a new short session, committed on a clean exit.  The outbox sends with no transaction
        open, so this never waits behind, or joins, the core's sending."""
        async with self.db.session() as session:
            yield session
            await session.commit()

    @property
    def outbox_wake(self) -> asyncio.Event:
        """Set when rows are queued in this process (the sender waits on it)."""
        if self._outbox_wake is None:
            self._outbox_wake = asyncio.Event()
        return self._outbox_wake

    def wake_outbox(self) -> None:
        """Rows were queued: have the sender start now rather than at its next poll."""
        self.outbox_wake.set()

    async def answered(
        self, session: AsyncSession, pairs: Sequence[tuple[int, int]]
    ) -> set[tuple[int, int]]:
        """Those (round, person) pairs whose person has answered the round: written, pending
        here, or (PostgreSQL) pending in another process."""
        return await self.participants.answered(session, self.secret, pairs)

    async def close(self) -> None:
        """Stop: let answers still being saved reach their people for a while (bot/saving.py),
        then write who answered where that is safe (bot/ledger.py), release the claims."""
        await self.follow_ups.drain()
        await self.participants.close()

    def today(self) -> date:
        return self.clock().astimezone(ZoneInfo(self.settings.timezone)).date()

    async def person(self, session: AsyncSession, email: str) -> Person:
        person = await directory.person_by_email(session, email)
        if person is None:
            raise UnknownPerson(email)
        return person

    async def asker(self, session: AsyncSession, email: str) -> directory.Asker:
        """The person and the teams they manage (a manager's command's first read)."""
        asker = await directory.asker_by_email(session, email)
        if asker is None:
            raise UnknownPerson(email)
        return asker

    # -- people and teams (bot/members.py) -----------------------------------------------------
    async def roster(self) -> tuple[bool, list[directory.RosterEntry]]:
        """Whether the demo is loaded, and everyone in a team with their teams (by name)."""
        return await members.roster(self)

    async def team_names_of(self, email: str) -> list[str]:
        """The names of the teams this person belongs to (any role); ``UnknownPerson``."""
        return await members.team_names_of(self, email)

    async def team_named(self, name: str, organisation: str | None = None) -> TeamRef:
        """The team an operator names on the command line; ``TeamChoiceError``."""
        return await members.team_named(self, name, organisation)

    async def import_organisation(self, spec: OrgSpec, *, is_demo: bool = False) -> ImportSummary:
        """Import teams and people (all or nothing)."""
        summary = await members.import_organisation(self, spec, is_demo=is_demo)
        self.identities.bindings.forget()  # (this process: what it names applies at once)
        return summary

    async def set_members(self, ref: TeamRef, emails: Iterable[str]) -> tuple[int, int]:
        """Replace a team's members (role member); returns (added, removed)."""
        return await members.set_members(self, ref, emails)

    async def set_member_source(self, ref: TeamRef, source: str | None) -> str | None:
        """Remember (``None``: forget) what a team's members are kept in step with."""
        return await members.set_member_source(self, ref, source)

    async def teams_in_step_with(self, source: str) -> list[TeamRef]:
        """The teams whose members are kept in step with ``source``."""
        return await members.teams_in_step_with(self, source)

    # -- pulses (bot/pulses.py) ----------------------------------------------------------------
    def card(self, pulse_round: PulseRound, team: Team, question_ids: list[str]) -> PulseCard:
        return pulses.card(pulse_round, team, question_ids, self.settings.comment_max_chars)

    async def pending_pulses(self, email: str) -> list[PulseCard]:
        return await pulses.pending(self, email)

    async def pending_pulse(self, email: str, round_id: int) -> PulseCard | None:
        """The card of one round, if it is still waiting for this person (open, sent to them,
        not answered); ``UnknownPerson`` for someone outside the organisation."""
        cards = await pulses.pending(self, email, round_id)
        return cards[0] if cards else None

    async def submit_pulse(
        self,
        email: str,
        round_id: int,
        answers: dict[str, int],
        comments: dict[str, str] | None = None,
        general_comment: str = "",
    ) -> View:
        """Record a card: a ``Receipt`` once it is committed, else a ``TextReply`` saying why not
        (``UnknownPerson`` for someone outside the organisation).  Cards that arrive together are
        committed together (``bot.batching``).

        ``comments`` maps a statement's question id to a comment tied to it (shown under its
        theme); its key ``GENERAL_COMMENT`` (``""``), or ``general_comment``, is a comment about
        the card as a whole (shown under "General"), the default on every platform."""
        card = await self._card(email, round_id, answers, comments or {}, general_comment)
        if not isinstance(card, pulses.SubmittedCard):
            return card
        return self._recorded(await self._submissions(card), round_id)

    async def submit_pulse_by(
        self,
        by: Deadline,
        email: str,
        round_id: int,
        answers: dict[str, int],
        comments: dict[str, str],
    ) -> View | StillRunning[View]:
        """``submit_pulse`` for a person waiting at most until ``by`` (``bot/outage.py``):
        ``DatabaseUnavailable`` when the card was given up on before its batch started (it is
        then never stored), ``StillRunning`` when its batch was under way."""
        card = await self._card(email, round_id, answers, comments, "", by)
        if not isinstance(card, pulses.SubmittedCard):
            return card
        found = await grouped_or_running(self._submissions, card, by, "a pulse submission")
        if isinstance(found, StillRunning):
            return found.then(partial(self._recorded_after, round_id))
        return self._recorded(found, round_id)

    async def _card(
        self,
        email: str,
        round_id: int,
        answers: dict[str, int],
        comments: dict[str, str],
        general_comment: str,
        by: Deadline | None = None,
    ) -> pulses.SubmittedCard | TextReply:
        """The card to commit.  The process's first comment loads TextBlob's lexicon in a thread
        (``surveys/mood.py``): until it has, a person's wait (``by``) bounds that too, as a task
        of ``within`` (the load holds no connection, but only a task can be given up on); after,
        working out the moods never waits."""
        if not rounds.is_round_id(round_id):
            return TextReply(responses.NOT_SENT, kind="error")
        submission = responses.Submission(round_id, answers, comments, general_comment)
        found = responses.moods_of(submission, self.settings.comment_max_chars)
        if by is not None and responses.moods_wait(submission):
            moods = await within(by, found, "a pulse submission")
        else:
            moods = await found
        return pulses.SubmittedCard(directory.normalise_email(email), submission, moods)

    def _recorded(self, view: View, round_id: int) -> View:
        if isinstance(view, Receipt):
            log.info("pulse answer recorded", extra={"round_id": round_id})
            self.metrics.answers.inc()
        return view

    async def _recorded_after(self, round_id: int, running: Awaitable[View]) -> View:
        return self._recorded(await running, round_id)

    async def _submit_cards(self, cards: Sequence[pulses.SubmittedCard]) -> list[View | Exception]:
        return await pulses.submit_cards(self, cards)

    # -- rounds and weeks (bot/pulse_rounds.py) ------------------------------------------------
    async def open_round(self, ref: TeamRef, *, scheduled: bool = False) -> str:
        """Open a team's round now (``scheduled``: by the scheduler, its pulses spread out)."""
        return await pulse_rounds.open_round(self, ref, scheduled=scheduled)

    async def open_rounds(
        self,
        refs: Sequence[TeamRef],
        *,
        scheduled: bool = False,
        due: Callable[[Team, date | None], bool] | None = None,
    ) -> int:
        """Open many teams' rounds now, several per transaction (the scheduler's tick; ``due``:
        only the teams still due, given the day their last round opened); returns how many
        opened.  A team that can't open is logged and skipped."""
        return await pulse_rounds.open_rounds(self, refs, scheduled=scheduled, due=due)

    async def close_round(self, ref: TeamRef) -> str:
        return await pulse_rounds.close_round(self, ref)

    async def close_due_rounds(self) -> int:
        """Close the rounds whose day has come, then cut the weeks that are due."""
        return await pulse_rounds.close_due_rounds(self)

    async def cut_due_weeks(self) -> list[date]:
        """Publish every week that is over and whose pulses have all closed."""
        return await pulse_rounds.cut_due_weeks(self)

    async def export_csv(self, ref: TeamRef, weeks: int) -> str:
        """The admin export: published cells only, the same rules as the reports."""
        return await pulse_rounds.export_csv(self, ref, weeks)

    async def status_report(self) -> str:
        """Operator view of open rounds: counts only, never who has or hasn't answered."""
        return await pulse_rounds.status_report(self)

    # -- sending (bot/outbox.py, bot/reminders.py) ---------------------------------------------
    async def send_reminders(self) -> int:
        """The day before a round closes, queue its reminders (once per round) and send them to
        whoever has not answered; returns how many were sent."""
        return await reminders.send_reminders(self)

    async def warn_low_turnout(self) -> int:
        """The day before a round closes, tell its managers if it has fewer than k answers."""
        return await turnout.warn_low_turnout(self)

    async def deliver_outbox(self, width: int | None = None) -> int:
        """Send due outbox rows (``width`` at once); each outcome is committed right after its
        send (with those of sends finishing alongside)."""
        return await outbox.deliver_outbox(self, width)

    async def outbox_counts(self) -> dict[str, int]:
        """Pulse deliveries by state (pending, in flight, sent, retrying, failed): counts only."""
        return await pulse_rounds.outbox_counts(self)

    # -- data lifecycle (surveys/lifecycle.py; docs/data-protection.md) -------------------------
    async def prune_comments(self) -> lifecycle.Pruned:
        """Delete comments older than ``TEAMPULSE_COMMENT_RETENTION_MONTHS`` (0: keep them);
        scores and published figures stay."""
        return await lifecycle.prune_comments(
            self.db.session, self.today(), self.settings.comment_retention_months
        )

    async def forget_person(self, email: str, *, kudos_text: bool) -> lifecycle.Forgotten | None:
        """Erase a person's identity (and on request the words of their kudos); None: no one
        has that email."""
        async with self.db.session() as session:
            forgotten = await lifecycle.forget_person(session, email, kudos_text=kudos_text)
            await session.commit()
        return forgotten

    async def person_data(self, email: str) -> dict[str, Any] | None:
        """What is held about a person, for a subject access request; None: no one has that
        email.  Their answers are never in it: nothing links an answer to a person."""
        async with self.db.session() as session:
            return await subject_access.person_data(session, email)

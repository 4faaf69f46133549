"""The core service that every adapter calls.  It speaks in people (by email) and views."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.batching import GroupCommit
from bot.identities import Identities, Inbound
from bot.ledger import Participants
from bot.metrics import Metrics
from bot.ports import Messenger, NullMessenger, Recipient
from bot.settings import Settings
from bot.team_choice import operator_team
from bot.views import CardQuestion, PulseCard, Receipt, TextReply, View
from storage.engine import Database
from storage.inbound import InboundEvents
from storage.models import Delivery, DeliveryStatus, Person, PulseRound, Team
from surveys import directory, export, responses, rollup, rounds
from surveys.anonymity import Thresholds
from surveys.bank import load_bank
from surveys.directory import TeamRef
from surveys.organisation import ImportSummary, OrgSpec, import_spec

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
# the ``comments`` key of a comment about the whole card, tied to no statement ("General")
GENERAL_COMMENT = responses.GENERAL

RECEIPT = (
    "Thank you, your answers to the {team} pulse are in. They are stored with no link to you: "
    "no name, no account id and no time finer than the day. Results are shown only for groups of "
    "at least {k} people, after the pulse closes. Because nothing links the answers to you, they "
    "cannot be changed or withdrawn."
)


REMINDER = (
    "Reminder: this pulse closes on {closes}. It takes under a minute, and your answers are "
    "anonymous and shown only as part of a group."
)


# The session the core is sending in (the outbox and reminders hold it, and on SQLite its write
# lock, while a platform delivers): adapters' bookkeeping joins it through ``TeamPulse.session``.
_SENDING_SESSION: ContextVar[AsyncSession | None] = ContextVar("sending_session", default=None)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Card:
    """A pulse card on its way into the group commit."""

    email: str
    submission: responses.Submission


class UnknownPerson(Exception):
    """The platform user is not in the organisation (shown to them as a friendly message)."""


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
        self.metrics = Metrics()
        self._secret: bytes | None = None
        self._submissions: GroupCommit[_Card, View] = GroupCommit(self._submit_cards)
        # who has answered, held here until written in batches (surveys/participation.py)
        self.participants = Participants(db, settings.min_group)
        # platform accounts and references, and inbound event ids: the adapters' only way in
        self.identities = Identities(self.session, lambda: self.sending)
        self.inbound = Inbound(InboundEvents(db))

    # -- time and identity -------------------------------------------------------------------
    @property
    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = self.settings.hashing_secret()
        return self._secret

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work for adapters' own rows (platform identities, conversation references).

        While the core is sending (outbox, reminders) this is a savepoint in the core's session, so
        an adapter looking up a person's DM channel neither waits for SQLite's write lock nor spoils
        the core's transaction on error; otherwise a new session, committed on a clean exit.
        """
        sending = _SENDING_SESSION.get()
        if sending is not None:
            async with sending.begin_nested():
                yield sending
            return
        async with self.db.session() as session:
            yield session
            await session.commit()

    @property
    def sending(self) -> bool:
        """True inside the core's sends (outbox, reminders): ``session()`` is then theirs."""
        return _SENDING_SESSION.get() is not None

    async def answered(
        self, session: AsyncSession, pairs: Sequence[tuple[int, int]]
    ) -> set[tuple[int, int]]:
        """Those (round, person) pairs whose person has answered the round: written, pending
        here, or (PostgreSQL) pending in another process."""
        return await self.participants.answered(session, self.secret, pairs)

    async def close(self) -> None:
        """Stop: write who answered where that is safe (bot/ledger.py), release the claims."""
        await self.participants.close()

    def today(self) -> date:
        return self.clock().astimezone(ZoneInfo(self.settings.timezone)).date()

    async def person(self, session: AsyncSession, email: str) -> Person:
        person = await directory.person_by_email(session, email)
        if person is None:
            raise UnknownPerson(email)
        return person

    async def roster(self) -> tuple[bool, list[directory.RosterEntry]]:
        """Whether the demo is loaded, and everyone in a team with their teams (by name)."""
        async with self.db.session() as session:
            return await directory.has_demo(session), await directory.roster(session)

    async def team_names_of(self, email: str) -> list[str]:
        """The names of the teams this person belongs to (any role); ``UnknownPerson``."""
        async with self.db.session() as session:
            person = await self.person(session, email)
            assert person.id is not None
            return sorted({team.name for team in await directory.teams_of(session, person.id)})

    # -- pulses ------------------------------------------------------------------------------
    def card(self, pulse_round: PulseRound, team: Team, question_ids: list[str]) -> PulseCard:
        bank = load_bank()
        questions = tuple(
            CardQuestion(id=q.id, text=q.text, theme=bank.theme_name(q.theme))
            for q in (bank.question(qid) for qid in question_ids)
        )
        assert pulse_round.id is not None
        return PulseCard(
            round_id=pulse_round.id,
            team=team.name,
            closes_on=f"{pulse_round.closes_on:%A %d %B}",
            questions=questions,
        )

    async def pending_pulses(self, email: str) -> list[PulseCard]:
        return await self._pending(email)

    async def pending_pulse(self, email: str, round_id: int) -> PulseCard | None:
        """The card of one round, if it is still waiting for this person (open, sent to them,
        not answered); ``UnknownPerson`` for someone outside the organisation."""
        cards = await self._pending(email, round_id)
        return cards[0] if cards else None

    async def _pending(self, email: str, round_id: int | None = None) -> list[PulseCard]:
        if round_id is not None and not rounds.is_round_id(round_id):
            return []
        async with self.db.session() as session:
            person = await self.person(session, email)
            assert person.id is not None
            cards = []
            for pulse_round, question_ids in await responses.pending_rounds(
                session, person.id, self.answered, round_id
            ):
                team = await session.get(Team, pulse_round.team_id)
                assert team is not None
                cards.append(self.card(pulse_round, team, question_ids))
            return cards

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
        if not rounds.is_round_id(round_id):
            return TextReply(responses.NOT_SENT, kind="error")
        submission = responses.Submission(round_id, answers, comments or {}, general_comment)
        card = _Card(directory.normalise_email(email), submission)
        view = await self._submissions(card)
        if isinstance(view, Receipt):
            log.info("pulse answer recorded", extra={"round_id": round_id})
            self.metrics.answers.inc()
        return view

    async def _submit_cards(self, cards: Sequence[_Card]) -> list[View | Exception]:
        """One transaction for the batch; each card gets the view it would have got alone.  Who
        answered is written afterwards, in its own transaction, once a round has enough pending
        (``bot/ledger.py``)."""
        self.metrics.submit_batch.observe(len(cards))
        async with self.participants.lock:
            await self.participants.reserve(c.submission.round_id for c in cards)
            async with self.db.session() as session:
                people = await directory.person_ids_by_email(session, (c.email for c in cards))
                teams = await rounds.team_names(session, (c.submission.round_id for c in cards))
                known = [c for c in cards if c.email in people]
                entries = [responses.Entry(people[c.email], c.submission) for c in known]
                results = await responses.submit_many(
                    session, self.secret, entries, self.today(), self.participants
                )
            await self.participants.flush_due()
        by_card = dict(zip(map(id, known), results, strict=True))
        return [self._card_view(card, by_card.get(id(card)), teams) for card in cards]

    def _card_view(
        self, card: _Card, result: responses.SubmitResult | None, teams: dict[int, str]
    ) -> View | Exception:
        if result is None:
            return UnknownPerson(card.email)
        if result.outcome is responses.SubmitOutcome.ACCEPTED:
            team = teams[card.submission.round_id]
            return Receipt(
                round_id=card.submission.round_id,
                team=team,
                text=RECEIPT.format(team=team, k=self.settings.min_group),
            )
        kind = "info" if result.outcome is responses.SubmitOutcome.ALREADY_ANSWERED else "error"
        return TextReply(result.reason, kind=kind, problems=result.problems)

    # -- rounds and the outbox -----------------------------------------------------------------
    async def team_named(self, name: str, organisation: str | None = None) -> TeamRef:
        """The team an operator names (the command line has no asker to scope by): in
        ``organisation`` when given, else a name used in one organisation only.  Raises
        ``TeamChoiceError``.  Chat commands resolve theirs in the asker's organisation."""
        async with self.db.session() as session:
            return await operator_team(session, name, organisation)

    async def _team(self, session: AsyncSession, ref: TeamRef) -> Team:
        """The resolved team's row, by id (never by name again)."""
        team = await session.get(Team, ref.id)
        if team is None:
            raise rounds.RoundError(f"{ref.name} is no longer a team.")
        return team

    async def open_round(self, ref: TeamRef) -> str:
        async with self.db.session() as session:
            team = await self._team(session, ref)
            opened = await rounds.open_round(session, team, self.today(), self.settings.round_days)
            await session.commit()
            closes = opened.round.closes_on
        return (
            f"Opened pulse #{opened.round.sequence} for {team.name}: {opened.invited} people "
            f"will be asked; it closes on {closes:%A %d %B}."
        )

    async def close_round(self, ref: TeamRef) -> str:
        async with self.db.session() as session:
            team = await self._team(session, ref)
            closed = await rounds.close_round(session, team, self.today())
            await session.commit()
        assert closed.id is not None
        # who answered is written, and this process's reservation given back, before the cut
        await self.participants.flush_rounds({closed.id})
        cut = await self.cut_due_weeks()
        week = rollup.week_of(closed.report_week or closed.opened_on)
        if week in cut:
            return (
                f"Closed pulse #{closed.sequence} for {team.name}. Its week (w/c {week:%d %b}) "
                "is over and all its pulses have closed, so its results are in trends now (and "
                "never change after that)."
            )
        return (
            f"Closed pulse #{closed.sequence} for {team.name}. Its results appear in trends once "
            f"its week (w/c {week:%d %b}) is over and all that week's pulses have closed (and "
            "never change after that)."
        )

    async def close_due_rounds(self) -> int:
        """Close the rounds whose day has come, then cut the weeks that are due (the scheduler's
        tick: a week is cut once it is over, even when no round closes that day)."""
        async with self.db.session() as session:
            closed = await rounds.close_due_rounds(session, self.today())
            await session.commit()
        # who answered is written, and this process's reservation given back, before the cut
        await self.participants.flush_rounds({r.id for r in closed if r.id is not None})
        await self.cut_due_weeks()
        return len(closed)

    async def cut_due_weeks(self) -> list[date]:
        """Publish every week that is over and whose pulses have all closed (at start-up and after
        the demo loads); returns the weeks cut."""
        async with self.db.session() as session:
            cut = await rollup.cut_due_weeks(session, self.today(), self.thresholds)
            await session.commit()
        return cut

    async def import_organisation(self, spec: OrgSpec, *, is_demo: bool = False) -> ImportSummary:
        """Import teams and people (all or nothing).  Weeks already cut keep the results (and
        the hierarchy) they were published with: a changed hierarchy applies to weeks not yet
        cut, since re-cutting a published week would let a reader subtract the two readings."""
        async with self.db.session() as session:
            return await import_spec(session, spec, is_demo=is_demo)

    async def set_members(self, ref: TeamRef, emails: Iterable[str]) -> tuple[int, int]:
        """Replace a team's members (role member) with these people, matched by email or added
        to the organisation; its managers are untouched.  Returns (added, removed).  Whoever
        calls this has checked that the person asking manages the team."""
        async with self.db.session() as session:
            team = await self._team(session, ref)
            added, removed = await directory.replace_members(session, team, emails)
            await session.commit()
        log.info("team members replaced", extra={"added": added, "removed": removed})
        return added, removed

    async def set_member_source(self, ref: TeamRef, source: str | None) -> str | None:
        """Remember (``None``: forget) what a team's members are kept in step with: a platform's
        group as ``<platform>:<its id>`` (``slack:C…``), opaque to the core beyond that prefix.
        Returns the one it replaces.  Whoever calls this has checked that the person asking
        manages the team."""
        async with self.db.session() as session:
            team = await self._team(session, ref)
            previous, team.member_source = team.member_source, source
            session.add(team)
            await session.commit()
        return previous

    async def teams_in_step_with(self, source: str) -> list[TeamRef]:
        """The teams whose members are kept in step with ``source``."""
        async with self.db.session() as session:
            return [TeamRef.of(team) for team in await directory.teams_synced_from(session, source)]

    async def export_csv(self, ref: TeamRef, weeks: int) -> str:
        """The admin export: published cells only, the same rules as the reports."""
        async with self.db.session() as session:
            team = await self._team(session, ref)
            return await export.published_csv(session, ref.id, team.name, weeks, self.today())

    async def send_reminders(self) -> int:
        """The day before a round closes, remind whoever has not answered.  Only the bot knows
        who that is; the round is marked reminded (never the people) and committed before sending,
        so a reminder is sent at most once."""
        async with self.db.session() as session:
            due = await rounds.rounds_to_remind(session, self.today())
            for pulse_round in due:
                pulse_round.reminded = True
                session.add(pulse_round)
            await session.commit()
            sent = 0
            token = _SENDING_SESSION.set(session)
            try:
                for pulse_round in due:
                    sent += await self._remind(session, pulse_round)
                await session.commit()
            finally:
                _SENDING_SESSION.reset(token)
        return sent

    async def _remind(self, session: AsyncSession, pulse_round: PulseRound) -> int:
        assert pulse_round.id is not None
        team = await session.get(Team, pulse_round.team_id)
        assert team is not None
        sent = 0
        deliveries = await rounds.sent_deliveries(session, pulse_round.id)
        done = await self.answered(session, [(d.round_id, d.person_id) for d in deliveries])
        for delivery in deliveries:
            if (delivery.round_id, delivery.person_id) in done:
                continue
            person = await session.get(Person, delivery.person_id)
            assert person is not None
            card = self.card(
                pulse_round, team, rounds.questions_for(pulse_round, delivery.group_index)
            )
            reminder = replace(card, reminder=True, intro=REMINDER.format(closes=card.closes_on))
            try:
                await self.messenger.send_direct(Recipient.of(person), reminder)
                self.metrics.reminders.inc()
                sent += 1
            except Exception:  # a missed reminder is logged, not retried
                log.warning("reminder not delivered", extra={"round_id": pulse_round.id})
        return sent

    async def deliver_outbox(self, batch: int = 50) -> int:
        """Send due outbox rows; each row is marked sent in the same transaction that claimed it."""
        sent = 0
        while True:
            async with self.db.session() as session:
                claimed = await rounds.claim_deliveries(session, self.clock(), batch)
                if not claimed:
                    return sent
                token = _SENDING_SESSION.set(session)
                try:
                    for delivery in claimed:
                        sent += await self._deliver(session, delivery)
                finally:
                    _SENDING_SESSION.reset(token)
                await session.commit()
            if len(claimed) < batch:
                return sent

    async def _deliver(self, session: AsyncSession, delivery: Delivery) -> int:
        pulse_round = await session.get(PulseRound, delivery.round_id)
        person = await session.get(Person, delivery.person_id)
        assert pulse_round is not None and person is not None
        team = await session.get(Team, pulse_round.team_id)
        assert team is not None
        now = self.clock()
        if pulse_round.closed:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "round closed before delivery"
            session.add(delivery)
            return 0
        card = self.card(pulse_round, team, rounds.questions_for(pulse_round, delivery.group_index))
        try:
            await self.messenger.send_direct(Recipient.of(person), card)
        except Exception as error:
            self.metrics.deliveries.labels("failed").inc()
            delivery.attempts += 1
            delivery.last_error = f"{type(error).__name__}: {error}"[:500]
            if delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = now + timedelta(minutes=2**delivery.attempts)
            session.add(delivery)
            log.warning("pulse delivery failed; will retry", extra={"delivery_id": delivery.id})
            return 0
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = now
        self.metrics.deliveries.labels("sent").inc()
        session.add(delivery)
        return 1

    async def status_report(self) -> str:
        """Operator view of open rounds: counts only, never who has or hasn't answered."""
        async with self.db.session() as session:
            lines = []
            for pulse_round, team, counts in await rounds.open_round_overview(session):
                k = self.settings.min_group
                answered = str(counts.answered) if counts.answered >= k else f"fewer than {k}"
                lines.append(
                    f"{team.name}: pulse #{pulse_round.sequence} open until "
                    f"{pulse_round.closes_on:%a %d %b}; {counts.invited} invited, {counts.sent} "
                    f"delivered, {counts.pending} waiting, {counts.failed} failed; "
                    f"{answered} answered"
                )
        return "\n".join(lines) or "No pulse is open."

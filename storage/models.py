"""SQLModel tables.

Anonymity lives in the shape of these tables (DESIGN.md invariant 1):

* ``Response`` rows hold round, question, team, score, comment and the *day* only.  Their primary
  key is random and, on SQLite, the table is ``WITHOUT ROWID`` so the file keeps no insertion order.
* ``GeneralComment`` rows hold a comment about a card as a whole (tied to no statement): its round,
  the words and their mood, nothing else (no card id, score or day), on the same terms.
* ``Participation`` is one row per round holding the *sorted set* of keyed hashes of the people who
  have answered.  A set has no order, so nothing in it can be lined up with the order of responses,
  and it is never written in an answer's transaction: digests are written later, in batches of at
  least k people or when the round closes (surveys/participation.py), so the database's own log
  cannot pair an answer with its author.  ``respondents`` is the set's size, written with it; it
  is not a count to show (counts come from the answers).
* Nothing else (outbox, conversation references, the participation row) is touched when someone
  answers.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig  # (the type of SQLModel's model_config)


class Table(SQLModel):
    """The tables' base: a table's pydantic validator and serializer are built if it is ever
    validated or dumped (no table is: rows are made by SQLModel's constructor, which does not
    validate, or loaded by SQLAlchemy), not when the class is made; that saves about a fifth
    of this module's import, at every start-up."""

    model_config = SQLModelConfig(defer_build=True)


def random_id() -> str:
    """A random identifier that carries no time or order: a version-4 UUID's 32 hex digits,
    as ``uuid.uuid4().hex`` gives them (the same 122 random bits, version and variant), without
    building a ``UUID`` object: a card writes five or so, and the object was most of their cost."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    return raw.hex()


class Role(StrEnum):
    MEMBER = "member"
    MANAGER = "manager"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at ``next_attempt_at`` (retrying once ``attempts`` > 0)
    SENDING = "sending"  # claimed: in flight until ``next_attempt_at`` (the lease)
    # due again at ``next_attempt_at``, its last outcome unknown (it may have arrived): the
    # platform is asked before anything is sent again
    UNCHECKED = "unchecked"
    SENT = "sent"
    FAILED = "failed"


class Organisation(Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    is_demo: bool = False
    # the Slack workspaces (team or Enterprise Grid ids) and Teams tenants (ids) its people come
    # from, space-separated; empty: accounts anywhere served are matched by email (docs/security.md)
    slack_workspaces: str = ""
    teams_tenants: str = ""


class Team(Table, table=True):
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str
    parent_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    slack_channel: str | None = None
    # what the team's members are kept in step with (``pulse settings [team] sync …``): a
    # platform's group, ``<platform>:<its id>`` (``slack:C…`` a channel, ``slack:S…`` a user group)
    member_source: str | None = Field(default=None, index=True)
    teams_channel: str | None = None
    cadence: str = "weekly"
    schedule_day: str = "mon"
    schedule_time: str = "10:00"
    timezone: str | None = None
    questions_per_pulse: int = 3
    # how many days a round stays open (1 to 14); None: the deployment's TEAMPULSE_ROUND_DAYS
    round_days: int | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Person(Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    email: str = Field(unique=True)
    display_name: str


class PlatformIdentity(Table, table=True):
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    platform: str
    external_id: str


class Membership(Table, table=True):
    __table_args__ = (UniqueConstraint("team_id", "person_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: str = Role.MEMBER


class Question(Table, table=True):
    id: str = Field(primary_key=True)
    theme: str = Field(index=True)
    text: str
    source: str
    reverse: bool = False
    advocacy: bool = False
    active: bool = True


class PulseRound(Table, table=True):
    __tablename__ = "pulse_round"
    __table_args__ = (
        UniqueConstraint("team_id", "sequence"),
        # the week a round counts in (surveys/rollup_rows.counted_week): a week's cut finds its
        # rounds through this, not by scanning every round (migration 0012)
        Index("ix_pulse_round_counted_week", text("coalesce(report_week, opened_on)")),
        # a report's comments find the rounds of each (team, week) of its trees as cut (0013)
        Index("ix_pulse_round_team_counted", "team_id", "counted_in"),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: int = Field(foreign_key="team.id", index=True)
    sequence: int
    opened_on: date
    closes_on: date
    closed: bool = False
    # reminders are recorded per round, never per person: who was reminded is who had not answered
    reminded: bool = False
    # the round's managers were told it may not reach the reporting threshold (once per round,
    # set atomically: surveys/turnout.py); it records the check, never who had not answered
    turnout_warned: bool = False
    # the week whose results this round counts in: the week it opened (a week is cut only once
    # it is over, so it can't already be cut; replicas whose clocks disagree: the next uncut one)
    report_week: date | None = None
    # the cut week whose published figures counted this round (set by the cut, never changed):
    # its answers and comments are shown only as part of that week's published results
    counted_in: date | None = Field(default=None, index=True)
    # JSON list of question-id lists, one per question group (each group >= the anonymity threshold)
    plan: str = Field(sa_column=Column(Text, nullable=False))


class Delivery(Table, table=True):
    """The outbox: one row per (round, person) that the delivery worker sends exactly once."""

    __table_args__ = (
        UniqueConstraint("round_id", "person_id"),
        Index("ix_delivery_pending", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="pulse_round.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    group_index: int = 0
    status: str = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None


class PersonSchedule(Table, table=True):
    """When a person may be sent a pulse: their working pattern, quiet hours and leave, set by
    themselves (``pulse me …``).  Tied to the person, never to an answer (surveys/schedules.py)."""

    __tablename__ = "person_schedule"

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    pattern: str = "days"  # ``days`` or ``nights``
    quiet_start: str | None = None  # "HH:MM" local; quiet from start to end (may wrap midnight)
    quiet_end: str | None = None
    away_until: date | None = None  # on leave up to and including this day


class Reminder(Table, table=True):
    """The reminder outbox: one row per (round, person) the pulse was delivered to, queued once
    per round and marked done when claimed.  Every row looks the same whether its person was
    reminded or had answered and was skipped (that is decided in memory: bot/reminders.py)."""

    __table_args__ = (
        UniqueConstraint("round_id", "person_id"),
        # the rows not yet claimed, in the order they are claimed: a claim (and the minute
        # tick's "any waiting?") reads those alone, not every reminder ever done before them
        Index("ix_reminder_pending", "done", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="pulse_round.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    done: bool = Field(default=False)


class Response(Table, table=True):
    """One anonymous answer.

    Never add a person, platform id, message id or a time finer than a day.
    """

    __table_args__ = (
        Index("ix_response_team_day", "team_id", "day"),
        Index("ix_response_round_question", "round_id", "question_id"),
        {"sqlite_with_rowid": False},
    )

    id: str = Field(default_factory=random_id, primary_key=True)
    submission_id: str = Field(description="random per submitted card; groups one card's answers")
    round_id: int = Field(foreign_key="pulse_round.id")
    team_id: int = Field(foreign_key="team.id")
    question_id: str = Field(foreign_key="question.id")
    score: int
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    sentiment: float | None = None
    day: date


class GeneralComment(Table, table=True):
    """A comment about a pulse card as a whole, tied to no statement.

    Written in its card's answer transaction and nowhere else.  Like an answer it carries no
    person; unlike a comment on a statement it carries no card id, score or day either, so
    nothing in the row joins it to the card's answers.  Its team is its round's.
    """

    __tablename__ = "general_comment"
    __table_args__ = (
        Index("ix_general_comment_round", "round_id"),
        {"sqlite_with_rowid": False},
    )

    id: str = Field(default_factory=random_id, primary_key=True)
    round_id: int = Field(foreign_key="pulse_round.id")
    comment: str = Field(sa_column=Column(Text, nullable=False))
    sentiment: float | None = None


class Participation(Table, table=True):
    """Who has answered a round: the sorted set of HMAC(secret, round, person) digests."""

    round_id: int = Field(foreign_key="pulse_round.id", primary_key=True)
    digests: str = Field(default="", sa_column=Column(Text, nullable=False))
    respondents: int = 0
    # answers whose people may have answered twice (surveys/participation.py): a round-level count
    unsure: int = 0


class Recognition(Table, table=True):
    __table_args__ = (Index("ix_recognition_team_day", "team_id", "created_on"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    giver_id: int = Field(foreign_key="person.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id")
    message: str = Field(sa_column=Column(Text, nullable=False))
    value: str
    # a trust's kudos count reads by day alone (migration 0014)
    created_on: date = Field(index=True)
    created_at: datetime


class RecognitionRecipient(Table, table=True):
    __tablename__ = "recognition_recipient"

    recognition_id: int = Field(foreign_key="recognition.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True, index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)


class ConversationReference(Table, table=True):
    """Where to reach a person proactively on a platform (Slack DM channel, Teams reference)."""

    __tablename__ = "conversation_reference"
    __table_args__ = (UniqueConstraint("person_id", "platform"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    platform: str
    reference: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime


class RollupCell(Table, table=True):
    """Per team subtree, week and theme: the aggregates of closed rounds, and whether they may be
    shown (surveys/disclosure.py).  Cut once per week (surveys/rollup.py); ``respondents`` are
    people (the largest round's, per team), not cards."""

    __tablename__ = "rollup_cell"
    __table_args__ = (Index("ix_rollup_cell_week", "week"),)

    team_id: int = Field(foreign_key="team.id", primary_key=True)
    week: date = Field(primary_key=True)
    theme: str = Field(primary_key=True)
    respondents: int
    answers: int
    total: float
    squares: float
    favourable: int
    unfavourable: int
    published: bool
    # whether comments on this theme may be shown: at least min_comment_group people answered it
    comments_published: bool = False
    # the subtree's comments on this theme as the week was cut (0014): how many, how many have a
    # mood, and the sum of those moods, counted as a report shows them (surveys/comment_counts.py)
    comments: int = 0
    moods: int = 0
    mood_total: float = 0.0


class RollupCut(Table, table=True):
    """A week whose results are out: cut once it was over and every round counted in it had
    closed, and never re-cut (not for a late round, nor a changed hierarchy), so no figure shown
    can change and be subtracted."""

    __tablename__ = "rollup_cut"

    week: date = Field(primary_key=True)


class RollupWeek(Table, table=True):
    """Per team subtree and week: participation, and whether it and the comments may be shown."""

    __tablename__ = "rollup_week"
    __table_args__ = (
        Index("ix_rollup_week_week", "week"),
        # a report walks each week's tree as cut from its team down (migration 0013)
        Index("ix_rollup_week_parent_week", "parent_id", "week", "team_id"),
    )

    team_id: int = Field(foreign_key="team.id", primary_key=True)
    week: date = Field(primary_key=True)
    # the team's parent when the week was cut: the hierarchy its figures (and comments) follow
    parent_id: int | None = None
    invited: int
    respondents: int
    published: bool
    comments_published: bool
    # the subtree's general comments of the week, as ``RollupCell.comments`` counts a theme's
    general_comments: int = 0
    general_moods: int = 0
    general_mood_total: float = 0.0


class RollupKudos(Table, table=True):
    """Per team subtree, week and value: the kudos received (distinct kudos with a recipient in
    the subtree, so one thanking two wards counts once for their directorate) and given (by
    someone whose team is in it), counted at the week's cut with the tree as cut (migration
    0015; ``surveys/kudos_counts.py``).  Rows only where a count is not zero."""

    __tablename__ = "rollup_kudos"
    __table_args__ = (Index("ix_rollup_kudos_week", "week"),)

    team_id: int = Field(foreign_key="team.id", primary_key=True)
    week: date = Field(primary_key=True)
    value: str = Field(primary_key=True)
    received: int
    given: int


class InboundEvent(Table, table=True):
    """A platform event already taken in (Slack's ``event_id``), so a redelivery is handled once
    by whichever replica got it first.  Only the platform's own event id and when it arrived: no
    person.  Rows older than an hour are pruned (``storage/inbound.py``)."""

    __tablename__ = "inbound_event"
    __table_args__ = (Index("ix_inbound_event_received_at", "received_at"),)

    platform: str = Field(primary_key=True)
    event_id: str = Field(primary_key=True)
    received_at: datetime


class PlatformPlace(Table, table=True):
    """A place on a platform where the bot is installed or has been spoken to (a Teams tenant, a
    team, a channel), with what a proactive send needs to reach it there (a service URL, a tenant
    id, a conversation reference) as JSON.  Places only: no person is ever stored here."""

    __tablename__ = "platform_place"

    platform: str = Field(primary_key=True)
    key: str = Field(primary_key=True)  # the platform's own naming, e.g. ``channel:19:…``
    data: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime

"""Platform-neutral views: what the core answers with.  Adapters render them natively
(web chat JSON, console text, Block Kit, Adaptive Cards)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from surveys.forms import FieldProblem
from surveys.trends import ChildRow, RoundRow, ThemeRow

SCALE = (
    (1, "Strongly disagree"),
    (2, "Disagree"),
    (3, "Neither"),
    (4, "Agree"),
    (5, "Strongly agree"),
)


@dataclass(frozen=True)
class TextReply:
    text: str
    kind: str = "info"  # info | error | success
    # a refused form: what is wrong, field by field (a platform marks each of its inputs)
    problems: tuple[FieldProblem, ...] = ()
    # nothing was done (the database could not be reached): the same form may be sent again as
    # it is, so a platform keeps it open (or in place) with the message beside it
    retry: bool = False
    # the pulse it answers, when it comes after the form was sent (the outcome of answers that
    # were still being saved, bot/saving.py): a platform puts it in that pulse's place
    round_id: int | None = None


@dataclass(frozen=True)
class CardQuestion:
    id: str
    text: str
    theme: str


@dataclass(frozen=True)
class PulseCard:
    round_id: int
    team: str
    closes_on: str
    questions: tuple[CardQuestion, ...]
    scale: tuple[tuple[int, str], ...] = SCALE
    intro: str = (
        "A quick pulse check: pick one answer for each statement. "
        "Your answers are anonymous and shown only as part of a group."
    )
    reminder: bool = False
    # the longest comment the core takes (TEAMPULSE_COMMENT_MAX_CHARS): a form's limit
    comment_max: int = 1000


@dataclass(frozen=True)
class Receipt:
    round_id: int
    team: str
    text: str


@dataclass(frozen=True)
class KudosPost:
    giver: str
    recipients: tuple[str, ...]
    message: str
    value: str
    value_label: str
    teams: tuple[str, ...]
    day: str


@dataclass(frozen=True)
class TrendReportView:
    team: str
    weeks: int
    themes: tuple[ThemeRow, ...]
    rounds: tuple[RoundRow, ...]
    notes: tuple[str, ...]
    footnote: str
    chart_png: bytes | None = None
    chart_alt: str = ""
    recognition: tuple[tuple[str, int], ...] = ()
    recognition_given: tuple[tuple[str, int], ...] = ()
    advocacy: float | None = None
    children: tuple[ChildRow, ...] = ()
    mood: str | None = None
    comments: tuple[tuple[str, str], ...] = field(default=())
    scope: str = ""


View = TextReply | PulseCard | Receipt | KudosPost | TrendReportView


class Audience(StrEnum):
    """Who may see a reply, and so where a platform shows it."""

    PRIVATE = "private"  # only in the person's own direct chat, wherever they asked
    ASKER = "asker"  # the person who asked, where they asked (a Slack ephemeral will do)


@dataclass(frozen=True)
class Reply:
    view: View
    audience: Audience

    @property
    def elsewhere(self) -> str:
        """What to tell the asker when a private reply went to the direct chat instead."""
        what = "report" if isinstance(self.view, TrendReportView) else "pulse"
        return f"Your {what} is in our direct messages."


def audience_of(view: View) -> Audience:
    """The one rule: pulse cards and trend reports are private, always; the rest goes back to
    the person where they asked."""
    private = isinstance(view, PulseCard | Receipt | TrendReportView)
    return Audience.PRIVATE if private else Audience.ASKER


def replies(views: list[View]) -> list[Reply]:
    return [Reply(view, audience_of(view)) for view in views]


@dataclass(frozen=True)
class KudosItem:
    """A kudos in a person's own history: ``people`` gave it to them, or received it from them."""

    people: tuple[str, ...]
    message: str
    value: str
    day: str


@dataclass(frozen=True)
class HomeView:
    """A person's home page (Slack's App Home tab; Teams can show the same as a personal tab).

    Shown only to the person themself: their waiting pulses, their participation streak (closed
    pulses answered in a row), their latest kudos, and for managers a way to ask for trends.
    """

    name: str
    pulses: tuple[PulseCard, ...] = ()
    streak: int = 0
    kudos_received: tuple[KudosItem, ...] = ()
    kudos_given: tuple[KudosItem, ...] = ()
    is_manager: bool = False
    notice: str = ""  # set when the person isn't in the organisation (the rest is then empty)

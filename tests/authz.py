"""The authorization matrix's shared parts: the rule, read from docs/security.md ("Who may do
what"); the people of its columns; the organisation they are in; what a person saw, named as one
of the page's outcomes; and what a refused request must leave unchanged."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import SQLModel, select

from bot import words
from bot.team_choice import FOR_MANAGERS
from bot.views import HomeView, KudosPost, PulseCard, Receipt, TextReply, TrendReportView, View
from storage.engine import Database
from storage.models import (
    Delivery,
    GeneralComment,
    Membership,
    Person,
    PersonSchedule,
    PulseRound,
    Recognition,
    RecognitionRecipient,
    Response,
    Team,
)
from surveys.responses import NOT_SENT
from tests.slack_support import ORG

DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"
SECTION = "## Who may do what"
DOOR = "another workspace or tenant"  # the column refused at the platform's door
OTHER_DOMAIN = "other.example"
WARD = "Ward A"  # the team the rows are about
MADE_UP_TEAM = "Ward Zq"  # a name no organisation uses
ABOVE = "Medicine"  # the team above it
# the rows asking for a team's trends by name, and the team they name
NAMED = {"trends of a team": WARD, "trends of the team above": ABOVE}
COLLEAGUE = "b1@trust.example"  # the kudos row's recipient, in Ward B
MADE_UP_PERSON = "zq.nobody@trust.example"
MADE_UP_ROUND = 987_654
KUDOS_WORDS = "thanks for covering the late shift"
OPERATOR_COMMANDS = (
    f"pulse close {WARD}",
    f"pulse export {WARD}",
    "org import org.yaml",
    "person forget a1@trust.example",
)


# -- the rule, from the page ------------------------------------------------------------------
@dataclass(frozen=True)
class Matrix:
    roles: tuple[str, ...]  # the columns, in the page's order
    cells: dict[str, dict[str, str]]  # action -> role -> outcome
    outcomes: frozenset[str]  # the legend's outcomes


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _tables(text: str) -> list[list[list[str]]]:
    """The Markdown tables of ``text``, each as rows of cells (the separator row left out)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            if not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", line.strip()):
                current.append(_cells(line))
        elif current:
            tables.append(current)
            current = []
    return tables


def read_matrix(path: Path = DOC) -> Matrix:
    text = path.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    rule, legend = _tables(text[start : end if end != -1 else None])[:2]
    header, *rows = rule
    assert header[:2] == ["action", "asked with"], header
    roles = tuple(header[2:])
    cells = {row[0]: dict(zip(roles, row[2:], strict=True)) for row in rows}
    return Matrix(roles, cells, frozenset(row[0] for row in legend[1:]))


# -- the people -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Who:
    email: str
    slack: str  # their Slack user id
    teams: frozenset[str]  # the teams they are in or manage (all their status may name)
    manages: frozenset[str] = frozenset()


def _who(email: str, slack: str, *teams: str, manages: tuple[str, ...] = ()) -> Who:
    return Who(email, slack, frozenset(teams) | frozenset(manages), frozenset(manages))


PEOPLE: dict[str, Who] = {
    "member": _who("a1@trust.example", "UA1", WARD),
    "team manager": _who("manager.a@trust.example", "UMANAGERA", manages=(WARD,)),
    "manager above": _who("director@trust.example", "UDIRECTOR", manages=("Medicine",)),
    "sibling manager": _who("manager.b@trust.example", "UMANAGERB", manages=("Ward B",)),
    "other organisation's manager": _who(
        f"manager@{OTHER_DOMAIN}", "UOTHERMANAGER", manages=("Theatres",)
    ),
    "admin": _who("admin@trust.example", "UADMIN", "Digital"),
    "unknown person": _who("nobody@trust.example", "UNOBODY"),
}
TEAM_NAMES = ("Medicine", WARD, "Ward B", "Tiny", "Digital", "Surgery", "Theatres")

# Test Trust as the Slack tests know it (Ward A's channel and all), with the admin's team
TEST_TRUST = (
    ORG
    + """  - name: Digital
    members: [admin@trust.example, d0@trust.example, d1@trust.example]
"""
)
OTHER_TRUST = f"""
name: Other Trust
teams:
  - name: Surgery
    managers: [director@{OTHER_DOMAIN}]
  - name: Theatres
    parent: Surgery
    managers: [manager@{OTHER_DOMAIN}]
    members: [{", ".join(f"o{i}@{OTHER_DOMAIN}" for i in range(6))}]
"""


# -- what a person saw, as the page names it ----------------------------------------------------
CARD, RECEIPT, HOME = "[card]", "[receipt]", "[home]"
_REFUSALS = (  # (what the reply begins with or contains, the outcome), checked in this order
    (words.NOT_KNOWN, "not known"),
    (FOR_MANAGERS, "managers only"),
    ("isn't one of your teams", "not yours"),
    ("I don't know a team called", "no such team"),
    ("I couldn't find", "no such person"),
    (NOT_SENT, "not sent"),
    (words.GONE, "gone"),
    ("Sorry, I didn't understand", "not understood"),
    (words.NO_PULSE, "no pulse"),
)


Shown = View | HomeView  # what a person may be shown (the home page is no reply)


def seen(view: Shown) -> str:
    """A core view as the words that name its outcome (the same marks as a platform's)."""
    match view:
        case TextReply():
            return view.text
        case TrendReportView():
            return f"Trends: {view.team}"
        case PulseCard():
            return f"{CARD} {view.team}"
        case Receipt():
            return f"{RECEIPT} {view.text}"
        case KudosPost():
            return view.message
        case HomeView() if view.notice:
            return view.notice
        case HomeView():
            return f"{HOME} {words.LATEST_TRENDS if view.is_manager else ''}"
    return repr(view)


def outcome(text: str, who: Who, *, named: str | None = None) -> str:
    """The page's name for what ``who`` saw (``text``; ``named``: the team they asked about by
    name); anything else is named plainly, so a failing cell says what happened instead."""
    if text.startswith(HOME):  # a home page shows no pulse, or refusals' words, as its own
        if words.NOT_KNOWN in text:
            return "not known"
        return "own home, trends" if words.LATEST_TRENDS in text else "own home"
    for mark, name in _REFUSALS:
        if mark in text:
            return name
    if text.startswith("*Your teams*"):
        others = [team for team in TEAM_NAMES if team not in who.teams and team in text]
        return "own status" if not others else f"a status naming {others}"
    reported = [team for team in TEAM_NAMES if f"Trends: {team}" in text]
    if reported:
        team = max(reported, key=len)
        if named and team == named:
            return "report"
        return "own report" if not named and team in who.manages else f"the report of {team}"
    for mark, name in (
        ("*teampulse* —", "help"),
        ("*Your pulse times*", "own times"),
        (f"*{WARD}*: a ", "settings"),
        ("Opened pulse #", "sent"),
        (KUDOS_WORDS, "kudos"),
        (CARD, "card"),
        (RECEIPT, "receipt"),
    ):
        if mark in text:
            return name
    if re.search(rf"{WARD}: \d+ added, \d+ removed", text):
        return "synced"
    return f"something else: {text[:200]!r}"


def outcome_of(views: list[Shown], who: Who, *, named: str | None = None) -> str:
    """One outcome for a cell's views (several commands, or a card and its notice): all alike."""
    found = {outcome(seen(view), who, named=named) for view in views}
    return found.pop() if len(found) == 1 else f"several outcomes: {sorted(found)}"


# outcomes that do something; every other one leaves the organisation as it was
CHANGES = frozenset({"settings", "synced", "sent", "kudos", "receipt", "own times"})


async def snapshot(db: Database) -> dict[str, Any]:
    """Everything a chat action might change in the organisation, comparable as a whole."""
    found: dict[str, Any] = {}
    tables: tuple[type[SQLModel], ...] = (
        Team,
        Membership,
        Person,
        PulseRound,
        Delivery,
        PersonSchedule,
        Response,
        GeneralComment,
        Recognition,
        RecognitionRecipient,
    )
    async with db.session() as session:
        for table in tables:
            rows = (await session.exec(select(table))).all()
            found[table.__name__] = sorted(repr(sorted(row.model_dump().items())) for row in rows)
    return found

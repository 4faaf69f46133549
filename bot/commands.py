"""Parse chat text into typed commands (the same words on every platform)."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_WEEKS = 12
MAX_WEEKS = 104


@dataclass(frozen=True)
class Help:
    """``pulse help`` (words after it are ignored: there is one help)."""


@dataclass(frozen=True)
class Kudos:
    mentions: tuple[str, ...]
    message: str
    value: str | None


@dataclass(frozen=True)
class Trends:
    team: str | None
    weeks: int


@dataclass(frozen=True)
class Status:
    pass


@dataclass(frozen=True)
class Send:
    team: str | None


@dataclass(frozen=True)
class SettingsCmd:
    team: str | None


@dataclass(frozen=True)
class Me:
    """``pulse me [days|nights|quiet HH:MM-HH:MM|away until DAY|back]``: my own pulse times."""

    args: str


@dataclass(frozen=True)
class Pulse:
    """Ask for the pulse waiting for me (``pulse`` on its own)."""


@dataclass(frozen=True)
class Unknown:
    text: str
    hint: str | None = None


Command = Help | Kudos | Trends | Status | Send | SettingsCmd | Me | Pulse | Unknown

_MENTION = re.compile(r"@([\w.+'-]+(?:@[\w.-]+\.\w+)?)")
_VALUE = re.compile(r"(?<!\S)#([\w-]+)")
_WEEKS = re.compile(r"^(\d+)\s*(?:w|wk|wks|week|weeks)?$", re.IGNORECASE)


def parse(text: str) -> Command:
    words = text.strip().split()
    if not words:
        return Help()
    head = words[0].lower().lstrip("/")
    rest = text.strip()[len(words[0]) :].strip()
    if head == "kudos":
        return parse_kudos(rest)
    if head == "help":
        return Help()
    if head == "pulse":
        return _parse_pulse(rest)
    if head in {"trends", "status", "send", "settings"}:
        return _parse_pulse(text.strip())
    return Unknown(text=text.strip())


def _parse_pulse(rest: str) -> Command:
    words = rest.split()
    if not words:
        return Pulse()
    sub, args = words[0].lower(), " ".join(words[1:]).strip()
    if sub == "help":
        return Help()
    if sub == "trends":
        return parse_trends(args)
    if sub == "status":
        return Status()
    if sub == "send":
        return Send(team=args or None)
    if sub == "settings":
        return SettingsCmd(team=args or None)
    if sub == "me":
        return Me(args=args)
    return Unknown(text=f"pulse {rest}")


def parse_trends(args: str) -> Command:
    """``[team name] [weeks]``: a trailing number (``8``, ``8w``, ``8 weeks``) is the period."""
    weeks = DEFAULT_WEEKS
    words = args.split()
    for take in (2, 1):
        tail = " ".join(words[-take:]) if len(words) >= take else ""
        match = _WEEKS.match(tail)
        if match:
            weeks = int(match.group(1))
            words = words[:-take]
            break
    if not 1 <= weeks <= MAX_WEEKS:
        return Unknown(
            text=f"pulse trends {args}",
            hint=f"The period must be between 1 and {MAX_WEEKS} weeks.",
        )
    team = " ".join(words).strip() or None
    return Trends(team=team, weeks=weeks)


def parse_kudos(rest: str) -> Command:
    mentions = tuple(_MENTION.findall(rest))
    values = _VALUE.findall(rest)
    message = _VALUE.sub("", _MENTION.sub("", rest))
    message = re.sub(r"\s+", " ", message).strip(" ,:-")
    if not mentions:
        return Unknown(text=f"kudos {rest}", hint="Say who to thank: `kudos @name message #value`.")
    if not message:
        return Unknown(
            text=f"kudos {rest}",
            hint="Add a few words about what they did: `kudos @name thanks for… #value`.",
        )
    return Kudos(mentions=mentions, message=message, value=values[-1].lower() if values else None)

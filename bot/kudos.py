"""Kudos, from a chat command or a platform's form: checked once, saved, announced."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.ports import Recipient, TeamTarget
from bot.service import TeamPulse
from bot.views import KudosPost, TextReply, View
from storage.models import Person
from surveys import directory, recognition
from surveys.forms import MESSAGE, RECIPIENTS, VALUE, FieldProblem, without_control
from surveys.recognition import MAX_MESSAGE

log = logging.getLogger(__name__)
QUOTE = 200  # characters of a colleague's message quoted in a kudos form's first words


def thanks_for(quote: str, limit: int = MAX_MESSAGE) -> str:
    """A kudos form's first words when it is started from a colleague's message ("" for none),
    within the kudos message's ``limit``."""
    quote = " ".join(quote.split())
    if not quote:
        return ""
    snippet = quote if len(quote) <= QUOTE else quote[: QUOTE - 1] + "…"
    return f"Thank you for “{snippet}”"[:limit]


def kudos_problems(
    values: dict[str, str],
    recipients: Sequence[str],
    message: str,
    value: str | None,
    limit: int = MAX_MESSAGE,
) -> TextReply | None:
    """What is wrong with a kudos before anyone is looked up (every field, for a form; the
    first one's words for a chat), or None."""
    tags = ", ".join(f"#{tag}" for tag in values)
    message = without_control(message).strip()
    problems = []
    if not recipients:
        problems.append(
            FieldProblem(RECIPIENTS, "Say who to thank: choose at least one colleague.")
        )
    if not value:
        problems.append(FieldProblem(VALUE, f"Add a value to your kudos, one of: {tags}."))
    elif value not in values:
        problems.append(
            FieldProblem(VALUE, f"#{value} isn't one of our values. Use one of: {tags}.")
        )
    if not message:
        problems.append(FieldProblem(MESSAGE, "Say what you'd like to thank them for."))
    elif len(message) > limit:
        problems.append(
            FieldProblem(
                MESSAGE,
                f"Kudos messages are limited to {limit} characters (this one has "
                f"{len(message)}). Please shorten it.",
            )
        )
    if not problems:
        return None
    return TextReply(problems[0].text, kind="error", problems=tuple(problems))


async def give_kudos(
    service: TeamPulse, email: str, mentions: Sequence[str], message: str, value: str | None
) -> View:
    """Check, save and announce one kudos; the giver's view of it, or why not.  ``mentions`` are
    emails or the part before the @ (``UnknownPerson`` for a giver outside the organisation)."""
    message = without_control(message).strip()
    mentions = [without_control(mention) for mention in mentions]
    settings = service.settings
    problem = kudos_problems(
        settings.kudos_values, mentions, message, value, settings.kudos_max_chars
    )
    if problem is not None:
        return problem
    assert value  # a missing value is one of the problems above
    async with service.db.session() as session:
        giver = await service.person(session, email)
        found, missing = await _resolve(session, giver, mentions)
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
            session, giver, found, message, value, service.clock(), day=service.today()
        )
    post = KudosPost(
        giver=giver.display_name,
        recipients=tuple(p.display_name for p in given.recipients),
        message=message,
        value=value,
        value_label=service.settings.kudos_values[value],
        teams=tuple(team.name for team in given.teams),
        day=f"{service.today():%d %b %Y}",
    )
    service.metrics.kudos.inc()
    await _announce(service, post, given)
    return post


async def _resolve(
    session: AsyncSession, giver: Person, mentions: Sequence[str]
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


async def _announce(service: TeamPulse, post: KudosPost, given: recognition.GivenKudos) -> None:
    """Post to each team's celebration feed and tell each recipient; a platform hiccup here
    doesn't undo the kudos, which is already saved."""
    messenger = service.messenger
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

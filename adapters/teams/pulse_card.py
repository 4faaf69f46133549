"""The pulse as an Adaptive Card form, and what comes back when it is submitted.

The card is the whole form (Teams has no modal to open first): one required choice set per
statement, one optional comment and what it is about (General by default, or one statement:
the Slack modal's rule), and one ``Action.Execute`` (verb ``pulse.submit``) whose data carries
the ``CardForm`` (round and asked questions), with an ``Action.Submit`` fallback carrying the
same.  Teams sends the data back merged with the inputs' values, keyed by input id:

- ``q:<question id>``: the score chosen, ``"1"`` to ``"5"``;
- ``bot.forms.COMMENT``: the comment; ``bot.forms.ABOUT``: ``general`` or ``q:<question id>``.

A client leaves an input that holds no value out of the data, so a missing About reads as
General (every Teams pulse card offers it, with General chosen).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.teams.adaptive import (
    KIND,
    Element,
    card,
    execute,
    heading,
    inert,
    problem,
    subtle,
    text_block,
)
from bot import forms, words
from bot.cards import CardForm
from bot.forms import ABOUT, COMMENT, GENERAL_COMMENT, MAX_TEXT, FieldProblem
from bot.views import PulseCard, TextReply

SUBMIT_VERB = "pulse.submit"
PULSE = "pulse"  # data[KIND] of the pulse form's action
FORM = "form"  # the data key holding the CardForm
QUESTION = "q:"  # input id prefix of a statement's choice set (and of About's choices)
ABOUT_GENERAL = "general"  # About's General choice (the core's key, "", is no choice value)
SCORES = frozenset({"1", "2", "3", "4", "5"})
MAX_FORM = 4_000  # a CardForm is a round and a few question ids: far shorter than this


@dataclass(frozen=True)
class PulseSubmission:
    """A submitted pulse card, read but not checked (``Conversation.submit_card`` checks it)."""

    round_id: int
    answers: dict[str, int]  # question id -> score, for the asked questions answered 1 to 5
    comment: str
    about: str  # GENERAL_COMMENT, a question id, or what was sent (for the core to refuse)
    asked: tuple[str, ...]
    values: dict[str, str]  # the inputs as sent back: ``pulse_card(…, values=)`` shows them again


def pulse_card(
    view: PulseCard,
    *,
    problems: Sequence[FieldProblem] = (),
    values: Mapping[str, str] | None = None,
) -> Element:
    """The form; ``problems`` (a refused submission's) are shown in red under their inputs and
    ``values`` (``PulseSubmission.values``) keep what the person had chosen and written."""
    chosen = dict(values or {})
    marks = _problems_by_input(problems, view)
    body: list[Element] = [heading(inert(words.pulse_title(view)), "Large")]
    if view.reminder:
        body.append(text_block(inert(words.pulse_notification(view)), color="Warning"))
    body += [problem(inert(text)) for text in marks.pop("", [])]
    body += [text_block(inert(view.intro)), subtle(inert(words.statements(view)))]
    for number, question in enumerate(view.questions, 1):
        key = f"{QUESTION}{question.id}"
        answers = _statement(view, number, key, question.text, chosen.get(key))
        body += _field(answers, question.theme, marks.get(key))
    body += _field(
        _comment(chosen.get(COMMENT), view.comment_max), words.COMMENT_HINT, marks.get(COMMENT)
    )
    body += _field(_about(view, chosen.get(ABOUT)), words.ABOUT_HINT, marks.get(ABOUT))
    body.append(subtle(inert(words.ANONYMOUS)))
    form = CardForm(view.round_id, tuple(question.id for question in view.questions))
    submit = execute("Submit", SUBMIT_VERB, {KIND: PULSE, FORM: form.dumps()}, style="positive")
    return card(body, [submit])


def _field(element: Element, hint: str, problems: list[str] | None) -> list[Element]:
    """An input, its hint, and what is wrong with it (in red, right under it)."""
    return [element, subtle(inert(hint)), *(problem(inert(text)) for text in problems or [])]


def _statement(view: PulseCard, number: int, key: str, text: str, value: str | None) -> Element:
    """One statement's five answers, as radio buttons (``expanded``: every answer visible at
    once, which reads better than a drop-down on a phone).  An input's label is plain text."""
    found: Element = {
        "type": "Input.ChoiceSet",
        "id": key,
        "label": f"{number}. {text}",
        "style": "expanded",
        "isRequired": True,
        "errorMessage": forms.PICK_ONE,
        "choices": [{"title": label, "value": str(score)} for score, label in view.scale],
    }
    return found | ({"value": value} if value in SCORES else {})


def _comment(value: str | None, limit: int) -> Element:
    found: Element = {
        "type": "Input.Text",
        "id": COMMENT,
        "label": words.COMMENT_LABEL,
        "isMultiline": True,
        "maxLength": limit,
    }
    return found | ({"value": value[:limit]} if value else {})


def _about(view: PulseCard, value: str | None) -> Element:
    """A drop-down (the default style): General, then each statement by its theme."""
    choices = [
        {"title": label, "value": _about_value(key)} for key, label in words.about_choices(view)
    ]
    known = {choice["value"] for choice in choices}
    return {
        "type": "Input.ChoiceSet",
        "id": ABOUT,
        "label": words.ABOUT_LABEL,
        "value": value if value in known else ABOUT_GENERAL,
        "choices": choices,
    }


def _about_value(key: str) -> str:
    return f"{QUESTION}{key}" if key != GENERAL_COMMENT else ABOUT_GENERAL


def _problems_by_input(problems: Sequence[FieldProblem], view: PulseCard) -> dict[str, list[str]]:
    """Each problem's text under its input's id; one about no input on the card under ``""``
    (shown at the top, so nothing the core says is lost)."""
    inputs = {COMMENT, ABOUT} | {f"{QUESTION}{question.id}" for question in view.questions}
    found: dict[str, list[str]] = {}
    for item in problems:
        key = item.field if item.field in (COMMENT, ABOUT) else f"{QUESTION}{item.field}"
        found.setdefault(key if key in inputs else "", []).append(item.text)
    return found


# -- what comes back ----------------------------------------------------------------------------
def read_pulse_submission(value: Any) -> PulseSubmission | TextReply:
    """A submitted pulse card: an invoke's ``value`` (or its ``value.action.data``) for
    ``Action.Execute``, or a message's ``value`` for ``Action.Submit``: the action's data merged
    with the inputs.  Answers that are missing or not 1 to 5 are left out (the core names each);
    anything that is no pulse form (a stale or forged card) gets a notice, never an exception."""
    data = _data(value)
    form = _form(data.get(FORM)) if data.get(KIND) == PULSE else None
    about = data.get(ABOUT, ABOUT_GENERAL)
    comment = data.get(COMMENT, "")
    if form is None or not isinstance(about, str) or not isinstance(comment, str):
        return TextReply(words.STALE_FORM, kind="error")
    answers = {
        question: int(score)
        for question in form.questions
        if (score := _score(data.get(f"{QUESTION}{question}"))) is not None
    }
    values = {f"{QUESTION}{question}": str(score) for question, score in answers.items()}
    values |= {COMMENT: comment[:MAX_TEXT], ABOUT: about[:200]}
    return PulseSubmission(
        round_id=form.round_id,
        answers=answers,
        comment=comment.strip(),
        about=_about_key(about),
        asked=form.questions,
        values=values,
    )


def _data(value: Any) -> dict[str, Any]:
    """The merged data: ``value`` itself, or an invoke value's ``action.data``."""
    if not isinstance(value, dict):
        return {}
    action = value.get("action")
    if KIND not in value and isinstance(action, dict) and isinstance(action.get("data"), dict):
        return dict(action["data"])
    return value


def _form(text: Any) -> CardForm | None:
    if not isinstance(text, str) or len(text) > MAX_FORM:
        return None
    try:
        return CardForm.loads(text)
    except RecursionError:  # (deeply nested junk)
        return None


def _score(value: Any) -> int | None:
    """A chosen answer: ``"1"`` to ``"5"`` as a client sends it (or the number itself)."""
    if isinstance(value, str) and value in SCORES:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value
    return None


def _about_key(value: str) -> str:
    """General (or no choice) -> GENERAL_COMMENT, ``q:<id>`` -> the id; anything else is passed
    on as it is, for the core to refuse."""
    if value in ("", ABOUT_GENERAL):
        return GENERAL_COMMENT
    return value.removeprefix(QUESTION)

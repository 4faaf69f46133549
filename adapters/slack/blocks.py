"""Render the core's views as Block Kit (messages and the pulse modal).

A pulse is answered in a modal opened from the DM's "Answer the pulse" button, so one submission
carries every answer; after it, the DM is replaced by a receipt that shows no answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot import forms
from bot.forms import GENERAL_COMMENT, MAX_COMMENT
from bot.report_words import NO_RESULTS, words
from bot.views import KudosPost, PulseCard, Receipt, TextReply, TrendReportView, View

Block = dict[str, Any]

OPEN_PULSE = "pulse_open"  # action_id of the DM's button
SUBMIT_PULSE = "pulse_submit"  # callback_id of the modal
SCORE = "score"  # action_id of each question's radio buttons
COMMENT_BLOCK = "comment"
COMMENT = "text"
ABOUT_BLOCK = "about"  # block_id of the comment's "About" select (General or one statement)
ABOUT = "choice"  # its action_id
ABOUT_GENERAL = "general"  # its first option's value (the core's key, "", is no option value)
QUESTION_BLOCK = "q:"  # block_id prefix, followed by the question id
ICONS = {"info": "", "error": ":warning: ", "success": ":white_check_mark: "}


def _text(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mrkdwn(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _text(text)}}


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": _text(text, limit), "emoji": True}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _text(text)}]}


def button(action_id: str, text: str, value: str, *, primary: bool = False) -> Block:
    found = {"type": "button", "action_id": action_id, "text": plain(text), "value": value}
    return found | ({"style": "primary"} if primary else {})


def field_input(block_id: str, label: str, element: Block, **extra: Any) -> Block:
    """A modal's input block (``extra``: ``hint``, ``optional``)."""
    found = {"type": "input", "block_id": block_id, "label": plain(label, 2000)}
    return found | {"element": element} | extra


def modal(blocks: list[Block], title: str, close: str = "Cancel", **extra: Any) -> Block:
    """A modal view (``extra``: ``callback_id``, ``private_metadata``, ``submit``)."""
    shell = {"type": "modal", "title": plain(title, 24), "close": plain(close, 24)}
    if "submit" in extra:
        extra["submit"] = plain(extra["submit"], 24)
    return shell | extra | {"blocks": blocks}


@dataclass(frozen=True)
class Message:
    """A Slack message: fallback ``text`` (notifications, screen readers) plus ``blocks``."""

    text: str
    blocks: list[Block]


def render(view: View) -> Message:
    match view:
        case TextReply():
            return Message(view.text, [mrkdwn(ICONS.get(view.kind, "") + view.text)])
        case Receipt():
            return receipt(view)
        case PulseCard():
            return pulse_message(view)
        case KudosPost():
            return kudos(view)
        case TrendReportView():
            return trends(view)


# -- pulses ------------------------------------------------------------------------------------
def pulse_message(card: PulseCard) -> Message:
    statements = "\n".join(f"• {q.text}" for q in card.questions)
    answer = button(OPEN_PULSE, "Answer the pulse", str(card.round_id), primary=True)
    blocks = [
        {"type": "header", "text": plain(f"{card.team} pulse check")},
        mrkdwn(card.intro),
        mrkdwn(f"*{len(card.questions)} statements* (closes {card.closes_on}):\n{statements}"),
        {"type": "actions", "block_id": "pulse", "elements": [answer]},
        context("Anonymous: answers are stored with no link to you and shown only for groups."),
    ]
    title = "Reminder: your" if card.reminder else "Your"
    return Message(f"{title} {card.team} pulse check (closes {card.closes_on})", blocks)


def about_choices(card: PulseCard) -> list[tuple[str, str]]:
    """(value, label) of what a comment may be about: General first (the default), then each
    statement by its theme, numbered when two share one (as the web chat labels them)."""
    themes = [question.theme for question in card.questions]
    return [(ABOUT_GENERAL, "General")] + [
        (
            f"{QUESTION_BLOCK}{question.id}",
            question.theme + (f" ({number})" if themes[: number - 1].count(question.theme) else ""),
        )
        for number, question in enumerate(card.questions, 1)
    ]


def _about_select(card: PulseCard) -> Block:
    options = [{"text": plain(label, 75), "value": value} for value, label in about_choices(card)]
    return {
        "type": "input",
        "block_id": ABOUT_BLOCK,
        "optional": True,
        "label": plain("About"),
        "hint": plain("General, or the statement your comment is about.", 2000),
        "element": {
            "type": "static_select",
            "action_id": ABOUT,
            "options": options,
            "initial_option": options[0],
        },
    }


def pulse_modal(card: PulseCard, metadata: str) -> dict[str, Any]:
    """The modal: one required radio group per statement, an optional comment and what it is
    about (General unless the person picks a statement)."""
    options = [
        {"text": plain(f"{value} · {label}"), "value": str(value)} for value, label in card.scale
    ]
    radios = {"type": "radio_buttons", "action_id": SCORE, "options": options}
    blocks: list[Block] = [mrkdwn(card.intro)]
    for number, question in enumerate(card.questions, 1):
        label, hint = f"{number}. {question.text}", plain(question.theme, 2000)
        blocks.append(field_input(f"{QUESTION_BLOCK}{question.id}", label, radios, hint=hint))
    blocks.append(
        {
            "type": "input",
            "block_id": COMMENT_BLOCK,
            "optional": True,
            "label": plain("Anything to add? (optional)"),
            "hint": plain(
                "Comments are shown to managers only for large groups, with no names, dates or "
                "order. Please don't name yourself or others.",
                2000,
            ),
            "element": {
                "type": "plain_text_input",
                "action_id": COMMENT,
                "multiline": True,
                "max_length": MAX_COMMENT,
            },
        }
    )
    blocks.append(_about_select(card))
    return modal(
        blocks, "Pulse check", callback_id=SUBMIT_PULSE, private_metadata=metadata, submit="Submit"
    )


def notice_modal(text: str) -> dict[str, Any]:
    """A modal that only says something (already answered, closed, not found)."""
    return modal([mrkdwn(text)], "Pulse check", close="Close")


@dataclass(frozen=True)
class ModalAnswers:
    answers: dict[str, int]
    comment: str
    # the statement (question id) the comment is about, GENERAL_COMMENT for General, or None
    # when the form had no "About" select (one opened before it existed)
    about: str | None = None


def read_modal(state_values: Any) -> ModalAnswers:
    """The answers in a submitted modal's ``view.state.values``; the core checks them."""
    answers: dict[str, int] = {}
    comment = ""
    about: str | None = None
    for block_id, actions in (state_values if isinstance(state_values, dict) else {}).items():
        if not isinstance(block_id, str) or not isinstance(actions, dict):
            continue
        if block_id.startswith(QUESTION_BLOCK):
            value = _option(actions.get(SCORE))
            if isinstance(value, str) and value in {"1", "2", "3", "4", "5"}:
                answers[block_id[len(QUESTION_BLOCK) :]] = int(value)
        elif block_id == COMMENT_BLOCK:
            typed = actions.get(COMMENT)
            value = typed.get("value") if isinstance(typed, dict) else None
            comment = value.strip() if isinstance(value, str) else ""
        elif block_id == ABOUT_BLOCK:
            about = _about(actions.get(ABOUT))
    return ModalAnswers(answers, comment, about)


def form_errors(
    problems: Iterable[forms.FieldProblem], blocks: dict[str, str] | None = None
) -> dict[str, str]:
    """The core's problems on a form's blocks (``blocks``: field to block id; a pulse card's
    question ids are ``q:`` blocks and its comment the comment block)."""
    known = blocks or {forms.COMMENT: COMMENT_BLOCK, forms.ABOUT: ABOUT_BLOCK}
    return {known.get(p.field, f"{QUESTION_BLOCK}{p.field}"): p.text for p in problems}


def state_values(view: dict[str, Any]) -> Any:
    """A submitted view's ``state.values`` (None when the view has none)."""
    state = view.get("state")
    return state.get("values") if isinstance(state, dict) else None


def _option(action: Any) -> Any:
    """The value of a select's or radio buttons' chosen option (None when there is none)."""
    chosen = action.get("selected_option") if isinstance(action, dict) else None
    return chosen.get("value") if isinstance(chosen, dict) else None


def _about(action: Any) -> str:
    """The "About" select's choice: GENERAL_COMMENT (General, or a cleared select) or a question
    id; any other value is passed on as it is, for the core to refuse."""
    value = _option(action)
    if not isinstance(value, str) or value == ABOUT_GENERAL:
        return GENERAL_COMMENT
    return value.removeprefix(QUESTION_BLOCK)


def receipt(view: Receipt) -> Message:
    return Message(
        f"Thank you, your {view.team} pulse is in.",
        [
            mrkdwn(f":white_check_mark: *{view.team} pulse: answered*"),
            mrkdwn(view.text),
        ],
    )


# -- kudos -------------------------------------------------------------------------------------
def inert(text: str) -> str:
    """A person's words, safe in mrkdwn for others to read: every Slack control sequence (a
    mention, ``<!channel>``, a disguised link) starts with ``<``."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def kudos(view: KudosPost) -> Message:
    giver, names, message = (
        inert(view.giver),
        inert(", ".join(view.recipients)),
        inert(view.message),
    )
    text = f"🎉 {giver} celebrated {names}: {message} #{view.value}"
    return Message(
        text,
        [
            mrkdwn(f"🎉 *{giver}* celebrated *{names}*"),
            mrkdwn(f"> {message}"),
            context(f"*#{view.value}* · {view.value_label} · {view.day}"),
        ],
    )


# -- trends ------------------------------------------------------------------------------------
def trends(view: TrendReportView) -> Message:
    report = words(view)
    blocks: list[Block] = [
        {"type": "header", "text": plain(f"Trends: {view.team}")},
        context(f"{view.scope or view.team}, last {view.weeks} weeks"),
    ]
    fields = [
        {
            "type": "mrkdwn",
            "text": f"*{row.theme}*\n{row.score}" + (row.change and f"\n{row.change}"),
        }
        for row in report.themes
    ]
    for start in range(0, len(fields), 10):  # a section holds at most 10 fields
        blocks.append({"type": "section", "fields": fields[start : start + 10]})
    sections = (
        ("", () if fields else (NO_RESULTS,)),
        ("*Taking part*\n", report.taking_part),
        ("", report.summary),
        ("*Comments*\n", tuple(f"> {inert(line)}" for line in report.comments[:10])),
        ("*Teams below*\n", tuple(f"• {line}" for line in report.teams_below)),
        ("*Kudos*\n", report.kudos),
        ("", tuple(f"_{note}_" for note in view.notes)),
    )
    blocks += [mrkdwn(title + "\n".join(lines)) for title, lines in sections if lines]
    blocks += [{"type": "divider"}, context(view.footnote)]
    return Message(report.title, blocks[:50])

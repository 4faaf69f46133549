"""Render the core's views as Block Kit (messages and the pulse modal).

A pulse is answered in a modal opened from the DM's "Answer the pulse" button, so one submission
carries every answer; after it, the DM is replaced by a receipt that shows no answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.service import GENERAL_COMMENT
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
MAX_COMMENT = 1000
ICONS = {"info": "", "error": ":warning: ", "success": ":white_check_mark: "}


def _text(text: str, limit: int = 3000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mrkdwn(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _text(text)}}


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": _text(text, limit), "emoji": True}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _text(text)}]}


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
    blocks = [
        {"type": "header", "text": plain(f"{card.team} pulse check")},
        mrkdwn(card.intro),
        mrkdwn(f"*{len(card.questions)} statements* (closes {card.closes_on}):\n{statements}"),
        {
            "type": "actions",
            "block_id": "pulse",
            "elements": [
                {
                    "type": "button",
                    "action_id": OPEN_PULSE,
                    "style": "primary",
                    "text": plain("Answer the pulse"),
                    "value": str(card.round_id),
                }
            ],
        },
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


def pulse_modal(card: PulseCard, metadata: dict[str, Any]) -> dict[str, Any]:
    """The modal: one required radio group per statement, an optional comment and what it is
    about (General unless the person picks a statement)."""
    options = [
        {"text": plain(f"{value} · {label}"), "value": str(value)} for value, label in card.scale
    ]
    blocks: list[Block] = [mrkdwn(card.intro)]
    for number, question in enumerate(card.questions, 1):
        blocks.append(
            {
                "type": "input",
                "block_id": f"{QUESTION_BLOCK}{question.id}",
                "label": plain(f"{number}. {question.text}", 2000),
                "hint": plain(question.theme, 2000),
                "element": {"type": "radio_buttons", "action_id": SCORE, "options": options},
            }
        )
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
    return {
        "type": "modal",
        "callback_id": SUBMIT_PULSE,
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "title": plain("Pulse check", 24),
        "submit": plain("Submit", 24),
        "close": plain("Cancel", 24),
        "blocks": blocks,
    }


def notice_modal(text: str) -> dict[str, Any]:
    """A modal that only says something (already answered, closed, not found)."""
    return {
        "type": "modal",
        "title": plain("Pulse check", 24),
        "close": plain("Close", 24),
        "blocks": [mrkdwn(text)],
    }


@dataclass(frozen=True)
class ModalAnswers:
    answers: dict[str, int]
    comment: str
    errors: dict[str, str]
    # the statement (question id) the comment is about, GENERAL_COMMENT for General, or None
    # when the form had no "About" select (one opened before it existed)
    about: str | None = None

    def comments(self, questions: list[str]) -> dict[str, str]:
        """The comment as the core takes it: keyed by its statement, or GENERAL_COMMENT.  A form
        without the select keeps what such a form did: the first statement."""
        if not self.comment or not questions:
            return {}
        return {questions[0] if self.about is None else self.about: self.comment}


def read_modal(state_values: Any) -> ModalAnswers:
    """The answers in a submitted modal's ``view.state.values`` (anything odd is an error)."""
    answers: dict[str, int] = {}
    errors: dict[str, str] = {}
    comment = ""
    about: str | None = None
    if not isinstance(state_values, dict):
        return ModalAnswers({}, "", {COMMENT_BLOCK: "Something went wrong; please try again."})
    for block_id, actions in state_values.items():
        if not isinstance(block_id, str) or not isinstance(actions, dict):
            continue
        if block_id.startswith(QUESTION_BLOCK):
            chosen = (actions.get(SCORE) or {}).get("selected_option") or {}
            value = chosen.get("value") if isinstance(chosen, dict) else None
            if isinstance(value, str) and value in {"1", "2", "3", "4", "5"}:
                answers[block_id[len(QUESTION_BLOCK) :]] = int(value)
            else:
                errors[block_id] = "Please pick one answer."
        elif block_id == COMMENT_BLOCK:
            value = (actions.get(COMMENT) or {}).get("value")
            comment = value.strip() if isinstance(value, str) else ""
            if len(comment) > MAX_COMMENT:
                errors[block_id] = f"Please keep comments under {MAX_COMMENT} characters."
        elif block_id == ABOUT_BLOCK:
            about = _about(actions.get(ABOUT))
            if about is None:
                errors[block_id] = "Please pick General or one of the statements."
    return ModalAnswers(answers, comment, errors, about)


def _about(action: Any) -> str | None:
    """The "About" select's choice: GENERAL_COMMENT, a question id, or None when it is odd.
    No choice (a cleared select) is General."""
    chosen = action.get("selected_option") if isinstance(action, dict) else None
    value = chosen.get("value") if isinstance(chosen, dict) else None
    if chosen is None or value == ABOUT_GENERAL:
        return GENERAL_COMMENT
    if isinstance(value, str) and value.startswith(QUESTION_BLOCK):
        return value[len(QUESTION_BLOCK) :]
    return None


def receipt(view: Receipt) -> Message:
    return Message(
        f"Thank you, your {view.team} pulse is in.",
        [
            mrkdwn(f":white_check_mark: *{view.team} pulse: answered*"),
            mrkdwn(view.text),
        ],
    )


# -- kudos -------------------------------------------------------------------------------------
def kudos(view: KudosPost) -> Message:
    names = ", ".join(view.recipients)
    text = f"🎉 {view.giver} celebrated {names}: {view.message} #{view.value}"
    return Message(
        text,
        [
            mrkdwn(f"🎉 *{view.giver}* celebrated *{names}*"),
            mrkdwn(f"> {view.message}"),
            context(f"*#{view.value}* · {view.value_label} · {view.day}"),
        ],
    )


# -- trends ------------------------------------------------------------------------------------
def _score(mean: float | None, favourable: float | None) -> str:
    if mean is None:
        return "not shown (too few answers)"
    shown = f"*{mean:.2f}*"
    return shown + (f" · {favourable:.0f}% favourable" if favourable is not None else "")


def trends(view: TrendReportView) -> Message:
    scope = view.scope or view.team
    blocks: list[Block] = [
        {"type": "header", "text": plain(f"Trends: {view.team}")},
        context(f"{scope}, last {view.weeks} weeks"),
    ]
    fields = []
    for row in view.themes:
        change = ""
        if row.change is not None:
            mark = ("▲" if row.change > 0 else "▼") if row.significant else "·"
            change = f"\n{mark} {row.change:+.2f}" + ("" if row.significant else " (not real)")
        fields.append(
            {"type": "mrkdwn", "text": f"*{row.theme}*\n{_score(row.mean, row.favourable)}{change}"}
        )
    for start in range(0, len(fields), 10):  # a section holds at most 10 fields
        blocks.append({"type": "section", "fields": fields[start : start + 10]})
    if not fields:
        blocks.append(mrkdwn("No results to show yet for this period."))
    if view.rounds:
        taking = [
            f"{r.label}: {r.respondents}/{r.invited} ({r.rate:.0f}%)"
            if r.respondents is not None and r.rate is not None
            else f"{r.label}: too few to show"
            for r in view.rounds
        ]
        blocks.append(mrkdwn("*Taking part*\n" + "\n".join(taking)))
    extra = []
    if view.advocacy is not None:
        extra.append(
            f"*Advocacy* (% agree minus % disagree, would recommend): {view.advocacy:+.0f}"
        )
    if view.mood:
        extra.append(f"*Mood of comments*: {view.mood}")
    if extra:
        blocks.append(mrkdwn("\n".join(extra)))
    if view.comments:
        quoted = "\n".join(f"> {comment} _({theme})_" for theme, comment in view.comments[:10])
        blocks.append(mrkdwn("*Comments*\n" + quoted))
    if view.children:
        rows = [
            f"• {c.team}: {c.mean:.2f} (up to {c.respondents} people a week)"
            if c.mean is not None
            else f"• {c.team}: included above"
            for c in view.children
        ]
        blocks.append(mrkdwn("*Teams below*\n" + "\n".join(rows)))
    if view.recognition or view.recognition_given:
        lines = []
        if view.recognition:
            lines.append("Received: " + ", ".join(f"#{v} {n}" for v, n in view.recognition))
        if view.recognition_given:
            lines.append("Given: " + ", ".join(f"#{v} {n}" for v, n in view.recognition_given))
        blocks.append(mrkdwn("*Kudos*\n" + "\n".join(lines)))
    if view.notes:
        blocks.append(mrkdwn("\n".join(f"_{note}_" for note in view.notes)))
    blocks.append({"type": "divider"})
    blocks.append(context(view.footnote))
    return Message(f"Trends for {scope}, last {view.weeks} weeks", blocks[:50])

"""The core's views as Block Kit.  A pulse is answered in a modal, so one submission carries every
answer; its DM is then replaced by a receipt that shows none."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from bot import forms, report_words, words
from bot.forms import GENERAL_COMMENT
from bot.report_words import NO_RESULTS
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


# Slack escapes exactly these three in what people type (docs.slack.dev, "escaping text")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def inert(text: str) -> str:
    """Text shown as typed in mrkdwn: Slack's escaping of its three control characters (``&``
    first, so an entity someone typed stays as typed).  Every Slack control sequence (a mention,
    ``<!channel>``, a disguised link ``<url|words>``) starts with ``<``, so nothing escaped here
    can become one.  Nothing unescapes it afterwards."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Slack's three entities read back as the characters typed, in one pass (``&amp;lt;`` is
    a typed ``&lt;``, never a ``<``)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def _mrkdwn_text(text: str) -> dict[str, Any]:
    """A mrkdwn text object: ``verbatim`` so Slack links or mentions nothing on its own (URLs,
    channel names, ``@here``); only the control sequences the bot writes are live."""
    return {"type": "mrkdwn", "text": _text(text), "verbatim": True}


def mrkdwn(text: str, **extra: Any) -> Block:
    """A section of mrkdwn text (``extra``: ``block_id``): ``text`` is mrkdwn, so anything in it
    that the bot didn't write has been through ``inert``."""
    return {"type": "section", "text": _mrkdwn_text(text)} | extra


def said(text: str) -> Block:
    """A section of someone's own words (a kudos message, comments) as plain text: no
    formatting, mention or link at all, and no escaping needed."""
    return {"type": "section", "text": plain(text, 3000)}


def strong(text: str) -> str:
    return f"*{text}*"


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": _text(text, limit), "emoji": True}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text)}


def context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn_text(text)]}


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
            # the core's own markup (``*strong*``, `` `code` ``) is Slack's; the rest is text
            text = inert(view.text)
            return Message(text, [mrkdwn(ICONS.get(view.kind, "") + text)])
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
    statements = "\n".join(f"• {inert(q.text)}" for q in card.questions)
    answer = button(OPEN_PULSE, words.ANSWER_PULSE, str(card.round_id), primary=True)
    blocks = [
        header(words.pulse_title(card)),
        mrkdwn(inert(card.intro)),
        mrkdwn(f"{words.statements(card, strong)}:\n{statements}"),
        {"type": "actions", "block_id": "pulse", "elements": [answer]},
        context(inert(words.ANONYMOUS)),
    ]
    return Message(inert(words.pulse_notification(card)), blocks)


def _about_select(card: PulseCard) -> Block:
    """The core's choices, keyed by block (the core's General key, "", is no option value)."""
    options = [
        {"text": plain(label, 75), "value": f"{QUESTION_BLOCK}{key}" if key else ABOUT_GENERAL}
        for key, label in words.about_choices(card)
    ]
    select = {"type": "static_select", "action_id": ABOUT, "options": options}
    hint = plain(words.ABOUT_HINT, 2000)
    return field_input(
        ABOUT_BLOCK,
        words.ABOUT_LABEL,
        select | {"initial_option": options[0]},
        optional=True,
        hint=hint,
    )


def pulse_modal(card: PulseCard, metadata: str) -> dict[str, Any]:
    """The modal: one required radio group per statement, an optional comment and what it is
    about (General unless the person picks a statement)."""
    options = [
        {"text": plain(f"{value} · {label}"), "value": str(value)} for value, label in card.scale
    ]
    radios = {"type": "radio_buttons", "action_id": SCORE, "options": options}
    blocks: list[Block] = [mrkdwn(inert(card.intro))]
    for number, question in enumerate(card.questions, 1):
        label, hint = f"{number}. {question.text}", plain(question.theme, 2000)
        blocks.append(field_input(f"{QUESTION_BLOCK}{question.id}", label, radios, hint=hint))
    hint = plain(words.COMMENT_HINT, 2000)
    comment = text_input(COMMENT, card.comment_max)
    blocks.append(
        field_input(COMMENT_BLOCK, words.COMMENT_LABEL, comment, optional=True, hint=hint)
    )
    blocks.append(_about_select(card))
    return modal(
        blocks,
        words.PULSE_FORM,
        callback_id=SUBMIT_PULSE,
        private_metadata=metadata,
        submit="Submit",
    )


def text_input(action_id: str, max_length: int) -> Block:
    return {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": True,
        "max_length": max_length,
    }


def notice_modal(text: str) -> dict[str, Any]:
    """A modal that only says something (already answered, closed, not found)."""
    return modal([mrkdwn(inert(text))], words.PULSE_FORM, close="Close")


@dataclass(frozen=True)
class ModalAnswers:
    answers: dict[str, int]
    comment: str
    # the statement (question id) the comment is about, GENERAL_COMMENT for General, or None
    # when the form had no "About" select (one opened before it existed)
    about: str | None = None


def read_modal(state_values: Any) -> ModalAnswers:
    """The answers in a submitted modal's ``view.state.values``; the core checks them."""
    state = state_values if isinstance(state_values, dict) else {}
    answers: dict[str, int] = {}
    for block_id in state:
        score = selected(input_state(state, block_id, SCORE))
        if str(block_id).startswith(QUESTION_BLOCK) and score in {"1", "2", "3", "4", "5"}:
            answers[str(block_id).removeprefix(QUESTION_BLOCK)] = int(str(score))
    comment = text_of(input_state(state, COMMENT_BLOCK, COMMENT)).strip()
    has_about = isinstance(state.get(ABOUT_BLOCK), dict)
    about = _about(selected(input_state(state, ABOUT_BLOCK, ABOUT))) if has_about else None
    return ModalAnswers(answers, comment, about)


def input_state(state_values: Any, block_id: str, action_id: str) -> dict[str, Any]:
    """One input of a submitted modal's ``view.state.values`` (``{}`` when missing)."""
    state = state_values if isinstance(state_values, dict) else {}
    block = state.get(block_id)
    found = block.get(action_id) if isinstance(block, dict) else None
    return found if isinstance(found, dict) else {}


def selected(found: dict[str, Any]) -> str | None:
    """The value chosen in a select or a radio group."""
    option = found.get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else None


def text_of(found: dict[str, Any]) -> str:
    value = found.get("value")
    return value if isinstance(value, str) else ""


def form_errors(
    problems: Iterable[forms.FieldProblem], blocks: dict[str, str] | None = None
) -> dict[str, str]:
    """The core's problems on a form's blocks (``blocks``: field to block id; a pulse card's
    question ids are ``q:`` blocks and its comment the comment block)."""
    known = blocks or {forms.COMMENT: COMMENT_BLOCK, forms.ABOUT: ABOUT_BLOCK}
    return {known.get(p.field, f"{QUESTION_BLOCK}{p.field}"): p.text for p in problems}


def state_values(view: dict[str, Any]) -> Any:
    """A submitted view's ``state.values`` (None when the view has none, or it isn't an object)."""
    state = view.get("state")
    return state.get("values") if isinstance(state, dict) else None


def _about(value: str | None) -> str:
    """The "About" select's choice: GENERAL_COMMENT (General, or a cleared select) or a question
    id; any other value is passed on as it is, for the core to refuse."""
    if value is None or value == ABOUT_GENERAL:
        return GENERAL_COMMENT
    return value.removeprefix(QUESTION_BLOCK)


def receipt(view: Receipt) -> Message:
    heading = mrkdwn(f":white_check_mark: {strong(inert(words.receipt_title(view)))}")
    return Message(inert(words.receipt_notification(view)), [heading, mrkdwn(inert(view.text))])


# -- kudos -------------------------------------------------------------------------------------
def kudos(view: KudosPost) -> Message:
    """Names, value and day in mrkdwn, made inert; the message itself as plain text.  No
    mention is written: the names are the bot's words for the people it resolved."""
    giver, names = inert(view.giver), inert(", ".join(view.recipients))
    tag = replace(view, value=inert(view.value), value_label=inert(view.value_label))
    text = inert(f"{words.celebrated(view.giver, ', '.join(view.recipients))}: {view.message}")
    blocks = [
        mrkdwn(words.celebrated(giver, names, strong)),
        said(view.message),
        context(words.kudos_tag(tag, strong)),
    ]
    return Message(f"{text} #{inert(view.value)}", blocks)


# -- trends ------------------------------------------------------------------------------------
def trends(view: TrendReportView) -> Message:
    report = report_words.words(view)
    blocks: list[Block] = [
        header(f"Trends: {view.team}"),
        context(inert(f"{view.scope or view.team}, last {view.weeks} weeks")),
    ]
    fields = [
        _mrkdwn_text(
            f"{strong(inert(row.theme))}\n{inert(row.score)}"
            + (row.change and f"\n{inert(row.change)}")
        )
        for row in report.themes
    ]
    for start in range(0, len(fields), 10):  # a section holds at most 10 fields
        blocks.append({"type": "section", "fields": fields[start : start + 10]})
    before = (
        ("", () if fields else (NO_RESULTS,)),
        ("*Taking part*\n", report.taking_part),
        ("", report.summary),
    )
    after = (
        ("*Teams below*\n", tuple(f"• {line}" for line in report.teams_below)),
        ("*Kudos*\n", report.kudos),
    )
    blocks += _sections(before)
    if report.comments:  # people's own words: plain text, under a heading
        blocks += [mrkdwn("*Comments*"), *map(said, _chunks(report.comments[:10]))]
    blocks += _sections(after)
    blocks += [mrkdwn("\n".join(f"_{inert(note)}_" for note in view.notes))] if view.notes else []
    blocks += [{"type": "divider"}, context(inert(view.footnote))]
    return Message(inert(report.title), blocks[:50])


def _chunks(lines: tuple[str, ...], limit: int = 3000) -> list[str]:
    """Lines joined into as few texts as fit Slack's 3,000 characters each (a longer line is
    shortened by ``said``)."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= limit:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return chunks


def _sections(sections: tuple[tuple[str, tuple[str, ...]], ...]) -> list[Block]:
    """A mrkdwn section per titled group of lines (the lines made inert; none: no section)."""
    return [
        mrkdwn(title + "\n".join(inert(line) for line in lines))
        for title, lines in sections
        if lines
    ]

"""What a person is shown around the core's views, written once: every platform lays these words
out its own way (Block Kit, Adaptive Cards, the console) and none words them itself.  ``strong``
is the platform's emphasis (Slack's ``*…*``, Markdown's ``**…**``); plain text by default."""

from __future__ import annotations

from collections.abc import Callable

from bot.forms import GENERAL_COMMENT
from bot.views import HomeView, KudosItem, KudosPost, PulseCard, Receipt

Strong = Callable[[str], str]

GONE = "You've already answered this pulse, or it has closed. Thank you!"
NOT_KNOWN = (
    "I don't know you yet: your email isn't in this organisation's teams. "
    "Ask your manager or the teampulse admin to add you."
)
STALE_FORM = "This pulse form is out of date. Please open the pulse again from my message."
# the database could not be reached: nothing was saved or done, and the person may try again
NOT_SAVED = "Sorry, I couldn't save your answers just now. Please try again in a few minutes."
# the person's wait ran out while their answers' commit was under way: it can't be taken back,
# so they are told the truth and get the outcome after (bot/saving.py)
STILL_SAVING = (
    "Still saving your answers… this is taking longer than usual, so there's no need to send "
    "them again. Your receipt will replace the pulse once they're in. If they can't be saved "
    "after all, I'll tell you, so you can try again."
)
NOT_SAVED_AFTER_ALL = (
    "Sorry, I couldn't save your pulse answers after all. "
    "Please answer the pulse again in a few minutes."
)
KUDOS_NOT_SAVED = "Sorry, I couldn't save your kudos just now. Please try again in a few minutes."
UNAVAILABLE = (
    "Sorry, I can't reach my records just now, so I couldn't do that. "
    "Please try again in a few minutes."
)
WORKING = "Working on it… I'll send the report to our direct messages."

# the pulse: its message and its form
ANSWER_PULSE = "Answer the pulse"
PULSE_FORM = "Pulse check"
ANONYMOUS = "Anonymous: answers are stored with no link to you and shown only for groups."
COMMENT_LABEL = "Anything to add? (optional)"
COMMENT_HINT = (
    "Comments are shown to managers only for large groups, with no names, dates or order. "
    "Please don't name yourself or others."
)
ABOUT_LABEL = "About"
ABOUT_HINT = "General, or the statement your comment is about."

# the kudos form
KUDOS_FORM = "Give kudos"
KUDOS_SEND = "Send kudos"
KUDOS_TO = "Who?"
KUDOS_MESSAGE = "Your message"
KUDOS_VALUE = "Which of our values?"

# the home page
HOME_PULSES = "Your pulse"
NO_PULSE = "No pulse is waiting for you right now. I'll message you when the next one opens."
STREAK_PRIVATE = "Only you can see your streak. Your answers are never shown to anyone."
HOME_KUDOS = "Kudos"
RECEIVED = "Received"
GIVEN = "Given"
NONE_RECEIVED = "None yet."
NONE_GIVEN = "None yet: try `/kudos @name thanks… #value`."
LATEST_TRENDS = "Latest trends"
REPORT_IN_DM = "The report arrives in our direct messages."
MAX_KUDOS_SHOWN = 200  # a kudos message is shortened on the home page


def _plain(text: str) -> str:
    return text


def pulse_title(card: PulseCard) -> str:
    return f"{card.team} pulse check"


def pulse_notification(card: PulseCard) -> str:
    """A pulse message's one line (notifications, screen readers)."""
    title = "Reminder: your" if card.reminder else "Your"
    return f"{title} {card.team} pulse check (closes {card.closes_on})"


def statements(card: PulseCard, strong: Strong = _plain) -> str:
    return f"{strong(f'{len(card.questions)} statements')} (closes {card.closes_on})"


def about_choices(card: PulseCard) -> list[tuple[str, str]]:
    """(key, label) of what a comment may be about: General first (the default,
    ``GENERAL_COMMENT``), then each statement (its question id) by its theme, numbered when two
    share one."""
    themes = [question.theme for question in card.questions]
    return [(GENERAL_COMMENT, "General")] + [
        (
            question.id,
            question.theme + (f" ({number})" if themes[: number - 1].count(question.theme) else ""),
        )
        for number, question in enumerate(card.questions, 1)
    ]


def receipt_title(view: Receipt) -> str:
    return f"{view.team} pulse: answered"


def receipt_notification(view: Receipt) -> str:
    return f"Thank you, your {view.team} pulse is in."


def celebrated(giver: str, names: str, strong: Strong = _plain) -> str:
    """A kudos post's headline (``giver`` and ``names`` already made safe for the platform)."""
    return f"🎉 {strong(giver)} celebrated {strong(names)}"


def kudos_tag(post: KudosPost, strong: Strong = _plain) -> str:
    return f"{strong(f'#{post.value}')} · {post.value_label} · {post.day}"


def greeting(view: HomeView) -> str:
    return f"Hello, {view.name}" if view.name else "teampulse"


def home_pulse(card: PulseCard, strong: Strong = _plain) -> str:
    return (
        f"{strong(pulse_title(card))}: {len(card.questions)} statements, closes {card.closes_on}."
    )


def streak(count: int, strong: Strong = _plain) -> str:
    if count == 0:
        return "Answer your next pulse to start a streak."
    pulses = "pulse" if count == 1 else "pulses in a row"
    return f"You have answered your last {strong(str(count))} {pulses}. Thank you!"


def kudos_item(item: KudosItem, *, given: bool, strong: Strong = _plain) -> tuple[str, str]:
    """One kudos on the home page: who and what (from or to whom, the value, the day), and its
    message, shortened."""
    people = ", ".join(item.people) or "a colleague"
    head = f"{'To' if given else 'From'} {strong(people)} · #{item.value} · {item.day}"
    message = item.message
    if len(message) > MAX_KUDOS_SHOWN:
        message = message[: MAX_KUDOS_SHOWN - 1] + "…"
    return head, message

"""What a platform's forms need from the core: the limits its inputs state (a Slack input's
``max_length``), so the form and the core's one check agree, and the names of the fields the
core's ``FieldProblem`` values point at.  Adapters read them here, never from ``surveys/``.

``MAX_COMMENT`` and ``MAX_MESSAGE`` are the defaults; the limits in force are the settings
``TEAMPULSE_COMMENT_MAX_CHARS`` (a ``PulseCard``'s ``comment_max``) and
``TEAMPULSE_KUDOS_MAX_CHARS``, at most ``MAX_TEXT`` (what a Slack text input takes)."""

from __future__ import annotations

from surveys.forms import ABOUT, COMMENT, MESSAGE, PICK_ONE, RECIPIENTS, VALUE, FieldProblem
from surveys.recognition import MAX_MESSAGE
from surveys.responses import GENERAL as GENERAL_COMMENT
from surveys.responses import MAX_COMMENT
from surveys.rounds import MAX_ROUND_ID

MAX_TEXT = 3000

__all__ = [
    "ABOUT",
    "COMMENT",
    "GENERAL_COMMENT",
    "MAX_COMMENT",
    "MAX_MESSAGE",
    "MAX_ROUND_ID",
    "MAX_TEXT",
    "MESSAGE",
    "PICK_ONE",
    "RECIPIENTS",
    "VALUE",
    "FieldProblem",
]

"""What is wrong with a submitted form, field by field, in words a person understands.

The core checks every form once (a pulse card in ``surveys/responses.py``, kudos in
``bot/kudos.py``); a platform only marks its own input next to each ``FieldProblem.field``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# field names of a pulse card besides its question ids, and of the kudos form
COMMENT = "comment"
ABOUT = "about"  # which statement the comment is about (or General)
RECIPIENTS = "recipients"
MESSAGE = "message"
VALUE = "value"
PICK_ONE = "Please pick one answer."
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and line breaks are kept


def without_control(text: str) -> str:
    """A person's words without control characters: PostgreSQL refuses NUL in text (a 500, or a
    kudos lost after its form was accepted), and no one means to write a bell."""
    return _CONTROL.sub("", text)


@dataclass(frozen=True)
class FieldProblem:
    field: str  # a question id, or one of the names above
    text: str

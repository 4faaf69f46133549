"""What is wrong with a submitted form, field by field, in words a person understands.

The core checks every form once (a pulse card in ``surveys/responses.py``, kudos in
``bot/kudos.py``); a platform only marks its own input next to each ``FieldProblem.field``.
"""

from __future__ import annotations

from dataclasses import dataclass

# field names of a pulse card besides its question ids, and of the kudos form
COMMENT = "comment"
ABOUT = "about"  # which statement the comment is about (or General)
RECIPIENTS = "recipients"
MESSAGE = "message"
VALUE = "value"
PICK_ONE = "Please pick one answer."


@dataclass(frozen=True)
class FieldProblem:
    field: str  # a question id, or one of the names above
    text: str

"""What the web chat's API takes: its POST bodies as strict pydantic models, read from JSON with
bounds (``bot/json_input.py``: UTF-8, no lone surrogates, nesting at most 8 deep).  Strict: a
score is a JSON integer from 1 to 5 (``true`` is no score), a round id an integer the database can
hold.  A body that fails is a ``BadBody`` whose text says, in the chat's words, what to send."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from bot import json_input
from bot.forms import GENERAL_COMMENT, MAX_ROUND_ID

MAX_DEPTH = 8  # the deepest real body is 3 levels ({"answers": {id: score}})
Email = Annotated[str, StringConstraints(max_length=320)]
QuestionId = Annotated[str, StringConstraints(max_length=64)]
Score = Annotated[int, Field(strict=True, ge=1, le=5)]
RoundId = Annotated[int, Field(strict=True, ge=1, le=MAX_ROUND_ID)]


class Speaker(BaseModel):
    """Who is speaking (``"as"``: the web chat lets a visitor act as anyone)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    speaker: Email = Field(alias="as")


class ChatMessage(Speaker):
    text: str


class PulseAnswers(Speaker):
    """A pulse card's answers: at most one comment, about a statement's id or ``""`` (general)."""

    round_id: RoundId
    answers: dict[QuestionId, Score] = Field(max_length=20)
    comments: dict[QuestionId, str] = Field(default_factory=dict, max_length=1)


M = TypeVar("M", bound=Speaker)


class BadBody(ValueError):
    pass


def _reason(error: ValidationError) -> str:
    """The first problem, as the chat says it, with pydantic's own words after."""
    first = error.errors(include_url=False, include_input=False)[0]
    loc = first["loc"]
    field = str(loc[0]) if loc else ""
    if field == "as":
        said = 'say who you are with "as": an email'
    elif field == "text":
        said = '"text" must be a non-empty string'
    elif field == "round_id":
        said = f"round_id must be a whole number from 1 to {MAX_ROUND_ID}"
    elif field == "answers":
        said = "answers must be numbers 1-5, one per statement ({question: 1-5})"
    elif field == "comments" and first["type"] == "too_long":
        said = "a card has one comment: about one statement, or general"
    elif field == "comments" and len(loc) > 1 and loc[1] == GENERAL_COMMENT:
        said = 'a general comment (comments[""]) must be text'
    elif field == "comments":
        said = 'comments must be text, each about a statement\'s id or "" (general)'
    else:
        said = "send an object with the fields this call takes"
    where = ".".join(str(part) for part in loc)
    return f"{said} ({where}: {first['msg']})" if where else f"{said} ({first['msg']})"


def read(model: type[M], raw: bytes) -> M:
    """The body as ``model``, or ``BadBody`` saying why not."""
    try:
        data: Any = json_input.loads(raw, MAX_DEPTH)
    except json_input.BadJson as error:
        raise BadBody(f"the body must be JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadBody("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise BadBody(_reason(error)) from None

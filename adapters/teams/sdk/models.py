"""botbuilder's ``Activity`` from an activity's JSON, built directly when its shape is the usual
one, and by msrest's generic deserializer otherwise.

msrest's ``Model.deserialize`` walks every attribute of every model through its generic
machinery: a new ``Deserializer`` (which first lists every class of botbuilder's schema), key
extractors per attribute, a copied attribute description per attribute.  For a card's submission
that was an eighth to a sixth of the app's CPU per request (docs/performance.md, "Teams ingest").

``activity_of`` builds the same objects msrest would (the same classes, constructed with the same
keyword arguments, unknown keys in ``additional_properties``, ``object`` attributes copied,
timestamps as msrest reads them: Teams' UTC form by ``datetime``, with isodate's UTC, any other
by msrest's own reader), but only for what it knows to be plain: a
string attribute holding a string, a flag holding a bool, a model attribute holding an object of
plain attributes.  Anything else (a number where a string is expected, which msrest would turn
into text; a model it has no plan for; a bad timestamp) goes to msrest, so an activity comes out
exactly as it did, or fails as it did.  ``tests/test_teams_models.py`` holds the two side by side.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from botbuilder.schema import (
    Activity,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    ConversationReference,
    Entity,
)
from msrest.serialization import Deserializer, Model


class _Unusual(Exception):
    """A value the direct path does not build (msrest builds it)."""


def _copy(value: Any) -> Any:
    """msrest's ``deserialize_object`` on parsed JSON: a copy of every object and array."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Unusual  # (msrest would make text of it)
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Unusual  # (msrest reads 1, 0, "true" and "false" too)
    return value


# the form of Teams' timestamps (``2026-11-30T09:00:00.123Z``): read by ``datetime`` in a
# microsecond where msrest's reader (a regular expression, then isodate) takes about 50
UTC_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z", re.ASCII)
UTC = Deserializer.deserialize_iso("2026-01-01T00:00:00Z").tzinfo  # type: ignore[no-untyped-call]


def _when(value: Any) -> Any:
    if not isinstance(value, str):
        raise _Unusual
    if UTC_STAMP.fullmatch(value):
        try:  # (isodate's UTC, as msrest's reader gives; a 24th hour or a 0th year: msrest's)
            return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
        except ValueError:
            pass
    return Deserializer.deserialize_iso(value)  # type: ignore[no-untyped-call]


M = TypeVar("M", bound=Model)
Reader = Callable[[Any], Any]
BASIC: dict[str, Reader] = {"str": _text, "bool": _flag, "object": _copy, "iso-8601": _when}
# the models built directly; any other model type sends the activity to msrest
MODELS: tuple[type[Model], ...] = (
    Activity,
    ChannelAccount,
    ConversationAccount,
    Entity,
    Attachment,
    ConversationReference,
)


class _Plan:
    """How one model class is read: its attribute and reader for each JSON key it names."""

    def __init__(self, cls: type[Model]) -> None:
        self.cls = cls
        self.by_key: dict[str, tuple[str, Reader]] = {}
        for attr, description in cls._attribute_map.items():
            key, kind = description["key"], description["type"]
            if "." in key or not key:  # (msrest's flattened keys: never in these models)
                raise TypeError(f"{cls.__name__}.{attr} is not a plain key")
            self.by_key[key] = (attr, self._reader(kind))
        self.empty: dict[str, Any] = dict.fromkeys(cls._attribute_map)

    @staticmethod
    def _reader(kind: str) -> Reader:
        if kind in BASIC:
            return BASIC[kind]
        if kind.startswith("[") and kind.endswith("]"):
            item = _named(kind[1:-1])
            return (lambda value: _many(item, value)) if item else _unusual
        model = _named(kind)
        return (lambda value: _one(model, value)) if model else _unusual

    def build(self, data: Any) -> Model:
        """(A walk over the keys present: an activity names a dozen of its model's 42.)"""
        if not isinstance(data, dict):
            raise _Unusual
        attrs = self.empty.copy()
        extra = {}
        for key, value in data.items():
            step = self.by_key.get(key)
            if step is None:  # (msrest keeps what its model does not name, as it came)
                extra[key] = value
            elif value is not None:
                attrs[step[0]] = step[1](value)
        built = self.cls(**attrs)
        if extra:
            built.additional_properties = extra
        return built


def _unusual(_value: Any) -> Any:
    raise _Unusual


def _named(name: str) -> type[Model] | None:
    return next((cls for cls in MODELS if cls.__name__ == name), None)


def _one(cls: type[Model], value: Any) -> Model:
    return PLANS[cls].build(value)


def _many(cls: type[Model], value: Any) -> list[Model]:
    if not isinstance(value, list):
        raise _Unusual
    plan = PLANS[cls]
    return [plan.build(item) for item in value]  # (a null item is msrest's to read)


PLANS: dict[type[Model], _Plan] = {}
PLANS.update((cls, _Plan(cls)) for cls in MODELS)


def model_of(cls: type[M], data: Any) -> M:
    """``cls`` (one of ``MODELS``) for ``data`` (parsed JSON), as ``cls.deserialize`` makes it;
    raises what it raises."""
    try:
        built = PLANS[cls].build(data)
    except _Unusual:
        built = cls.deserialize(data)  # type: ignore[no-untyped-call]
    return cast(M, built)


def activity_of(body: dict[str, Any]) -> Activity:
    return model_of(Activity, body)

"""Bounded JSON (``bot/json_input.py``): the quick check of a body with no surrogate escape
refuses exactly what the full walk refuses (nesting past the bound, a lone surrogate)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.json_input import BadJson, loads, shape_problem

LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=6), st.sampled_from(["\ud800", "é"])
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


def verdict(text: str, max_depth: int) -> str | None:
    try:
        loads(text, max_depth)
    except BadJson as error:
        return str(error)
    return None


@given(VALUES, st.integers(min_value=1, max_value=6), st.booleans())
def test_loads_refuses_what_the_full_walk_refuses(
    value: Any, max_depth: int, ascii_only: bool
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert verdict(text, max_depth) == shape_problem(json.loads(text), max_depth)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": [[[1]]]}', "the JSON is nested deeper than 3 levels"),
        ('{"a": [[1]]}', None),
        ('{"a": "[[[{{ brackets in words are no nesting"}', None),
        ('[{"a": "[["}, [[[1]]]]', "the JSON is nested deeper than 3 levels"),
        (
            '{"a": "sad \\ud800 face"}',
            "the JSON holds a lone UTF-16 surrogate, which is no character",
        ),
        ('{"a": "\\ud83d\\ude00"}', None),
        ('{"\\uDC00": 1}', "the JSON holds a lone UTF-16 surrogate, which is no character"),
    ],
)
def test_depth_and_surrogates(text: str, problem: str | None) -> None:
    assert verdict(text, 3) == problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": NaN}', "NaN is not a JSON number"),
        ("[Infinity]", "Infinity is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
        ('\ufeff{"a": 1}', "the body is not valid JSON"),
        ('{"a": 1} trailing', "the body is not valid JSON"),
        ("1" * 5000, "the body is not valid JSON"),
        ("", "the body is not valid JSON"),
    ],
)
def test_what_is_not_json_is_refused_and_the_next_body_still_read(text: str, problem: str) -> None:
    assert verdict(text, 3) == problem
    assert loads('{"after": [1.5, "x"]}') == {"after": [1.5, "x"]}  # (one decoder for all)


@given(VALUES)
def test_loads_reads_what_json_reads(value: Any) -> None:
    text = json.dumps(value)
    if shape_problem(json.loads(text)) is None:
        assert loads(text) == json.loads(text)

"""Every log line's time is written exactly as ``logging.Formatter`` writes it, though its
``strftime`` runs once a second (``bot/logs.py``), in text and in JSON."""

from __future__ import annotations

import json
import logging

from hypothesis import given
from hypothesis import strategies as st

from bot.logs import TEXT_FORMAT, json_formatter, lean_records, log_handler

START = 1_790_000_000.0  # (2026)
# a run of lines: each a step forward in time, from a thousandth of a second to over a minute
LEAN = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")
STEPS = st.lists(st.floats(min_value=0.0001, max_value=90.0), min_size=1, max_size=40)


def record(created: float, message: str = "pulse answer recorded") -> logging.LogRecord:
    line = logging.LogRecord("bot.service", logging.INFO, __file__, 1, message, None, None)
    line.created, line.msecs = created, (created - int(created)) * 1000
    return line


@given(STEPS)
def test_a_text_line_has_the_time_the_standard_formatter_writes(steps: list[float]) -> None:
    ours = log_handler("text").formatter
    standard = logging.Formatter(TEXT_FORMAT)
    assert ours is not None
    created = START
    for step in steps:
        created += step
        assert ours.format(record(created)) == standard.format(record(created))


@given(STEPS)
def test_a_json_line_has_the_time_the_standard_formatter_writes(steps: list[float]) -> None:
    ours, standard = json_formatter(), logging.Formatter()
    created = START
    for step in steps:
        created += step
        line = json.loads(ours.format(record(created)))
        assert line["time"] == standard.formatTime(record(created))
        assert line["message"] == "pulse answer recorded" and line["level"] == "INFO"


def test_a_line_says_the_same_without_the_callers_place() -> None:
    """Records no longer carry the caller's file and line (nothing shows them): the lines
    written are the same, arguments and extra fields included."""
    kept = {name: getattr(logging, name) for name in LEAN}
    lean_records()
    try:
        for kind in ("text", "json"):
            logger = logging.getLogger(f"tests.lean.{kind}")
            logger.propagate = False
            stream = _Lines()
            handler = log_handler(kind, stream)  # type: ignore[arg-type]
            logger.addHandler(handler)
            logger.warning("round %s: %d answers", 12, 5, extra={"round_id": 12})
            logger.removeHandler(handler)
            [line] = stream.lines
            assert "round 12: 5 answers" in line and "WARNING" in line
            if kind == "json":
                assert json.loads(line)["round_id"] == 12
    finally:
        for name, value in kept.items():  # (as the rest of the tests' process had them)
            setattr(logging, name, value)


class _Lines:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines += [line for line in text.splitlines() if line]

    def flush(self) -> None:
        return None

"""The question bank (``questions.yaml``) and how a round's questions are planned.

Planning rules:

* each team cycles through its question set in order, so a person sees every question before any
  repeats;
* everyone in a team gets the same statements in a round (one group).  ``plan_round`` can plan
  several groups, but a card's statements would then tell its group, and with the participation
  record a group's few respondents could be told apart, so the service asks for one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel

BANK_FILE = Path(__file__).with_name("questions.yaml")


class Theme(BaseModel):
    id: str
    name: str


class BankQuestion(BaseModel):
    id: str
    theme: str
    text: str
    source: str
    reverse: bool = False
    advocacy: bool = False


class Bank(BaseModel):
    version: int
    themes: list[Theme]
    questions: list[BankQuestion]

    def theme_name(self, theme_id: str) -> str:
        return next((t.name for t in self.themes if t.id == theme_id), theme_id)

    def question(self, question_id: str) -> BankQuestion:
        return next(q for q in self.questions if q.id == question_id)


# libyaml's safe loader when PyYAML has it: the bank loads at every start, 5x faster (20 ms less)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def load_bank(path: Path = BANK_FILE) -> Bank:
    return Bank.model_validate(yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER))


def interleave_by_theme(questions: list[BankQuestion]) -> list[str]:
    """Order question ids so consecutive questions come from different themes."""
    by_theme: dict[str, list[str]] = {}
    for question in questions:
        by_theme.setdefault(question.theme, []).append(question.id)
    ordered: list[str] = []
    while any(by_theme.values()):
        for ids in by_theme.values():
            if ids:
                ordered.append(ids.pop(0))
    return ordered


@dataclass(frozen=True)
class RoundPlan:
    """Question ids per group for one round; ``groups[i]`` is asked of question group ``i``."""

    groups: list[list[str]]


def plan_round(cycle: list[str], sequence: int, per_pulse: int, groups: int) -> RoundPlan:
    """Group ``g`` in round ``sequence`` gets the window starting at slot ``(sequence + g)``.

    Each group steps one window per round, so it walks the whole cycle before any question repeats;
    groups in the same round start on different windows, so they get different questions.
    """
    if not cycle:
        raise ValueError("the question set is empty")
    per_pulse = max(1, min(per_pulse, len(cycle)))
    windows = -(-len(cycle) // per_pulse)
    plan: list[list[str]] = []
    for group in range(groups):
        start = ((sequence + group) % windows) * per_pulse
        plan.append([cycle[(start + i) % len(cycle)] for i in range(per_pulse)])
    return RoundPlan(groups=plan)

"""A comment's mood (TextBlob's polarity) is worked out by the request that sent it, before its
card joins the group commit: the process's first comment loads TextBlob's lexicon (held here for
as long as a test likes), and only the person who wrote it waits for that, never the cards
committed with it.  The polarity is TextBlob's own, to the last bit, without importing TextBlob's
package (NLTK, NumPy and SciPy: seconds and 95 MB, ``surveys/mood.py``)."""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Iterator, Sequence
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import text

from bot.service import TeamPulse
from bot.settings import Settings
from bot.views import PulseCard, Receipt
from storage.engine import Database
from surveys import lazy, mood
from surveys.responses import sentiment_of
from tests.support import answers_for, email, make_service

GUARD = 30.0  # seconds: only so that a broken build fails instead of hanging; nothing is timed


class HeldImport(importlib.abc.MetaPathFinder):
    """Holds the import of one module until released: its first load, as slow as we like."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.entered = threading.Event()
        self.released = threading.Event()

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name == self.module:
            self.entered.set()
            self.released.wait(GUARD)
        return None  # (the usual finders then import it)


@pytest.fixture
def held_textblob(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldImport]:
    """This process has not loaded TextBlob's lexicon yet, and its first load waits for
    ``released`` (finding TextBlob's files is held, as a slow disk or a busy machine would)."""
    held = HeldImport("textblob")
    monkeypatch.delitem(sys.modules, "textblob", raising=False)  # (put back afterwards)
    monkeypatch.setattr(mood, "_scorer", None)
    sys.meta_path.insert(0, held)
    try:
        yield held
    finally:
        held.released.set()
        sys.meta_path.remove(held)


async def card_of(service: TeamPulse, person: str) -> PulseCard:
    [card] = await service.pending_pulses(email(person))
    return card


async def column(db: Database, sql: str) -> list[tuple[object, ...]]:
    async with db.engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(text(sql))]


async def test_a_card_without_a_comment_is_saved_while_the_first_comment_loads_the_library(
    db: Database, settings: Settings, held_textblob: HeldImport
) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    commenter, other = await card_of(service, "a0"), await card_of(service, "a1")
    commenting = asyncio.create_task(
        service.submit_pulse(
            email("a0"), commenter.round_id, answers_for(commenter), general_comment="Calmer"
        )
    )
    assert await asyncio.to_thread(held_textblob.entered.wait, GUARD)  # TextBlob is loading

    reply = await asyncio.wait_for(
        service.submit_pulse(email("a1"), other.round_id, answers_for(other)), GUARD
    )
    assert isinstance(reply, Receipt)
    assert not commenting.done()  # the commenter is still waiting for the library
    assert len(await column(db, "SELECT DISTINCT submission_id FROM response")) == 1

    held_textblob.released.set()
    assert isinstance(await asyncio.wait_for(commenting, GUARD), Receipt)
    assert len(await column(db, "SELECT DISTINCT submission_id FROM response")) == 2
    assert await column(db, "SELECT comment, sentiment FROM general_comment") == [
        ("Calmer", pytest.approx(sentiment_of("Calmer")))
    ]


async def test_the_stored_polarity_is_that_of_the_stored_words(
    db: Database, settings: Settings
) -> None:
    service, _ = await make_service(db, settings)
    await service.open_round(await service.team_named("Ward A"))
    card = await card_of(service, "a0")
    about = card.questions[0].id
    tied, general = "Short\x07 staffed, awful nights ", "Great support from the new lead"
    reply = await service.submit_pulse(
        email("a0"),
        card.round_id,
        answers_for(card),
        comments={about: tied},
        general_comment=general,
    )
    assert isinstance(reply, Receipt)

    stored = await column(db, "SELECT comment, sentiment FROM response WHERE comment IS NOT NULL")
    words = "Short staffed, awful nights"  # (control characters and edge spaces removed)
    assert stored == [(words, pytest.approx(sentiment_of(words)))]
    assert sentiment_of(words) < 0  # (the words carry a mood: the check above is not 0 == 0)
    assert await column(db, "SELECT comment, sentiment FROM general_comment") == [
        (general, pytest.approx(sentiment_of(general)))
    ]
    assert sentiment_of(general) > 0
    unscored = await column(db, "SELECT sentiment FROM response WHERE comment IS NULL")
    assert unscored and all(value == (None,) for value in unscored)


MOODS = [
    "Brilliant support from the whole team this week, thank you",
    "Short staffed, awful nights",
    "Handover ran late again but the team pulled together",
    "not good at all!!",
    "I don't feel valued, not even a little",
    "Very very happy :) but so tired",
    "TERRIBLE rota. Never again?",
    "ok",
    "",
    "😀 great day on the ward",
    "Calmer",
    "Les infirmières sont formidables",
]


@pytest.mark.parametrize("words", MOODS)
def test_a_comments_polarity_is_textblobs_own(words: str) -> None:
    """The stored polarity is what ``TextBlob(words).sentiment.polarity`` gives, exactly: the
    lexicon's scorer is asked directly (without TextBlob's analyser's per-call named tuple), and
    a report's moods must not move because of it."""
    textblob = lazy.load("textblob")
    assert sentiment_of(words) == textblob.TextBlob(words).sentiment.polarity


# Words the lexicon scores, with what changes a score: negations, intensifiers, the adverbs
# built from adjectives ("terribly"), emoticons, punctuation and unknown words
SCORED = ["good", "great", "awful", "terrible", "happy", "tired", "valued", "calm", "safe"]
TURNS = ["not", "never", "no", "n't", "very", "really", "terribly", "brilliantly", "angrily"]
MARKS = ["!", "!!", "?", ".", ":)", ":(", ";-)", "<3", "..."]
OTHER = ["the", "ward", "rota", "handover", "Tuesday", "staff", "nights", "team", "NHS"]


@examples(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(SCORED + TURNS + MARKS + OTHER),
            st.sampled_from(SCORED).map(str.upper),
            st.text(max_size=6),
        ),
        max_size=14,
    )
)
def test_any_comments_polarity_is_textblobs_own(words: list[str]) -> None:
    """Mixed words, cases, negations and marks: still exactly TextBlob's polarity."""
    text_ = " ".join(words)
    assert sentiment_of(text_) == lazy.load("textblob").TextBlob(text_).sentiment.polarity


def test_the_lexicon_knows_the_adverbs_textblob_adds() -> None:
    """``textblob.en`` adds an adverb for each adjective ("brilliantly" for "brilliant",
    "angrily" for "angry"), which its lexicon file lacks: without them these would score 0."""
    for words in ("Handled brilliantly", "spoke angrily", "badly organised shift"):
        assert sentiment_of(words) != 0
        assert sentiment_of(words) == lazy.load("textblob").TextBlob(words).sentiment.polarity

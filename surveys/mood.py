"""A comment's mood: TextBlob's polarity, scored without importing TextBlob's package.

``TextBlob(text).sentiment.polarity`` is the English lexicon scorer of ``textblob/_text.py``
(pattern's code, which imports only the standard library) reading ``textblob/en/en-sentiment.xml``,
set up by ``textblob/en/__init__.py``.  Importing it through the ``textblob`` package also
imports NLTK, and with it NumPy and SciPy: 2.1 s of CPU and 95 MB on a slow machine, paid by a
server at its first comment (whose author, on a busy server, could wait past the submission's
bound and be asked to send it again).  Loading that one file as a module of its own, and setting
the scorer up as ``textblob/en`` does, takes about 0.1 s and 5 MB, its lexicon included.
``tests/test_comment_moods.py`` holds the result equal to TextBlob's own polarity, so an upgrade
of TextBlob that moves either fails there (the lock file pins it).
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

_LOCK = threading.Lock()
_scorer: Any = None  # (TextBlob ships no types)


def _pattern_text(package: Path) -> ModuleType:
    """``textblob/_text.py``, executed as a module of its own (not ``textblob._text``, whose
    import would run the package's ``__init__`` and NLTK's)."""
    spec = importlib.util.spec_from_file_location("teampulse_pattern_text", package / "_text.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"TextBlob's lexicon code is missing from {package}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _english(pattern: ModuleType, lexicon: Path) -> Any:
    """The scorer ``textblob.en.sentiment``, set up the same way: its lexicon, loaded now, with
    each adjective's adverb ("terrible" gives "terribly"), as ``textblob.en.Sentiment.load``
    adds them."""
    scorer = pattern.Sentiment(
        path=str(lexicon),
        synset="wordnet_id",
        negations=("no", "not", "n't", "never"),
        modifiers=("RB",),
        modifier=lambda word: word.endswith("ly"),
        language="en",
    )
    pattern.Sentiment.load(scorer)
    for word, tags in list(dict.items(scorer)):
        if "JJ" in tags:
            if word.endswith("y"):
                word = word[:-1] + "i"
            if word.endswith("le"):
                word = word[:-2]
            polarity, subjectivity, intensity = tags["JJ"]
            scorer.annotate(word + "ly", "RB", polarity, subjectivity, intensity)
    return scorer


def _load() -> Any:
    global _scorer
    with _LOCK:
        if _scorer is None:
            found = importlib.util.find_spec("textblob")  # (finds the package, runs none of it)
            if found is None or found.origin is None:
                raise ImportError("TextBlob is not installed")
            package = Path(found.origin).parent
            _scorer = _english(_pattern_text(package), package / "en" / "en-sentiment.xml")
            if gc.get_freeze_count():  # (a server froze its start-up: its ~9,000 objects too,
                gc.freeze()  # as ``surveys/lazy.py`` freezes a late import's)
        return _scorer


def polarity(text: str) -> float:
    """TextBlob's polarity of ``text``, in [-1, 1]: ``TextBlob(text).sentiment.polarity``."""
    return float(_load()(text)[0])


def ready() -> bool:
    """Whether the scorer is loaded (``polarity`` then never reads a file)."""
    return _scorer is not None


async def prepare() -> None:
    """Load the scorer in a thread the first time (its lexicon's XML takes a tenth of a second),
    so the event loop does not wait on it."""
    if _scorer is None:
        await asyncio.to_thread(_load)

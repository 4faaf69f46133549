"""Anonymity rules: participation digests and the minimum group sizes.

See docs/anonymity.md for the reasons behind each rule.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


def participation_digest(secret: bytes, round_id: int, person_id: int) -> str:
    """Keyed hash of (round, person): answers "has this person answered this round?" only."""
    message = f"participation:{round_id}:{person_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def parse_digests(stored: str) -> set[str]:
    return {digest for digest in stored.split(",") if digest}


def format_digests(digests: set[str]) -> str:
    """Stored sorted, so the set's text reveals nothing about who answered first."""
    return ",".join(sorted(digests))


@dataclass(frozen=True)
class Thresholds:
    min_group: int = 5
    min_comment_group: int = 10

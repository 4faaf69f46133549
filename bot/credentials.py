"""The keys that seal stored credentials (``storage/sealed.py``; docs/security.md, "Credentials
at rest").

``TEAMPULSE_ENCRYPTION_KEYS``: Fernet keys, comma-separated, newest first; the newest seals, every
one opens.  Unset, one key is derived from ``TEAMPULSE_SECRET`` with HKDF-SHA256 under a label of
its own, so a deployment is sealed with no extra set-up; the derived key stays last in the list
(open only) once keys are set, so moving to set keys needs nothing but ``teampulse secrets
rotate``.  ``TEAMPULSE_SECRET`` itself can never change (it keys the participation hashes), which
is why rotation goes through keys of their own.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.settings import Settings
from storage.sealed import Resealed, Sealer, reseal, seal_columns

__all__ = ["Resealed", "Sealer", "reseal", "seal_columns", "sealer"]

DERIVATION_LABEL = b"teampulse/credentials-at-rest/v1"
KEYS_VARIABLE = "TEAMPULSE_ENCRYPTION_KEYS"


def derived_key(secret: bytes) -> bytes:
    """A Fernet key from ``TEAMPULSE_SECRET``: HKDF under its own label, so it is independent of
    the participation hashes' use of the same secret."""
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=DERIVATION_LABEL).derive(secret)
    return base64.urlsafe_b64encode(key)


def listed_keys(settings: Settings) -> list[bytes]:
    """``TEAMPULSE_ENCRYPTION_KEYS`` as keys, newest first."""
    raw = settings.encryption_keys_raw or ""
    return [item.strip().encode() for item in raw.split(",") if item.strip()]


def key_problems(settings: Settings) -> list[str]:
    """What is wrong with ``TEAMPULSE_ENCRYPTION_KEYS`` (by position, never by value)."""
    problems = []
    for position, key in enumerate(listed_keys(settings), start=1):
        try:
            valid = len(base64.urlsafe_b64decode(key)) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            problems.append(
                f"{KEYS_VARIABLE}: key {position} is not a Fernet key (32 bytes in url-safe "
                "base64; make one with `teampulse secrets new-key`)."
            )
    return problems


def sealer(settings: Settings, secret: bytes) -> Sealer:
    """The keys in use: those set (newest first), then the one derived from ``secret``."""
    return Sealer([*listed_keys(settings), derived_key(secret)])

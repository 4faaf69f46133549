"""No secret in a log line (docs/security.md, "No secret in logs or replies").

``SecretFilter`` sits on the log handler (``bot/logs.py``), so it sees every record, whichever
logger wrote it and at whatever level an operator turned on: a message, its arguments and any
traceback are rendered, and each secret in them is replaced by ``[redacted]``.  Secrets are:
the settings' own (``remember(settings)`` at start-up: Slack's bot and app tokens, signing and
client secrets, the Microsoft app password, ``TEAMPULSE_SECRET``, the metrics token, the sealing
keys), and anything shaped like a Slack token (``xox…-``, ``xapp-``: the tokens workspaces give
over OAuth are known only at run time) or a bearer credential.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

REDACTED = "[redacted]"
# Slack's tokens (bot, user, app, configuration, refresh, legacy workspace) and an HTTP bearer
_SHAPES = re.compile(
    r"\bxox[a-z]{1,2}[.-][A-Za-z0-9.-]+|\bxapp-[A-Za-z0-9-]+|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
)
_KNOWN: set[str] = set()
_LONGEST_FIRST: list[str] = []  # ``_KNOWN``, sorted once per ``remember`` (not per log line)
SHORTEST = 8  # a shorter setting can't be told from ordinary words, and isn't a real secret


def remember(settings: Settings) -> None:
    """Redact this configuration's secret values from now on."""
    values: Iterable[str | None] = (
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.slack_client_secret,
        settings.microsoft_app_password,
        settings.secret,
        settings.metrics_token,
        *(settings.encryption_keys_raw or "").split(","),
    )
    _KNOWN.update(v.strip() for v in values if v and len(v.strip()) >= SHORTEST)
    _LONGEST_FIRST[:] = sorted(_KNOWN, key=len, reverse=True)


def redact(text: str) -> str:
    for value in _LONGEST_FIRST:
        if value in text:
            text = text.replace(value, REDACTED)
    return _SHAPES.sub(REDACTED, text)


class SecretFilter(logging.Filter):
    """Renders each record's message (and traceback) with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format: keep the raw pieces, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True

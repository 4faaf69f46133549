"""The core's limits that a platform's forms also state (a Slack input's ``max_length``), so the
form and the core's one check agree.  Adapters read them here, never from ``surveys/``."""

from __future__ import annotations

from surveys.recognition import MAX_MESSAGE
from surveys.responses import MAX_COMMENT

__all__ = ["MAX_COMMENT", "MAX_MESSAGE"]

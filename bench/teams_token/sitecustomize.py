"""Bench only: ``bench/teams_ingest.py`` puts this directory first on the app server's
``PYTHONPATH`` (Python imports ``sitecustomize`` at start-up, in every worker too).

A reply to Teams carries the bot's own Azure AD token, which botbuilder asks
login.microsoftonline.com for (through MSAL); that service is out of reach here.  With
``TEAMPULSE_BENCH_APP_TOKEN`` set, the token is that fixed string instead (the fake Bot Connector
doesn't check it), and the process counts how often a token was asked for and how many credential
objects botbuilder made, written to ``TEAMPULSE_BENCH_TOKEN_LOG.<pid>`` when it exits: production
does a token request for each credential object whose token is not cached.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

_TOKEN = os.environ.get("TEAMPULSE_BENCH_APP_TOKEN")

if _TOKEN:
    from botframework.connector.auth import MicrosoftAppCredentials

    _counts = {"token_requests": 0, "credentials": 0}
    _init = MicrosoftAppCredentials.__init__

    def _counted_init(self: Any, *args: Any, **kwargs: Any) -> None:
        _counts["credentials"] += 1
        _init(self, *args, **kwargs)

    def _fixed_token(self: Any, force_refresh: bool = False) -> str:
        _counts["token_requests"] += 1
        return str(_TOKEN)

    def _write_counts() -> None:
        log = os.environ.get("TEAMPULSE_BENCH_TOKEN_LOG")
        if log:
            with open(f"{log}.{os.getpid()}", "w") as out:
                out.write(f"{_counts['token_requests']} {_counts['credentials']}\n")

    MicrosoftAppCredentials.__init__ = _counted_init
    MicrosoftAppCredentials.get_access_token = _fixed_token
    atexit.register(_write_counts)

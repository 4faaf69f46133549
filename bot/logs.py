"""Logging set-up.  Database drivers log SQL *with parameters* at DEBUG (an email in a lookup, a
comment in an insert), so their loggers are pinned at WARNING whatever the verbosity: a log must
never put a person beside an answer (DESIGN.md invariant 1)."""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

# The Slack SDKs log whole requests and responses at DEBUG (a user id beside a modal's answers).
PARAMETER_LOGGERS = (
    "aiosqlite",
    "asyncpg",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "slack_bolt",
    "slack_sdk",
)


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # APScheduler logs every run of every job at INFO: keep the log for what matters.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log, with the method, the path, the status, the size and the time taken
    only.  No query string (the local web chat's ``?as=`` names a person, and its requests sit
    next to pulse submissions), no client address, no referrer, no user agent."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '"%s %s" %s %s %.3fs',
            request.method,
            request.path,
            response.status,
            response.body_length,
            time,
        )

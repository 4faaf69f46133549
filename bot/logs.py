"""Logging set-up.  Database drivers log SQL *with parameters* at DEBUG (an email in a lookup, a
comment in an insert), so their loggers are pinned at WARNING whatever the verbosity: a log must
never put a person beside an answer (DESIGN.md invariant 1).

``TEAMPULSE_LOG_FORMAT=json`` writes one JSON object a line (python-json-logger) instead of text.
Every line written while a request is handled carries its request id (``request_id``): the
``X-Request-Id`` the request came with when it looks like an id, else a new random one.  The id
joins a request's lines only: the lines themselves never name a person beside an answer, so
joining them doesn't either (tests/test_json_logs.py).
"""

from __future__ import annotations

import logging
import os
import re
import time
from contextvars import ContextVar
from typing import Any, TextIO

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler
from aiohttp.web import BaseRequest, StreamResponse
from pythonjsonlogger.json import JsonFormatter

from bot.redact import SecretFilter

# The Slack SDKs log whole requests and responses at DEBUG (a user id beside a modal's answers).
PARAMETER_LOGGERS = (
    "aiosqlite",
    "asyncpg",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "slack_bolt",
    "slack_sdk",
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message", "request_id")

REQUEST_ID_HEADER = "X-Request-Id"
# a proxy's id (a UUID, a hex or base64 token); never an email (no "@"), never a long text
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
_REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_REQUEST_KEY: web.RequestKey[str] = web.RequestKey("request_id", str)


def configure_logging(verbose: bool = False, log_format: str | None = None) -> None:
    """Log to standard error as text or JSON (``TEAMPULSE_LOG_FORMAT``, read here when not
    given, so a spawned worker logs as its parent does)."""
    log_format = log_format or _configured_format()
    lean_records()
    handler = log_handler(log_format)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for name in PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # APScheduler logs every run of every job at INFO: keep the log for what matters.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)


def log_handler(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """The handler every line goes through: the request id added, secrets redacted
    (``bot/redact.py``), as text or JSON."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(SecretFilter())
    handler.setFormatter(json_formatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    return handler


def lean_records() -> None:
    """Leave out of every log record what no line of ours shows (the logging HOWTO's
    "Optimization"): the caller's file, line and function (found by walking the stack), the
    thread and the process.  Two lines per answer (the access log, "pulse answer recorded")
    spent about a fifth of their CPU on those (docs/performance.md, "Statements built once")."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class SecondsOnce(logging.Formatter):
    """``asctime`` exactly as ``logging.Formatter`` writes it, with its ``strftime`` done once a
    second rather than once a line (a third of a line's formatting)."""

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt or not self.default_msec_format:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if int(record.created) != second:
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (int(record.created), text)
        return self.default_msec_format % (text, record.msecs)


class TextFormatter(SecondsOnce):
    """The text lines' formatter (``TEXT_FORMAT``)."""


class JsonLines(SecondsOnce, JsonFormatter):
    """The JSON lines' formatter (``TEAMPULSE_LOG_FORMAT=json``)."""


def gunicorn_logconfig(log_format: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict`` (``TEAMPULSE_WORKERS`` above 1, bot/workers.py): its own
    loggers (``gunicorn.error``: starting, a worker booted or died, signals; ``gunicorn.access``,
    unused: the workers' access log is ``AccessLogger``) write through the root logger's one
    handler, made as ``configure_logging`` makes it, so each event is one line in the same
    format.  Without it gunicorn writes text lines of its own, and replaces the root handler
    with one on standard output."""
    lean_records()
    root = logging.getLogger()
    return {
        "version": 1,
        "disable_existing_loggers": False,  # (the loggers pinned at WARNING stay so)
        "formatters": {},
        "handlers": {"teampulse": {"()": log_handler, "log_format": log_format}},
        "root": {"level": logging.getLevelName(root.level), "handlers": ["teampulse"]},
        "loggers": {
            name: {"level": "INFO", "handlers": [], "propagate": True}
            for name in ("gunicorn.error", "gunicorn.access")
        },
    }


def _configured_format() -> str:
    from bot.settings import Settings

    try:
        return Settings().log_format
    except ValueError:  # the command that reads the settings reports the problem
        return os.environ.get("TEAMPULSE_LOG_FORMAT", "text")


def json_formatter() -> logging.Formatter:
    return JsonLines(
        JSON_FIELDS,
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        json_ensure_ascii=False,
    )


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record: the request being handled, or None outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _REQUEST_ID.get()
        return True


def current_request_id() -> str | None:
    return _REQUEST_ID.get()


def request_id_of(request: BaseRequest) -> str:
    """The id given to ``request`` by ``request_ids`` (a new one if it never ran)."""
    return request.get(_REQUEST_KEY) or _new_id()


def _new_id() -> str:
    """A new random request id: 32 hex digits, as ``uuid4().hex`` (without building a UUID)."""
    return os.urandom(16).hex()


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> StreamResponse:
    """Name the request for the log lines written while it is handled, and tell the client."""
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = offered if _SANE_ID.fullmatch(offered) else _new_id()
    request[_REQUEST_KEY] = request_id
    token = _REQUEST_ID.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as error:
        error.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        _REQUEST_ID.reset(token)
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log, with the method, the path, the status, the size, the time taken
    and the request id only.  No query string (the local web chat's ``?as=`` names a person, and
    its requests sit next to pulse submissions), no client address, no referrer, no user agent."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        request_id = request_id_of(request)
        self.logger.info(
            '"%s %s" %s %s %.3fs',
            request.method,
            request.path,
            response.status,
            response.body_length,
            time,
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "size": response.body_length,
                "seconds": round(time, 3),
            },
        )

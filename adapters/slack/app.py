"""The gate in front of Bolt on ``POST /slack/events``: the one signature check and a payload shape
check (a bad request gets 401 or 400, never a 500, and nothing runs), then the hand-over to Bolt's
side (``bolt.py``, loaded after start); and the Web API client."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import payloads
from adapters.slack.pacing import PacedClient, PacedRateLimitRetry, Pacer
from bot import json_input
from bot.settings import Settings

if TYPE_CHECKING:  # (Bolt loads after start: on_demand.py)
    from adapters.slack.on_demand import OnDemandBolt

log = logging.getLogger(__name__)

ENVELOPES = set(payloads.ENVELOPES)
# Slack's largest payloads are a Home tab or message click carrying the whole view or message
# (Slack caps a message at 40,000 characters of text and 50 blocks, a view at 100 blocks); the
# bot's own are under 20 KB
MAX_BODY = 128 * 1024
NO_RETRY = {"X-Slack-No-Retry": "1"}
PLATFORM = "slack"  # the platform name of its event ids in ``inbound_event``


class ConnectionRetryNotPosts(AsyncConnectionErrorRetryHandler):
    """slack_sdk's retry of a call whose connection failed, except ``chat.postMessage``: a
    connection dropped after Slack posted would post the pulse twice.  A post whose answer is
    lost is checked against the DM's history instead (``SlackMessenger``, the outbox)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.rstrip("/").endswith("/chat.postMessage"):
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


def client_options(settings: Settings, pacer: Pacer) -> dict[str, Any]:
    """The Web API base (``SLACK_API_URL``, for every call, ``oauth.v2.access`` included), the
    process's pacer and the retry handlers (connection errors, never for a post; a 429 pauses
    its workspace's method, ``adapters/slack/pacing.py``)."""
    base_url = settings.slack_api_url
    if not base_url.endswith("/"):
        base_url += "/"
    return {
        "base_url": base_url,
        "pacer": pacer,
        "retry_handlers": [ConnectionRetryNotPosts(), PacedRateLimitRetry(pacer)],
    }


def web_client(settings: Settings, token: str | None, pacer: Pacer) -> AsyncWebClient:
    return PacedClient(token=token, **client_options(settings, pacer))


class BadRequest(Exception):
    pass


def form_of(body: str) -> dict[str, str]:
    """A form body's fields, as ``dict(parse_qsl(body, keep_blank_values=True))`` reads them.

    ``parse_qsl`` decodes ``%XX`` in Python, one escape at a time: for an interaction's
    ``payload`` (a kilobyte of JSON, a third of it escaped) that was most of the gate's CPU.  The
    usual body, ASCII with no backslash, a well-formed escape after every ``%``, is decoded by the
    codec machinery in C instead (``%XX`` becomes ``\\xXX``, read as bytes, then as UTF-8, a bad
    sequence replaced as ``parse_qsl`` does); any other body is left to ``parse_qsl``."""
    if body.isascii() and "\\" not in body:
        try:
            return {
                _unquote_plus(name): _unquote_plus(value)
                for name, _, value in (field.partition("=") for field in body.split("&") if field)
            }
        except UnicodeDecodeError:  # a ``%`` not followed by two hex digits
            pass
    return dict(parse_qsl(body, keep_blank_values=True))


def _unquote_plus(text: str) -> str:
    escaped = text.replace("+", " ").replace("%", "\\x").encode("ascii")
    return escaped.decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def payload_of(body: str, content_type: str | None) -> dict[str, Any]:
    """The request's payload (JSON by ``content_type`` as Bolt reads it, or a form: an
    interaction's ``payload`` field, else a slash command), its JSON bounded
    (``bot/json_input.py``) and its shape checked (``payloads.py``); ``BadRequest`` with a reason
    otherwise."""
    try:
        if content_type == "application/json" or body.startswith("{"):
            return payloads.check_envelope(json_input.loads(body))
        form = form_of(body)
        if "payload" in form:  # (Bolt would read any body *mentioning* "payload" as one)
            return payloads.check_interaction(json_input.loads(form["payload"]))
        if form.get("ssl_check"):
            return form
        return payloads.check_command(form)
    except (json_input.BadJson, payloads.ShapeError) as error:
        raise BadRequest(str(error)) from None


def build_normalized_headers(headers: dict[str, str]) -> dict[str, list[str]]:
    """Bolt's ``build_normalized_headers`` for a request's headers (names lower-cased, each value
    a list), here so that the gate imports no Bolt module."""
    return {name.lower(): [value] for name, value in headers.items()}


def media_type(content_type: str | None) -> str | None:
    """Bolt's ``extract_content_type`` of a ``Content-Type`` header: the media type, without
    its parameters.  (The headers are normalised for Bolt only when it dispatches.)"""
    return content_type.split(";")[0] if content_type else None


def _error(status: int, reason: str) -> web.Response:
    """A refusal; ``X-Slack-No-Retry``: the same request would be refused again."""
    return web.json_response({"error": reason}, status=status, headers=NO_RETRY)


def _not_served(workspace: str, payload: dict[str, Any]) -> web.Response:
    """A signed request from a workspace not served: an event is dropped (acked, so Slack
    doesn't retry it); anything a person did (a command, a button) gets 403."""
    log.warning("Slack request from workspace %s ignored: not served", workspace[:32])
    if payload.get("type") in ENVELOPES:
        return web.Response(status=200, headers={"X-Slack-No-Retry": "1"})
    return _error(403, "this Slack workspace is not served here")


class SlackGate:
    """The aiohttp handler for ``POST /slack/events``."""

    def __init__(
        self,
        bolt: OnDemandBolt,
        signing_secret: str,
        served: frozenset[str] = frozenset(),
    ) -> None:
        self.bolt = bolt  # Bolt, the listeners and the pulse form's fast path (after start)
        self.verifier = SignatureVerifier(signing_secret)
        self.served = served  # the workspaces served (empty: the one the bot token is for)

    def verified(self, body: str, request: web.Request) -> bool:
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not (timestamp.isascii() and timestamp.isdigit()) or not signature:
            return False
        return self.verifier.is_valid(body=body, timestamp=timestamp, signature=signature)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _error(400, "the body is not UTF-8")
        if not self.verified(body, request):
            return _error(401, "invalid request")
        try:
            payload = payload_of(body, media_type(request.headers.get("Content-Type")))
        except BadRequest as error:
            return _error(400, str(error))
        bolt = await self.bolt.side()  # (loaded after start: waits for it only until then)
        refused = bolt.refused_workspace(payload, self.served) if self.served else None
        if refused is not None:
            return _not_served(refused, payload)
        if payloads.ignored_event(payload):  # (acked: Slack retries an event refused)
            return web.Response(status=200, headers=NO_RETRY)
        if bolt.fast is not None and bolt.fast.takes(payload):
            return await bolt.fast.handle(payload)
        headers = build_normalized_headers({str(k): v for k, v in request.headers.items()})
        return await bolt.dispatch(payload, request.query_string, headers)

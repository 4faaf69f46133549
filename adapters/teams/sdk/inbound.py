"""Inbound, at the SDK boundary: an HTTP request becomes an authenticated ``Turn`` (or a 401 / 400
response), and a ``Turn`` answers in its conversation."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import jwt
from aiohttp import web
from azure.core.exceptions import DeserializationError
from botbuilder.core import MessageFactory, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, CallerIdConstants, ErrorResponseException, TextFormatTypes
from botframework.connector.auth import AuthenticationConstants
from msrest.exceptions import ClientRequestError, HttpOperationError

from adapters.teams.activity import Activity as InboundActivity
from adapters.teams.sdk.auth import Authentication
from adapters.teams.sdk.errors import ConnectorError
from adapters.teams.sdk.models import activity_of
from bot import json_input
from bot.settings import Settings

log = logging.getLogger(__name__)

MAX_DEPTH = 64  # an activity's nesting (a card's value, entities): real ones are under 16
HANDLED = 201  # what CloudAdapter answers for an activity that is no invoke
UNAVAILABLE = {"error": "the Bot Connector did not answer; please deliver the activity again"}


@dataclass(frozen=True)
class SdkConfiguration:
    """The configuration object botbuilder reads (its own attribute names)."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str
    # set together or not at all: botbuilder reads any one of them as "every endpoint is given"
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str | None = None
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str | None = None
    TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL: str | None = None
    TO_CHANNEL_FROM_BOT_LOGIN_URL: str | None = None
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: str | None = None
    OAUTH_URL: str | None = None
    CALLER_ID: str | None = None
    VALIDATE_AUTHORITY: bool = True


def configuration(settings: Settings) -> SdkConfiguration:
    """An empty app id turns botbuilder's authentication off: only ``TEAMPULSE_TEAMS_AUTH=off``
    without an app id gets there (with an app id, every request is authenticated).

    ``TEAMPULSE_TEAMS_OPENID_METADATA_URL`` moves only where the channel's signing keys are
    fetched, ``TEAMPULSE_TEAMS_LOGIN_URL`` only where the bot asks for its own token (an
    authority of one's own, which Azure AD's instance discovery would not know: it is not
    validated there); every other endpoint stays the public cloud's."""
    app = SdkConfiguration(
        APP_ID=settings.microsoft_app_id or "",
        APP_PASSWORD=settings.microsoft_app_password or "",
        APP_TYPE=settings.microsoft_app_type,
        APP_TENANTID=settings.microsoft_app_tenant_id or "",
    )
    if not (settings.teams_openid_metadata_url or settings.teams_login_url):
        return app
    constants = AuthenticationConstants
    return replace(
        app,
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=(
            settings.teams_openid_metadata_url or constants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
        ),
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=constants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER,
        TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=(
            constants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
        ),
        TO_CHANNEL_FROM_BOT_LOGIN_URL=(
            settings.teams_login_url or constants.TO_CHANNEL_FROM_BOT_LOGIN_URL
        ),
        TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=constants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE,
        OAUTH_URL=constants.OAUTH_URL,
        CALLER_ID=CallerIdConstants.public_azure_channel,
        VALIDATE_AUTHORITY=not settings.teams_login_url,
    )


class Turn:
    """One inbound activity, as the adapter sees it: the activity's JSON (``activity``), and what
    can be done in its conversation (reply, replace a message, look a member up, answer an
    invoke)."""

    def __init__(self, context: TurnContext, body: dict[str, Any]) -> None:
        self._context = context
        self.activity = InboundActivity(body)
        self.invoke_response: dict[str, Any] | None = None  # an invoke's answer, set by the bot

    def reference(self) -> dict[str, Any]:
        """The conversation reference, as plain JSON (what a proactive send needs later; no
        activity id, which changes with every message)."""
        reference = TurnContext.get_conversation_reference(self._context.activity)
        reference.activity_id = None
        serialised: dict[str, Any] = reference.serialize()
        return serialised

    async def member(self, account: str) -> dict[str, Any] | None:
        """A member of this conversation (``email``, ``userPrincipalName``, ``aadObjectId``, …)
        from the Bot Connector; None when it has no such member."""
        try:
            member = await TeamsInfo.get_member(self._context, account)
        except ErrorResponseException as error:
            if error.response is not None and error.response.status_code == 404:
                return None
            raise
        found: dict[str, Any] = member.serialize()
        return found

    async def member_email(self) -> str | None:
        """The sender's email (or user principal name); None when the connector has no such
        member or it has neither."""
        member = await self.member(self.activity.aad_object_id or self.activity.account)
        email = (member or {}).get("email") or (member or {}).get("userPrincipalName")
        return str(email) if email else None

    async def send(self, activity: dict[str, Any]) -> str | None:
        """Send an activity (plain JSON) in this conversation; the new message's id."""
        sent = await self._context.send_activity(activity_of(activity))
        return str(sent.id) if sent is not None and sent.id else None

    async def send_text(self, markdown: str) -> None:
        reply = MessageFactory.text(markdown)
        reply.text_format = TextFormatTypes.markdown
        await self._context.send_activity(reply)

    async def update(self, message_id: str, activity: dict[str, Any]) -> None:
        """Replace one of the bot's messages in this conversation (a card by its receipt)."""
        replacement = activity_of(activity)
        replacement.id = message_id
        await self._context.update_activity(replacement)


Handler = Callable[[Turn], Awaitable[None]]


class BotFrameworkEndpoint:
    """``POST /api/messages``: authenticate, parse, then run ``handler`` on the turn.

    botbuilder's own ``CloudAdapter.process`` answers a malformed bearer token (and a token whose
    key can't be found) with a 500, so this endpoint authenticates the request itself first and
    answers every failure with 401; only an authenticated activity reaches ``process_activity``.
    """

    def __init__(self, settings: Settings, handler: Handler) -> None:
        self.app_id = settings.microsoft_app_id or ""
        self.auth_required = bool(self.app_id) or settings.teams_auth != "off"
        self.auth = Authentication(configuration(settings))  # (credentials and clients kept)
        self.adapter = CloudAdapter(self.auth)
        self.handler = handler
        # the tenants served (``serve`` refuses to start without any: bot/safety.py)
        self.tenants = settings.teams_tenants

    async def handle(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if self.auth_required and not (self.app_id and well_formed_bearer(header)):
            return unauthorised()  # (without an app id there is nothing to check a token against)
        body, activity = await parsed_activity(request)
        try:
            result = await self.auth.authenticate_request(activity, header)
        except Exception as error:  # botbuilder raises PermissionError, jwt and key errors alike
            log.info("Teams request refused: %s", type(error).__name__)
            return unauthorised()
        problem = activity_problem(body)
        if problem:
            raise web.HTTPBadRequest(text=problem)
        if InboundActivity(body).tenant not in self.tenants:
            log.info("Teams activity from a tenant not served; ignored")
            return web.json_response({"error": "this tenant is not served"}, status=403)

        turns: list[Turn] = []

        async def logic(context: TurnContext) -> None:
            turns.append(Turn(context, body))
            await self.handler(turns[-1])

        try:
            await self.adapter.process_activity(result, activity, logic)
        except (
            HttpOperationError,
            ClientRequestError,
            ConnectorError,
            DeserializationError,
        ) as error:
            # the Bot Connector failed mid-turn: Teams is told to deliver the activity again
            log.warning("Teams: the Bot Connector failed during a turn (%s)", type(error).__name__)
            return web.json_response(UNAVAILABLE, status=503)
        if activity.type != "invoke":
            return web.Response(status=HANDLED)
        answer = turns[0].invoke_response if turns else None
        if answer is None:
            reason = f"teampulse answers no {activity.name or 'unnamed'} invoke"
            return web.json_response({"error": reason}, status=400)
        return web.json_response(answer, status=200)


def unauthorised() -> web.Response:
    return web.json_response({"error": "unauthorised"}, status=401)


@functools.lru_cache(maxsize=256)  # (a channel sends one token with every activity for an hour)
def well_formed_bearer(header: str) -> bool:
    """``Bearer <a JWT>`` that decodes (its signature is checked later, by botbuilder)."""
    scheme, _, token = header.partition(" ")
    if scheme != "Bearer" or not token:
        return False
    try:
        jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return False
    return True


async def parsed_activity(request: web.Request) -> tuple[dict[str, Any], Activity]:
    """The body as an activity; a 400 with the reason when it is not one."""
    try:  # (UTF-8 whatever charset the request names; bounded: bot/json_input.py)
        body = json_input.loads(await request.read(), MAX_DEPTH)
    except json_input.BadJson as error:
        raise web.HTTPBadRequest(text=f"the body is not acceptable JSON: {error}") from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not body["type"]:
        raise web.HTTPBadRequest(text="the body is not an activity (no type)")
    try:
        activity = activity_of(body)
    except (DeserializationError, TypeError, ValueError, AttributeError):
        raise web.HTTPBadRequest(text="the body is not an activity") from None
    return body, activity


# what a Teams id holds (``29:1AbC…``, ``19:…@thread.tacv2;messageid=17…``, ``a:1…``, GUIDs):
# visible ASCII (it goes into a Bot Connector URL and the ``x-ms-conversation-id`` header), no
# URL delimiter, at most 1,024 characters
CONNECTOR_ID = re.compile(r"[!-~]{1,1024}")
URL_DELIMITERS = frozenset("/\\?#%")


def _raw(body: dict[str, Any], dotted: str) -> Any:
    """The JSON at ``dotted`` (``from.id``), or None; botbuilder would turn a number or a list
    there into text and send it on."""
    value: Any = body
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def is_connector_id(value: str) -> bool:
    """(``.`` and ``..`` would be read as path steps, not as an id.)"""
    return (
        CONNECTOR_ID.fullmatch(value) is not None
        and not URL_DELIMITERS.intersection(value)
        and value.strip(".") != ""
    )


HANDLED_TYPES = {"message", "invoke", "conversationUpdate", "installationUpdate"}
CHANNEL_DATA_PARTS = ("tenant", "team", "channel")


def activity_problem(body: dict[str, Any]) -> str | None:
    """What an activity the adapter handles lacks, read from its JSON as the adapter reads it
    (None when nothing): the ids it acts on as strings (botbuilder would turn ``5`` into
    ``"5"``), a service URL that is an http(s) address, and ``channelData`` parts as objects
    (botbuilder's ``TeamsInfo`` indexes them and raises otherwise)."""
    activity = InboundActivity(body)
    if activity.type not in HANDLED_TYPES:
        return None
    needed = {
        "serviceUrl": is_web_address(activity.service_url),
        "conversation.id": bool(activity.conversation_id),
        "from.id": bool(activity.account),
    }
    if activity.type in {"message", "invoke"}:
        needed["id"] = bool(activity.id)
    missing = [name for name, present in needed.items() if not present]
    if missing:
        return f"a {activity.type} activity needs {', '.join(missing)}"
    ids = {
        "id": activity.id,
        "replyToId": activity.reply_to_id,
        "conversation.id": activity.conversation_id,
        "from.id": activity.account,
        "from.aadObjectId": activity.aad_object_id,
    }
    odd = [name for name, value in ids.items() if value and not is_connector_id(value)]
    odd += [name for name in ids if not isinstance(_raw(body, name), str | None)]
    if odd:  # (each goes into a Bot Connector URL: a reply, a member look-up)
        return f"{', '.join(odd)} is not an id the Bot Connector uses"
    if not isinstance(body.get("channelData"), dict):  # (botbuilder's TeamsInfo reads it)
        return f"a {activity.type} activity needs channelData (an object)"
    return channel_data_problem(body.get("channelData"))


def is_web_address(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in {"http", "https"} and bool(parts.hostname)
    except ValueError:
        return False


def channel_data_problem(channel_data: Any) -> str | None:
    if channel_data is None:
        return None
    if not isinstance(channel_data, dict):
        return "channelData is not an object"
    for part in CHANNEL_DATA_PARTS:
        value = channel_data.get(part)
        if value is not None and not isinstance(value, dict):
            return f"channelData.{part} is not an object"
    team = channel_data.get("team")
    if team and not isinstance(team.get("id"), str):
        return "channelData.team has no id"
    return None

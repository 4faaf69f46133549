"""Outbound, at the SDK boundary: proactive calls to the Bot Connector from plain-JSON conversation
references, on the same ``CloudAdapter`` (and so the same app credentials) as the inbound endpoint.

Every call runs in a turn of its own (``continue_conversation`` / ``create_conversation``) and
answers plain JSON; a refusal surfaces as ``ConnectorError`` with the HTTP status and the
``Retry-After`` the connector gave.  Retrying and pacing are the caller's
(``adapters/teams/pacing.py``): the connector clients of proactive calls are built not to retry
(``adapters/teams/sdk/auth.py``), so one call here is one request.
"""

from __future__ import annotations

import email.utils
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
)
from msrest.exceptions import ClientRequestError, HttpOperationError

from adapters.teams.sdk.errors import ConnectorError
from adapters.teams.sdk.inbound import BotFrameworkEndpoint
from adapters.teams.sdk.models import activity_of, model_of
from adapters.teams.sdk.plain import Json, PageRunner, RosterPage, just_fetch

CHANNEL = "msteams"
PAGE_SIZE = 100  # members per roster page (the connector's own maximum is 500)


class Connector:
    """Proactive sends, message updates, 1:1 chats and rosters, in plain JSON."""

    def __init__(self, adapter: CloudAdapter, app_id: str) -> None:
        self.adapter = adapter
        self.app_id = app_id

    @classmethod
    def of(cls, endpoint: BotFrameworkEndpoint) -> Connector:
        """The proactive side of the inbound endpoint: its ``CloudAdapter`` and app id."""
        return cls(endpoint.adapter, endpoint.app_id)

    async def send(self, reference: Json, activity: Json) -> str:
        """Send ``activity`` in the referenced conversation; the new message's id."""
        sent: list[str] = []

        async def logic(context: TurnContext) -> None:
            response = await context.send_activity(_activity(activity))
            sent.append(str(getattr(response, "id", None) or ""))

        await self._continue(reference, logic)
        return sent[0] if sent else ""

    async def update(self, reference: Json, message_id: str, activity: Json) -> None:
        """Replace the message ``message_id`` (a card, by its receipt, say)."""

        async def logic(context: TurnContext) -> None:
            replacement = _activity(activity)
            replacement.id = message_id
            await context.update_activity(replacement)

        await self._continue(reference, logic)

    async def open_personal_chat(self, service_url: str, tenant: str, account: str) -> Json:
        """Open (or find) the 1:1 chat with ``account``; its conversation reference."""
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=f"28:{self.app_id}") if self.app_id else None,
            members=[ChannelAccount(id=account)],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}},
        )
        opened: list[Json] = []

        async def logic(context: TurnContext) -> None:
            reference = TurnContext.get_conversation_reference(context.activity)
            reference.activity_id = None
            reference.user = ChannelAccount(id=account)
            reference.conversation.conversation_type = "personal"
            opened.append(reference.serialize())

        await _translated(
            self.adapter.create_conversation(
                self.app_id,
                logic,
                parameters,
                channel_id=CHANNEL,
                service_url=service_url,
            )
        )
        return opened[0]

    async def roster(
        self, reference: Json, team: str | None = None, *, each_page: PageRunner = just_fetch
    ) -> list[Json]:
        """Every member of the team (all pages) whose channel ``reference`` is; ``team``
        defaults to the referenced conversation (a team's General channel has the team's id).
        ``each_page`` runs each page's fetch (the caller paces and retries there)."""
        members: list[Json] = []
        token: str | None = None
        while True:
            page = await each_page(partial(self.roster_page, reference, token, team))
            members.extend(page.members)
            token = page.token
            if not token:
                return members

    async def roster_page(
        self, reference: Json, token: str | None = None, team: str | None = None
    ) -> RosterPage:
        """One page of the team's members (``TeamsInfo.get_paged_members``) after ``token``."""
        pages: list[RosterPage] = []

        async def logic(context: TurnContext) -> None:
            conversation = context.activity.conversation
            tenant = getattr(conversation, "tenant_id", None)
            # TeamsInfo reads the team from channel data, which a continuation has none of
            # (without it: TypeError)
            context.activity.channel_data = {
                "team": {"id": team or conversation.id},
                "tenant": {"id": tenant},
            }
            page = await TeamsInfo.get_paged_members(context, token, PAGE_SIZE)
            members = [_member(account, tenant) for account in page.members or []]
            pages.append(RosterPage(members, page.continuation_token or None))

        await self._continue(reference, logic)
        return pages[0]

    async def _continue(
        self, reference: Json, logic: Callable[[TurnContext], Awaitable[None]]
    ) -> None:
        async def turn(context: TurnContext) -> None:
            context.activity.id = None  # a new message, not a reply to the continuation event
            await logic(context)

        conversation = model_of(ConversationReference, reference)
        await _translated(self.adapter.continue_conversation(conversation, turn, self.app_id))


def _activity(activity: Json) -> Activity:
    return activity_of(activity)


def _member(account: Any, tenant: str | None) -> Json:
    """A roster member as plain JSON."""
    extra: Mapping[str, Any] = getattr(account, "additional_properties", None) or {}
    email_address = getattr(account, "email", None) or extra.get("email")
    upn = getattr(account, "user_principal_name", None) or extra.get("userPrincipalName")
    return {
        "account": account.id,
        "aad": getattr(account, "aad_object_id", None),
        "name": getattr(account, "name", None),
        "email": email_address or upn,
        "upn": upn,
        "tenant": getattr(account, "tenant_id", None) or tenant,
    }


async def _translated(call: Awaitable[Any]) -> None:
    """Run a connector call; its refusals become ``ConnectorError``."""
    try:
        await call
    except HttpOperationError as error:
        response = error.response
        status = getattr(response, "status_code", None)
        headers = getattr(response, "headers", None) or {}
        raise ConnectorError(status, retry_after(headers.get("Retry-After"))) from error
    except (ClientRequestError, OSError) as error:
        raise ConnectorError(None) from error


def retry_after(
    value: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> float | None:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date (None when absent or
    unreadable)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now()).total_seconds())

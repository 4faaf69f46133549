"""What the Teams adapter keeps to reach people and channels, and its key names, in one place.

A person's Teams reference (``service.identities.reference("teams", recipient)``), a JSON dict:

* ``conversation``: their 1:1 chat with the bot, a Bot Framework ``ConversationReference`` as
  JSON (written when they chat with the bot, or when the bot opens the chat itself);
* ``account`` (``29:…``), ``aad`` (AAD object id), ``tenant``, ``service_url``: what a team's
  roster says of someone who may never have chatted with the bot, enough to open that chat.

Places (``service.places``, platform ``teams``), never people:

* ``tenant:<tenant id>`` -> ``{"service_url": …}``;
* ``team:<team id>`` -> ``{"name", "tenant", "service_url", "reference"}`` (the reference of
  its General channel, whose id is the team's: what reads its roster);
* ``channel:<channel conversation id>`` -> ``{"reference": ConversationReference JSON,
  "team": "<team id>"}`` (a team's ``teams_channel`` is that channel id).

Nothing here imports botbuilder: references are plain JSON on this side of the SDK boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.places import Places

PLATFORM = "teams"

# a person's reference
CONVERSATION = "conversation"
ACCOUNT = "account"
AAD = "aad"
TENANT = "tenant"
SERVICE_URL = "service_url"
GONE = "gone"  # the app was removed for them (or blocked): no chat is opened until they return

# places
TENANT_PREFIX = "tenant:"
CHANNEL_PREFIX = "channel:"
TEAM_PREFIX = "team:"
REFERENCE = "reference"
TEAM = "team"
NAME = "name"

Json = dict[str, Any]


@dataclass(frozen=True)
class Opening:
    """What opening a 1:1 chat with someone needs."""

    service_url: str
    tenant: str
    account: str


# -- a person's reference ----------------------------------------------------------------------
def conversation(stored: Json) -> Json | None:
    """The person's 1:1 chat reference, if one is kept."""
    found = stored.get(CONVERSATION)
    return found if isinstance(found, dict) and found else None


def with_conversation(reference: Json) -> Json:
    """The change that keeps ``reference`` as the person's 1:1 chat."""
    return {CONVERSATION: reference}


def without_conversation() -> Json:
    """The change that drops the person's 1:1 chat (the app was removed, the chat is gone), and
    that no chat is to be opened with them again until they write to the bot."""
    return {CONVERSATION: None, GONE: True}


def from_roster(account: str, aad: str | None, tenant: str, service_url: str) -> Json:
    """The change that keeps what a team's roster says of a person."""
    return {ACCOUNT: account, AAD: aad, TENANT: tenant, SERVICE_URL: service_url}


def opening(stored: Json, tenant_service_url: str | None = None) -> Opening | None:
    """What opening a 1:1 chat needs, when the person's account and tenant are known and a
    service URL is (theirs, else their tenant's)."""
    if stored.get(GONE):
        return None
    account, tenant = _text(stored, ACCOUNT), _text(stored, TENANT)
    service_url = _text(stored, SERVICE_URL) or tenant_service_url
    if account and tenant and service_url:
        return Opening(service_url, tenant, account)
    return None


def tenant_of(reference: Json) -> str:
    """A conversation reference's tenant id (empty when it has none).  botbuilder serialises it
    as ``tenantID``; Teams' own JSON says ``tenantId``."""
    conversation_part = reference.get("conversation")
    if isinstance(conversation_part, dict):
        return str(conversation_part.get("tenantID") or conversation_part.get("tenantId") or "")
    return ""


def conversation_id(reference: Json) -> str:
    """A conversation reference's conversation id (empty when it has none)."""
    conversation_part = reference.get("conversation")
    if isinstance(conversation_part, dict):
        return str(conversation_part.get("id") or "")
    return ""


# -- places ------------------------------------------------------------------------------------
def tenant_key(tenant: str) -> str:
    return f"{TENANT_PREFIX}{tenant}"


def channel_key(channel: str) -> str:
    return f"{CHANNEL_PREFIX}{channel}"


async def tenant_service_url(places: Places, tenant: str) -> str | None:
    return _text(await places.get(PLATFORM, tenant_key(tenant)), SERVICE_URL)


async def keep_tenant(places: Places, tenant: str, service_url: str) -> None:
    await places.put(PLATFORM, tenant_key(tenant), {SERVICE_URL: service_url})


async def channel_reference(places: Places, channel: str) -> Json | None:
    """The conversation reference of a team's channel, if one is kept."""
    found = (await places.get(PLATFORM, channel_key(channel))).get(REFERENCE)
    return found if isinstance(found, dict) and found else None


async def channel_team(places: Places, channel: str) -> str | None:
    """The id of the team a channel belongs to, if known."""
    return _text(await places.get(PLATFORM, channel_key(channel)), TEAM)


async def keep_channel(places: Places, channel: str, reference: Json, team: str) -> None:
    await places.put(PLATFORM, channel_key(channel), {REFERENCE: reference, TEAM: team})


async def forget_channel_reference(places: Places, channel: str) -> None:
    """Drop a channel's reference (the app was removed from the team), keeping its team id."""
    await places.put(PLATFORM, channel_key(channel), {REFERENCE: None})


def _text(data: Json, key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def person_reference(chat: Json, account: str, aad: str, tenant: str) -> Json:
    """The change that keeps a person's 1:1 chat (as they write in it) with their account, AAD
    object id, tenant and service URL."""
    service_url = chat.get("serviceUrl")
    return {
        CONVERSATION: chat,
        ACCOUNT: account,
        AAD: aad or None,
        TENANT: tenant or None,
        SERVICE_URL: service_url if isinstance(service_url, str) else None,
        GONE: None,
    }


def team_key(team: str) -> str:
    return f"{TEAM_PREFIX}{team}"

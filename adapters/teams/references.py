"""What the Teams adapter keeps to reach people and places later, and under which names.

A person (``service.identities``' reference for ``teams``): ``conversation``, their 1:1 chat's
conversation reference (plain JSON, as the SDK serialises it); ``account`` (``29:…``), ``aad``
(their AAD object id), ``tenant`` and ``service_url``, enough to open a 1:1 chat with someone
found in a team's roster who has not written to the bot yet.

A place (``service.places`` for ``teams``; never a person): ``tenant:<id>`` -> its service URL;
``team:<id>`` -> the team's name, tenant, service URL and its General channel's reference;
``channel:<id>`` -> the channel's reference and its team.  A team's celebration channel
(``TeamTarget.channel("teams")``) is found by its channel id.
"""

from __future__ import annotations

from typing import Any

PLATFORM = "teams"
CONVERSATION, ACCOUNT, AAD, TENANT, SERVICE_URL = (
    "conversation",
    "account",
    "aad",
    "tenant",
    "service_url",
)
REFERENCE, TEAM, NAME = "reference", "team", "name"


def person_reference(
    conversation: dict[str, Any], account: str, aad: str, tenant: str
) -> dict[str, Any]:
    """A person's reference from their 1:1 chat's conversation reference."""
    service_url = conversation.get("serviceUrl")
    return {
        CONVERSATION: conversation,
        ACCOUNT: account,
        AAD: aad or None,
        TENANT: tenant or None,
        SERVICE_URL: service_url if isinstance(service_url, str) else None,
    }


def tenant_key(tenant: str) -> str:
    return f"tenant:{tenant}"


def team_key(team: str) -> str:
    return f"team:{team}"


def channel_key(channel: str) -> str:
    return f"channel:{channel}"

"""An inbound Bot Framework activity, read from its JSON as Teams sends it (no SDK types): who
sent it, where (a personal chat, a group chat, a team's channel; the tenant and the team), what it
says, and what it carries (an Adaptive Card's data, the members who joined or left, an install).

Every field is read defensively: an activity is authenticated before it is read, but its shape
is Teams' to vary, and a missing or oddly typed field reads as empty, never as an exception.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

PERSONAL, GROUP_CHAT, CHANNEL = "personal", "groupChat", "channel"
MAX_MENTIONS = 20  # colleagues' accounts looked up for one message (entities are the sender's)
# an ``<at>`` holds a name, which Teams writes with ``<`` as ``&lt;``: matching up to the next
# ``<`` keeps a message of unclosed ``<at>`` linear (``.*?`` scanned to its end from each one)
_AT = re.compile(r"<at>([^<]*)</at>", re.IGNORECASE)
_ONE_AT = re.compile(r"<at>[^<>]*</at>", re.IGNORECASE)


@dataclass(frozen=True)
class Mention:
    """An ``<at>Name</at>`` in a message, and the account it points at."""

    text: str  # as it appears in the message, ``<at>Ann Smith</at>``
    account: str  # the mentioned account's id (``29:…``; ``28:…`` for a bot)
    name: str


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


class Activity:
    """A read-only view of one activity's JSON."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    def _field(self, *path: str) -> Any:
        value: Any = self.body
        for key in path:
            value = _dict(value).get(key)
        return value

    @property
    def type(self) -> str:
        return _text(self.body.get("type"))

    @property
    def id(self) -> str:
        return _text(self.body.get("id"))

    @property
    def name(self) -> str:
        """An invoke's name (``adaptiveCard/action``)."""
        return _text(self.body.get("name"))

    @property
    def action(self) -> str:
        """An ``installationUpdate``'s action: add, remove, add-upgrade, remove-upgrade."""
        return _text(self.body.get("action"))

    @property
    def value(self) -> dict[str, Any]:
        """What a card sent back (an ``Action.Submit``'s merged data, an invoke's value)."""
        return _dict(self.body.get("value"))

    @property
    def reply_to_id(self) -> str:
        return _text(self.body.get("replyToId"))

    @property
    def service_url(self) -> str:
        return _text(self.body.get("serviceUrl"))

    @property
    def account(self) -> str:
        """The sender's Teams account id (``29:…``)."""
        return _text(self._field("from", "id"))

    @property
    def aad_object_id(self) -> str:
        return _text(self._field("from", "aadObjectId"))

    @property
    def bot_account(self) -> str:
        """The bot's own account in this conversation (``28:…``)."""
        return _text(self._field("recipient", "id"))

    @property
    def conversation_id(self) -> str:
        return _text(self._field("conversation", "id"))

    @property
    def conversation_type(self) -> str:
        """personal, groupChat or channel."""
        return _text(self._field("conversation", "conversationType"))

    @property
    def is_personal(self) -> bool:
        return self.conversation_type == PERSONAL

    @property
    def tenant(self) -> str:
        return _text(self._field("channelData", "tenant", "id")) or _text(
            self._field("conversation", "tenantId")
        )

    @property
    def team_id(self) -> str:
        """The Teams team of a channel conversation (its General channel shares the id)."""
        return _text(self._field("channelData", "team", "id"))

    @property
    def team_name(self) -> str:
        return _text(self._field("channelData", "team", "name"))

    @property
    def channel_id(self) -> str:
        """The channel of a channel conversation (``19:…@thread.tacv2``)."""
        channel = _text(self._field("channelData", "channel", "id"))
        return channel or (self.conversation_id.split(";")[0] if self.team_id else "")

    @property
    def event_type(self) -> str:
        """A ``conversationUpdate``'s Teams event: teamMemberAdded, channelCreated, …"""
        return _text(self._field("channelData", "eventType"))

    def _accounts(self, key: str) -> list[str]:
        members = self.body.get(key)
        if not isinstance(members, list):
            return []
        return [_text(_dict(member).get("id")) for member in members if _dict(member).get("id")]

    @property
    def members_added(self) -> list[str]:
        return self._accounts("membersAdded")

    @property
    def members_removed(self) -> list[str]:
        return self._accounts("membersRemoved")

    @property
    def mentions(self) -> list[Mention]:
        """The ``mention`` entities whose text is an ``<at>…</at>`` of the message, as Teams
        writes them: an entity is the sender's client's to write, and one whose text is other
        words (``status``, ``#teamwork``) would otherwise have those words rewritten."""
        entities = self.body.get("entities")
        found: list[Mention] = []
        for entity in entities if isinstance(entities, list) else []:
            entity = _dict(entity)
            mentioned = _dict(entity.get("mentioned"))
            text, account = _text(entity.get("text")), _text(mentioned.get("id"))
            if entity.get("type") == "mention" and _ONE_AT.fullmatch(text) and account:
                found.append(Mention(text, account, _text(mentioned.get("name"))))
        return found

    @property
    def text(self) -> str:
        """The message's words with the bot's own ``<at>`` mention taken out (a channel message
        names the bot to reach it); other mentions are kept for ``words``."""
        text = _text(self.body.get("text"))
        for mention in self.mentions:
            if mention.account == self.bot_account:
                text = text.replace(mention.text, " ")
        return " ".join(text.split())


def words(text: str, emails: dict[str, str]) -> str:
    """A message's text as the core's words: each ``<at>Name</at>`` whose account is known
    becomes ``@email`` (``emails``: mention text -> email), any other ``@Name`` as typed; Teams'
    HTML entities are read back as the characters they stand for."""
    for mention, email in emails.items():
        text = text.replace(mention, f"@{email}")
    text = _AT.sub(lambda match: "@" + "".join(match.group(1).split()), text)
    return html.unescape(" ".join(text.split()))

"""A local stand-in for the Bot Framework's Bot Connector REST API (what a Teams activity's
``serviceUrl`` points at), on the fake-platform harness (``tests/fake_platform.py``).  The shapes
are botframework-connector's own (``ConversationsOperations``), which is what calls it.

- ``GET v3/conversations/{id}/members/{member}`` (``get_member``): the member (``email``,
  ``userPrincipalName``) by AAD object id or Teams account id; 404 ``MemberNotFoundInConversation``.
- ``POST v3/conversations/{id}/activities`` (and ``…/activities/{replyToId}``, a reply) (``send``):
  recorded with the activity and the conversation id; answers ``{"id": …}``.
- ``PUT v3/conversations/{id}/activities/{activityId}`` (``update``): answers ``{"id": …}``.
- ``POST v3/conversations`` (``create_conversation``): a 1:1 chat with the one member of the
  ``ConversationParameters``; answers ``{"id": …}`` (the same id for the same member).
- ``GET v3/conversations/{id}/pagedmembers`` (``paged_members``): a team's roster (``rosters``),
  ``page_size`` members a page, with a ``continuationToken`` until the last page.

``uninstall(conversation_or_account)``: the app is gone from that chat (or for that person): sends
and updates there, and opening a chat with them, get 403 as Teams answers them.  Every method
honours the harness's ``rate_limit_next`` / ``error_next``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fake_platform import Call, FakePlatform

__all__ = ["TENANT", "FakeTeams", "Member"]

TENANT = "tenant-test"


@dataclass(frozen=True)
class Member:
    account: str  # 29:…
    aad_object_id: str
    name: str
    email: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.account,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "email": self.email,
            "userPrincipalName": self.email,
            "tenantId": TENANT,
            "userRole": "user",
        }


def connector_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class FakeTeams(FakePlatform):
    def __init__(self) -> None:
        super().__init__()
        self.members: dict[str, Member] = {}  # by account id and by AAD object id
        self.rosters: dict[str, list[Member]] = {}  # team id -> its members
        self.page_size = 100
        self.uninstalled: set[str] = set()  # conversation ids and accounts
        self._ids = itertools.count(1)

    def add_member(self, member: Member) -> None:
        self.members[member.account] = member
        self.members[member.aad_object_id] = member

    def uninstall(self, conversation_or_account: str) -> None:
        self.uninstalled.add(conversation_or_account)

    @property
    def service_url(self) -> str:
        return f"{self.url}/"

    def rate_limited_body(self) -> dict[str, Any]:
        return {"error": {"code": "Throttled", "message": "Too many requests"}}

    def routes(self, app: web.Application) -> None:
        base = "/v3/conversations"
        app.router.add_get(base + "/{conversation}/members/{member}", self._member)
        app.router.add_get(base + "/{conversation}/pagedmembers", self._paged_members)
        app.router.add_post(base, self._create_conversation)
        app.router.add_post(base + "/{conversation}/activities", self._send)
        app.router.add_post(base + "/{conversation}/activities/{reply_to}", self._send)
        app.router.add_put(base + "/{conversation}/activities/{activity}", self._update)

    async def _member(self, request: web.Request) -> web.Response:
        member_id = request.match_info["member"]
        params = {"conversation": request.match_info["conversation"], "member": member_id}
        member = self.members.get(member_id)
        if member is None:
            await self.record(Call("get_member", params, 404))
            return connector_error(404, "MemberNotFoundInConversation", "Member not found")
        return await self.answer("get_member", params, member.as_json)

    async def _send(self, request: web.Request) -> web.Response:
        activity = await request.json()
        conversation = request.match_info["conversation"]
        params = {"conversation": conversation, "activity": activity}
        if conversation in self.uninstalled:
            return await self._forbidden("send", params)
        return await self.answer("send", params, lambda: {"id": f"reply-{next(self._ids)}"})

    async def _update(self, request: web.Request) -> web.Response:
        params = {
            "conversation": request.match_info["conversation"],
            "message": request.match_info["activity"],
            "activity": await request.json(),
        }
        if params["conversation"] in self.uninstalled:
            return await self._forbidden("update", params)
        return await self.answer("update", params, lambda: {"id": params["message"]})

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body = await request.json()
        accounts = [m.get("id") for m in body.get("members") or [] if isinstance(m, dict)]
        params = {
            "account": accounts[0] if len(accounts) == 1 else accounts,
            "tenant": body.get("tenantId") or body.get("tenantID"),  # (botbuilder: tenantID)
            "is_group": body.get("isGroup"),
            "body": body,
        }
        if params["account"] in self.uninstalled:
            return await self._forbidden("create_conversation", params)
        if params["account"] not in self.members or body.get("isGroup"):
            await self.record(Call("create_conversation", params, 400))
            return connector_error(400, "BadArgument", "Unknown member")
        chat = {"id": f"a:opened-{params['account']}"}
        return await self.answer("create_conversation", params, lambda: chat)

    async def _paged_members(self, request: web.Request) -> web.Response:
        team = request.match_info["conversation"]
        token = request.query.get("continuationToken")
        params = {"team": team, "page_size": request.query.get("pageSize"), "token": token}
        if team not in self.rosters:
            await self.record(Call("paged_members", params, 404))
            return connector_error(404, "NotFound", "Conversation not found")
        start = int(token or 0)
        page = self.rosters[team][start : start + self.page_size]
        following = start + self.page_size
        more = following < len(self.rosters[team])

        def build() -> dict[str, Any]:
            found: dict[str, Any] = {"members": [m.as_json() for m in page]}
            return {**found, "continuationToken": str(following)} if more else found

        return await self.answer("paged_members", params, build)

    async def _forbidden(self, method: str, params: dict[str, Any]) -> web.Response:
        await self.record(Call(method, params, 403))
        return connector_error(403, "Forbidden", "The bot is not part of the conversation roster.")

    def sent_texts(self, conversation: str) -> list[str]:
        """What every message the bot sent in ``conversation`` shows, in order: its text, or
        the words of its Adaptive Cards."""
        found = []
        for call in self.called("send", conversation=conversation):
            activity = call.params["activity"]
            cards = [item.get("content") for item in activity.get("attachments") or []]
            found.append(" ".join(card_texts(cards)) if cards else str(activity.get("text") or ""))
        return found

    def refused(self, method: str, status: int) -> list[Call]:
        """The calls of ``method`` answered with ``status``."""
        return [call for call in self.calls if call.method == method and call.status == status]


def card_texts(element: Any) -> list[str]:
    """The words of every TextBlock in an Adaptive Card, in order."""
    if isinstance(element, list):
        return [text for item in element for text in card_texts(item)]
    if not isinstance(element, dict):
        return []
    own = [str(element["text"])] if element.get("type") == "TextBlock" else []
    return own + [text for value in element.values() for text in card_texts(value)]

"""A local stand-in for the Bot Framework's Bot Connector REST API (what a Teams activity's
``serviceUrl`` points at), on the fake-platform harness (``tests/fake_platform.py``).

- ``GET v3/conversations/{id}/members/{member}``: the member (``email``, ``userPrincipalName``)
  by AAD object id or Teams account id; 404 ``MemberNotFoundInConversation`` for anyone else.
- ``POST v3/conversations/{id}/activities`` (and ``…/activities/{replyToId}``, a reply): recorded
  as a ``send`` call with the activity and the conversation id; answers ``{"id": …}``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fake_platform import Call, FakePlatform

__all__ = ["FakeTeams", "Member"]


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
            "tenantId": "tenant-test",
            "userRole": "user",
        }


class FakeTeams(FakePlatform):
    def __init__(self) -> None:
        super().__init__()
        self.members: dict[str, Member] = {}  # by account id and by AAD object id
        self._ids = itertools.count(1)

    def add_member(self, member: Member) -> None:
        self.members[member.account] = member
        self.members[member.aad_object_id] = member

    @property
    def service_url(self) -> str:
        return f"{self.url}/"

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._send)
        app.router.add_post("/v3/conversations/{conversation}/activities/{reply_to}", self._send)

    async def _member(self, request: web.Request) -> web.Response:
        member_id = request.match_info["member"]
        params = {"conversation": request.match_info["conversation"], "member": member_id}
        member = self.members.get(member_id)
        if member is None:
            await self.record(Call("get_member", params, 404))
            error = {"code": "MemberNotFoundInConversation", "message": "Member not found"}
            return web.json_response({"error": error}, status=404)
        return await self.answer("get_member", params, member.as_json)

    async def _send(self, request: web.Request) -> web.Response:
        activity = await request.json()
        params = {"conversation": request.match_info["conversation"], "activity": activity}
        return await self.answer("send", params, lambda: {"id": f"reply-{next(self._ids)}"})

    def sent_texts(self, conversation: str) -> list[str]:
        """The text of every message the bot sent in ``conversation``, in order."""
        return [
            str(call.params["activity"].get("text") or "")
            for call in self.called("send", conversation=conversation)
        ]

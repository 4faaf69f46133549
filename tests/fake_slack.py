"""A local stand-in for the Slack Web API, on the fake-platform harness (``tests/fake_platform.py``:
aiohttp on 127.0.0.1 and a random port, every call recorded, queued 429s and errors, latency on
demand, ``wait_for`` conditions rather than the clock).

It speaks the documented wire format of the methods the adapter calls, checks the bot token of
each call (and the workspace it belongs to), serves the file upload URL it hands out, and is the
``response_url`` endpoint of slash commands and actions.

Posted messages are kept per channel with their ``metadata`` (``messages``) and read back newest
first by ``conversations.history``.  ``lose_answer`` makes a ``chat.postMessage`` lose its
answer: posted (or not) and then a 500, or no answer at all until ``release_lost`` (a process
that dies waiting for it).

``hold_replies`` keeps thread replies (reminders) unanswered until ``release_replies``.

``throttle_posts(n)`` makes it allow ``n`` ``chat.postMessage`` a second per workspace (over a
sliding one-second window) and answer the ones beyond with a 429 and ``Retry-After`` (whole
seconds until the window has room, as Slack's are), as Slack's unpublished workspace-wide cap
would.  Off by default.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import math
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fake_platform import Call, Canned, FakePlatform

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "TOKEN", "Call", "Canned", "FakeSlack"]

TOKEN = "xoxb-test-token"
CLIENT_ID = "1111.2222"
CLIENT_SECRET = "fake-client-secret"


@dataclass(frozen=True)
class Lost:
    """How one call's answer is lost: ``arrives`` (Slack acted on it first), ``hang`` (no
    answer until ``release_lost``; then, or at once if not hanging, a 500), ``disconnect`` (the
    connection is dropped instead of any answer, as a network failure would)."""

    arrives: bool
    hang: bool
    disconnect: bool = False


class FakeSlack(FakePlatform):
    def __init__(self) -> None:
        super().__init__()
        self.users: dict[str, str] = {}  # user id -> email
        # many workspaces: user id / channel id -> the only workspace (team id) that sees it;
        # a user or channel not listed is seen from every workspace
        self.user_teams: dict[str, str] = {}
        self.external_teams: dict[str, str] = {}  # Slack Connect: user id -> their own workspace
        self.channel_teams: dict[str, str] = {}
        self.tokens: dict[str, str] = {TOKEN: "T0TEST"}  # bot token -> team id
        self.channel_members: dict[str, list[str]] = {}
        self.usergroup_members: dict[str, list[str]] = {}  # user group id (S…) -> user ids
        self.page_size = 100  # conversations.members, users.list per page (tests lower it)
        self.codes: dict[str, tuple[str, str]] = {}  # OAuth code -> (team id, bot token)
        self.messages: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)  # channel ->
        self.lost: defaultdict[str, deque[Lost]] = defaultdict(deque)
        self.held = 0  # calls waiting for ``release_lost``
        self._released = asyncio.Event()
        self._ts = itertools.count(1)
        self._files = itertools.count(1)
        self.post_limit: int | None = None  # chat.postMessage a second per workspace
        self.throttled = 0  # 429s the throttle answered
        self._posted: defaultdict[str, deque[float]] = defaultdict(deque)  # team -> post times
        self.replies_held = 0  # thread replies that waited for ``release_replies``
        self._replies = asyncio.Event()
        self._replies.set()
        self._in_turn: asyncio.Lock | None = None  # ``answer_replies_in_turn``

    # -- set-up ------------------------------------------------------------------------------
    def add_user(self, user_id: str, email: str, team: str | None = None) -> None:
        """A user; with ``team``, only that workspace's bot token can see them or DM them."""
        self.users[user_id] = email
        if team is not None:
            self.user_teams[user_id] = team

    def add_external_user(self, user_id: str, email: str, team: str) -> None:
        """A user of another workspace, ``team``, met in a channel shared with it (Slack
        Connect): every workspace's token sees them, and ``users.info`` gives their own
        ``team_id``.  Their email is whatever their own workspace's admins gave them."""
        self.users[user_id] = email
        self.external_teams[user_id] = team

    def add_channel(self, channel: str, team: str) -> None:
        """A channel only ``team``'s bot token can see or post to."""
        self.channel_teams[channel] = team

    def user_id(self, email: str) -> str:
        return next(uid for uid, known in self.users.items() if known == email)

    def add_install_code(self, code: str, team_id: str, token: str) -> None:
        """An OAuth ``code`` that ``oauth.v2.access`` exchanges for ``token`` in ``team_id``."""
        self.codes[code] = (team_id, token)

    def rate_limited_body(self) -> dict[str, Any]:
        return {"ok": False, "error": "ratelimited"}

    def fail_next(self, method: str, error: str = "internal_error") -> None:
        """The next call of ``method`` gets Slack's refusal: a 200 with ``ok: false``."""
        self.queue(method, Canned(200, {"ok": False, "error": error}))

    def throttle_posts(self, per_second: int | None) -> None:
        """Allow ``per_second`` ``chat.postMessage`` a second per workspace (None: no limit)."""
        self.post_limit = per_second

    def _over_limit(self, token: str) -> float | None:
        """A post now would be over the limit: the seconds until the window has room."""
        if self.post_limit is None:
            return None
        now, window = time.monotonic(), self._posted[self.tokens[token]]
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) < self.post_limit:
            window.append(now)
            return None
        return window[0] + 1.0 - now

    def lose_answer(
        self, method: str, *, arrives: bool, hang: bool = False, disconnect: bool = False
    ) -> None:
        """The next call of ``method`` loses its answer (see ``Lost``)."""
        self.lost[method].append(Lost(arrives, hang, disconnect))

    def release_lost(self) -> None:
        """Calls hanging without an answer get their 500 now (the caller is long gone)."""
        self._released.set()

    def hold_replies(self) -> None:
        """Hold every ``chat.postMessage`` in a thread (a reply: a reminder is one) unanswered
        until ``release_replies``."""
        self._replies.clear()

    def release_replies(self) -> None:
        self._replies.set()

    def answer_replies_in_turn(self) -> None:
        """Answer thread replies one after another, as a platform pacing a bot does: the bot
        sees its sends finish one at a time, not all at once."""
        self._in_turn = asyncio.Lock()

    async def stop(self) -> None:
        self.release_lost()
        self.release_replies()
        await super().stop()

    def pulses(self, channel: str) -> list[dict[str, Any]]:
        """The messages in ``channel`` that carry a delivery key in their metadata."""
        return [m for m in self.messages[channel] if "metadata" in m]

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/respond/{name}"

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/respond/{name}", self._respond)

    # -- the API -------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            params.update(dict(await request.post()))
        for key in ("blocks", "view", "files", "metadata"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        authorization = request.headers.get("Authorization", "")
        if method == "oauth.v2.access":
            body = self._oauth(authorization, params)
            await self.record(Call(method, params, 200, answer=body))
            return web.json_response(body)
        token = authorization.removeprefix("Bearer ")
        if token not in self.tokens:
            await self.record(Call(method, params, 401))
            return web.json_response({"ok": False, "error": "invalid_auth"})
        params["_token"] = token  # the bot token the call was made with (Authorization header)
        if method == "chat.postMessage" and (wait := self._over_limit(token)) is not None:
            self.throttled += 1
            await self.record(Call(method, params, 429))
            retry_after = str(max(1, math.ceil(wait)))
            headers = {"Retry-After": retry_after}
            return web.json_response(self.rate_limited_body(), status=429, headers=headers)
        if self.lost[method]:
            return await self._lose(request, method, params, self.lost[method].popleft())
        if method == "chat.postMessage" and params.get("thread_ts"):
            await self._hold_reply()
        return await self.answer(method, params, lambda: self._answer(method, params))

    async def _lose(
        self, request: web.Request, method: str, params: dict[str, Any], lost: Lost
    ) -> web.Response:
        """Act on the call (if it ``arrives``, recorded as answered) and lose the answer."""
        if lost.arrives:
            await self.record(Call(method, params, 200, answer=self._answer(method, params)))
        else:
            await self.record(Call(method, params, 0))  # never reached Slack's handling
        if lost.hang:
            self.held += 1
            await self._released.wait()
        if lost.disconnect and request.transport is not None:
            request.transport.close()
        return web.json_response({"ok": False, "error": "internal_error"}, status=500)

    async def _hold_reply(self) -> None:
        if self._in_turn is not None:
            async with self._in_turn:
                await asyncio.sleep(0)  # (the next reply is answered after this one has gone)
        if self._replies.is_set():
            return
        async with self._changed:
            self.replies_held += 1
            self._changed.notify_all()  # for ``wait_until``
        await self._replies.wait()

    def _oauth(self, authorization: str, params: dict[str, Any]) -> dict[str, Any]:
        """``oauth.v2.access``: the client's id and secret (HTTP Basic or form) and a code."""
        client = (params.get("client_id"), params.get("client_secret"))
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
            client = tuple(decoded.split(":", 1))  # type: ignore[assignment]
        if client != (CLIENT_ID, CLIENT_SECRET):
            return {"ok": False, "error": "invalid_client_id"}
        found = self.codes.pop(str(params.get("code")), None)
        if found is None:
            return {"ok": False, "error": "invalid_code"}
        team_id, token = found
        self.tokens[token] = team_id
        return {
            "ok": True,
            "app_id": "A0TEST",
            "authed_user": {"id": "UINSTALLER"},
            "scope": "chat:write,commands",
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": "UBOT",
            "team": {"id": team_id, "name": f"Trust {team_id}"},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        ts = f"1700000000.{next(self._ts):06d}"
        match method:
            case "auth.test":
                return {
                    "ok": True,
                    "url": "https://test.slack.com/",
                    "team": "Test Trust",
                    "user": "teampulse",
                    "team_id": self.tokens[params["_token"]],
                    "user_id": "UBOT",
                    "bot_id": "BBOT",
                }
            case "auth.revoke":  # the token stops working at once
                self.tokens.pop(params["_token"], None)
                return {"ok": True, "revoked": True}
            case "users.info":
                email = self.users.get(str(params.get("user")))
                if email is None or not self._sees_user(params, params.get("user")):
                    return {"ok": False, "error": "user_not_found"}
                user = _user(str(params["user"]), email)
                if str(params["user"]) in self.external_teams:
                    user["team_id"] = self.external_teams[str(params["user"])]
                return {"ok": True, "user": user}
            case "users.list":
                # cursor pagination, ``self.page_size`` at most per page; a bot among the users
                seen = [
                    (uid, mail) for uid, mail in self.users.items() if self._sees_user(params, uid)
                ]
                start = int(str(params.get("cursor") or "0").removeprefix("page-") or 0)
                size = min(int(params.get("limit") or 100), self.page_size)
                page = [_user(uid, mail) for uid, mail in seen[start : start + size]]
                if start == 0:
                    page.append(
                        {"id": "USLACKBOT", "is_bot": True, "deleted": False, "profile": {}}
                    )
                cursor = f"page-{start + size}" if start + size < len(seen) else ""
                return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}
            case "users.lookupByEmail":
                for user_id, email in self.users.items():
                    if email == params.get("email") and self._sees_user(params, user_id):
                        return {"ok": True, "user": _user(user_id, email)}
                return {"ok": False, "error": "users_not_found"}
            case "conversations.open":
                if not self._sees_user(params, params.get("users")):
                    return {"ok": False, "error": "user_not_found"}
                return {"ok": True, "channel": {"id": f"D{params.get('users')}"}}
            case "conversations.info":
                if not self._sees_channel(params, params.get("channel")):
                    return {"ok": False, "error": "channel_not_found"}
                return {"ok": True, "channel": {"id": params.get("channel")}}
            case "chat.postMessage":
                channel = str(params.get("channel"))
                if not self._sees_channel(params, channel):
                    return {"ok": False, "error": "channel_not_found"}
                message = _message(ts, params)
                self.messages[channel].append(message)
                return {"ok": True, "channel": channel, "ts": ts, "message": message}
            case "conversations.history":
                return self._history(params)
            case "chat.update":
                return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
            case "chat.postEphemeral":
                return {"ok": True, "message_ts": ts}
            case "views.publish":
                return {"ok": True, "view": {"id": "VHOME", **(params.get("view") or {})}}
            case "conversations.members":
                members = self.channel_members.get(str(params.get("channel")))
                if members is None:
                    return {"ok": False, "error": "channel_not_found"}
                # cursor pagination, ``self.page_size`` at most per page (Slack's limit applies too)
                start = int(str(params.get("cursor") or "0").removeprefix("page-") or 0)
                size = min(int(params.get("limit") or 100), self.page_size)
                page = members[start : start + size]
                more = start + size < len(members)
                cursor = f"page-{start + size}" if more else ""
                return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}
            case "usergroups.users.list":
                # one answer, not paged
                users = self.usergroup_members.get(str(params.get("usergroup")))
                if users is None:
                    return {"ok": False, "error": "no_such_subteam"}
                return {"ok": True, "users": list(users)}
            case "views.open":
                return {"ok": True, "view": {"id": "V0001", **(params.get("view") or {})}}
            case "files.getUploadURLExternal":
                file_id = f"F{next(self._files):04d}"
                return {
                    "ok": True,
                    "upload_url": f"{self.url}/upload/{file_id}",
                    "file_id": file_id,
                }
            case "files.completeUploadExternal":
                files = params.get("files") or []
                return {
                    "ok": True,
                    "files": [{"id": f["id"], "title": f.get("title")} for f in files],
                }
            case _:
                return {"ok": False, "error": "unknown_method"}

    def _history(self, params: dict[str, Any]) -> dict[str, Any]:
        """Newest first, ``limit`` at most; metadata only with ``include_all_metadata``."""
        channel = str(params.get("channel"))
        if not self._sees_channel(params, channel):
            return {"ok": False, "error": "channel_not_found"}
        everything = str(params.get("include_all_metadata")).lower() in {"1", "true"}
        newest = self.messages[channel][::-1][: int(params.get("limit") or 100)]
        shown = [m if everything else _without_metadata(m) for m in newest]
        return {"ok": True, "messages": shown, "has_more": len(self.messages[channel]) > len(shown)}

    def _sees_user(self, params: dict[str, Any], user_id: Any) -> bool:
        """Whether the call's bot token (its workspace) may see this user."""
        team = self.user_teams.get(str(user_id))
        return team is None or team == self.tokens.get(params["_token"])

    def _sees_channel(self, params: dict[str, Any], channel: Any) -> bool:
        """Whether the call's bot token may see this channel (a DM: its user)."""
        channel = str(channel)
        if channel.startswith("D"):
            return self._sees_user(params, channel[1:])
        team = self.channel_teams.get(channel)
        return team is None or team == self.tokens.get(params["_token"])

    async def _upload(self, request: web.Request) -> web.Response:
        body = await request.read()
        await self.record(Call("upload", {"file_id": request.match_info["file_id"]}, body=body))
        return web.Response(text=f"OK - {len(body)}")

    async def _respond(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        params["name"] = request.match_info["name"]
        await self.record(Call("response_url", params))
        return web.Response(text="ok")


def _message(ts: str, params: dict[str, Any]) -> dict[str, Any]:
    """A message as Slack keeps it: the bot's, with its text, blocks, thread and metadata."""
    message = {"type": "message", "ts": ts, "user": "UBOT", "bot_id": "BBOT"}
    for field in ("text", "blocks", "thread_ts", "metadata"):
        if params.get(field) is not None:
            message[field] = params[field]
    return message


def _without_metadata(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "metadata"}


def _user(user_id: str, email: str) -> dict[str, Any]:
    name = email.split("@")[0]
    return {
        "id": user_id,
        "name": name,
        "deleted": False,
        "is_bot": False,
        "profile": {"email": email, "real_name": name, "display_name": name},
    }

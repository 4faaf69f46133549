"""Slack's Socket Mode, faked on top of the fake Web API (``tests/fake_slack.py``).

``apps.connections.open``, called with the app-level token (``xapp-…``) as bearer, hands out
``ws://127.0.0.1:<port>/link``.  On that WebSocket the fake says ``hello``, then pushes envelopes
(``events_api``, ``slash_commands``, ``interactive``: the shapes of Slack's "Using Socket Mode"
docs, read by slack_sdk's ``SocketModeRequest.from_dict``) and waits for each one's ack
(``{"envelope_id", "payload"?}``).  Connections, acks and closes are recorded as calls
(``socket.connect``, ``socket.ack``, ``socket.close``), so tests ``wait_for`` them like any other.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web

from tests.fake_slack import Call, FakeSlack

APP_TOKEN = "xapp-1-test"
HELLO = {
    "type": "hello",
    "num_connections": 1,
    "debug_info": {
        "host": "applink-fake",
        "build_number": 1,
        "approximate_connection_time": 3600,
    },
    "connection_info": {"app_id": "A0TEST"},
}


class FakeSocketMode(FakeSlack):
    def __init__(self, app_token: str = APP_TOKEN) -> None:
        super().__init__()
        self.app_token = app_token
        self.socket: web.WebSocketResponse | None = None  # the latest connection
        self._envelopes = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        super().routes(app)
        app.router.add_get("/link", self._link)

    async def push(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        timeout: float = 15,
    ) -> dict[str, Any]:
        """Send an envelope of ``kind`` to the connected bot; its ack, once the bot sends it."""
        await self.wait_for("socket.connect", timeout=timeout)
        assert self.socket is not None and not self.socket.closed, "the bot is not connected"
        envelope_id = f"{next(self._envelopes):08x}-fake-envelope"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            # events can't carry an answer in their ack; commands and interactions can
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
        }
        if kind == "events_api":
            envelope |= {"retry_attempt": retry_attempt, "retry_reason": retry_reason}
        await self.socket.send_json(envelope)
        [ack] = await self.wait_for(
            "socket.ack", lambda c: c.params.get("envelope_id") == envelope_id, timeout=timeout
        )
        return ack.params

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["method"] != "apps.connections.open":
            return await super()._api(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token == self.app_token:
            body = {"ok": True, "url": "ws" + self.url.removeprefix("http") + "/link"}
        else:  # (Slack's answer to a bot token here: not_allowed_token_type)
            error = "not_allowed_token_type" if token in self.tokens else "invalid_auth"
            body = {"ok": False, "error": error}
        await self.record(Call("apps.connections.open", {"_token": token}, answer=body))
        return web.json_response(body)

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()  # (autoping: the client's pings get their pongs)
        await socket.prepare(request)
        await socket.send_json(HELLO)
        self.socket = socket
        await self.record(Call("socket.connect", {}))
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                await self.record(Call("socket.ack", json.loads(message.data)))
        await self.record(Call("socket.close", {"code": socket.close_code}))
        return socket

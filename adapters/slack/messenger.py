"""The core's ``Messenger`` over the Web API.  A 429 is waited out and sent again (Slack posted
nothing, so nothing is sent twice); any other failure raises, for the outbox to retry.

Exactly once.  A pulse is posted with the outbox's delivery key in Slack's message ``metadata``
(``teampulse_delivery``, ``{"key": "pulse:<delivery id>"}``: the delivery's row id, nothing about
the person or their answers).  When a send's outcome is unknown (its process died mid-send, or
``chat.postMessage`` failed in a way that may have come after Slack posted: a 5xx, a lost
connection, a timeout) the person's DM is read back (``conversations.history`` with
``include_all_metadata``, newest first) and a message carrying the key counts as delivered; its
``ts`` is kept, so the round's reminder is threaded under it.  A DM that can't be read back
leaves the outcome unknown: the failure is passed on (``OutcomeUnknown`` after a lost answer),
and the outbox checks again before it sends anything."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.app import PLATFORM
from adapters.slack.blocks import render
from adapters.slack.identity import SlackDirectory
from bot.ports import OutcomeUnknown, Recipient, TeamTarget, Unreachable
from bot.views import PulseCard, TrendReportView, View

log = logging.getLogger(__name__)
EVENT_TYPE = "teampulse_delivery"  # the message metadata's event type on a pulse
HISTORY_LIMIT = 20  # the newest messages of a DM read back for a key (a pulse is recent)


def delivery_metadata(key: str) -> dict[str, Any]:
    """The message ``metadata`` carrying an outbox delivery's key."""
    return {"event_type": EVENT_TYPE, "event_payload": {"key": key}}


def carries(message: dict[str, Any], key: str) -> bool:
    """Whether a message read back with its metadata carries the delivery ``key``."""
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(metadata.get("event_type") == EVENT_TYPE and payload.get("key") == key)


def may_have_posted(error: Exception) -> bool:
    """A failure after which Slack may have posted anyway (its answer lost): a 5xx, a dropped
    connection or a timeout.  A refusal (``ok: false`` with a 200) or a 429 posted nothing."""
    if isinstance(error, SlackApiError):
        return int(getattr(error.response, "status_code", 0) or 0) >= 500
    return isinstance(error, aiohttp.ClientError | asyncio.TimeoutError)


class SlackMessenger:
    reaches_everyone = False  # only people with a Slack account (found by email)

    def __init__(self, client: AsyncWebClient, directory: SlackDirectory) -> None:
        self.client = client
        self.directory = directory

    async def knows(self, recipient: Recipient) -> bool:
        """True when the person's Slack account is already known (the router asks first)."""
        return await self.directory.identities.knows(PLATFORM, recipient)

    async def send_direct(
        self, recipient: Recipient, view: View, *, key: str | None = None
    ) -> None:
        """A reminder replies in the thread of the round's pulse message (its ``ts`` kept).  A
        DM channel opened for this send is stored after the post, with the pulse's ``ts``, in
        one write (``delivered`` opens the DM again if the process died before it)."""
        identities = self.directory.identities
        async with self.directory.reaching(recipient):
            channel, opened = await self.directory.dm(recipient)
            thread_ts = None
            if isinstance(view, PulseCard) and view.reminder:
                thread_ts = await identities.pulse_message(PLATFORM, recipient, view.round_id)
            ts = await self.post_keyed(channel, view, key, thread_ts=thread_ts)
        pulse = None
        if isinstance(view, PulseCard) and not view.reminder and ts:
            pulse = (view.round_id, ts)
        if opened is not None:
            await self.directory.stored(recipient, opened, pulse)
        elif pulse is not None:
            await identities.remember_pulse_message(PLATFORM, recipient, *pulse)

    async def post_keyed(
        self, channel: str, view: View, key: str | None, *, thread_ts: str | None = None
    ) -> str | None:
        """``post`` carrying ``key``; if the answer is lost, the DM is read back for the key
        before the failure is passed on (found: it was posted, and that message's ``ts``; not
        readable: ``OutcomeUnknown``)."""
        try:
            return await self.post(channel, view, thread_ts=thread_ts, key=key)
        except Exception as error:
            if key is None or not may_have_posted(error):
                raise
            try:
                found = await self._find(channel, key)
            except Exception as reading:
                raise OutcomeUnknown(f"answer lost, DM not read back: {reading}") from error
            if found is None:
                raise
            log.info("a post whose answer was lost had arrived; not sent again")
            ts = found.get("ts")
            return ts if isinstance(ts, str) else None

    async def post(
        self,
        channel: str,
        view: View,
        *,
        thread_ts: str | None = None,
        key: str | None = None,
    ) -> str | None:
        """Post a view to a channel (DM or team channel); the chart of a report is uploaded
        after it (``files_upload_v2``: getUploadURLExternal, upload, completeUploadExternal)."""
        message = render(view)
        posted = await self.client.chat_postMessage(
            channel=channel,
            text=message.text,
            blocks=message.blocks,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
            metadata=delivery_metadata(key) if key else None,
        )
        ts = posted.get("ts")
        if isinstance(view, TrendReportView) and view.chart_png:
            await self.client.files_upload_v2(
                channel=channel,
                content=view.chart_png,
                filename=f"trends-{view.weeks}-weeks.png",
                title=f"{view.team}: scores by theme, last {view.weeks} weeks",
                alt_txt=view.chart_alt[:1000],
            )
        return ts if isinstance(ts, str) else None

    async def delivered(self, recipient: Recipient, key: str, *, round_id: int) -> bool:
        """Whether the person's DM holds the bot's message carrying ``key`` (found, its ``ts``
        is kept as the round's pulse message, for the reminder's thread).  The DM channel is
        stored only after a post, so when none is stored it is opened again (Slack gives the
        same one; stored now, with the pulse found); a person Slack doesn't know was never
        sent anything: ``False``.  Slack not readable raises (the outbox checks again later,
        and sends nothing meanwhile)."""
        try:
            async with self.directory.reaching(recipient):
                channel, opened = await self.directory.dm(recipient)
                found = await self._find(channel, key)
        except Unreachable:
            return False
        if found is None:
            return False
        ts = found.get("ts")
        pulse = (round_id, ts) if isinstance(ts, str) and ts else None
        if opened is not None:
            await self.directory.stored(recipient, opened, pulse)
        elif pulse is not None:
            await self.directory.identities.remember_pulse_message(PLATFORM, recipient, *pulse)
        return True

    async def _find(self, channel: str, key: str) -> dict[str, Any] | None:
        """The newest messages of ``channel`` (with their metadata): the one carrying ``key``."""
        history = await self.client.conversations_history(
            channel=channel, limit=HISTORY_LIMIT, include_all_metadata=True
        )
        messages = history.get("messages") or []
        return next((m for m in messages if isinstance(m, dict) and carries(m, key)), None)

    async def post_to_team(self, team: TeamTarget, view: View) -> None:
        channel = team.channel(PLATFORM)
        if channel:
            async with self.directory.in_channel_workspace(channel):
                await self.post(channel, view)

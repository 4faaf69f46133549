"""The core's ``Messenger`` over the Web API.  A 429 is waited out and sent again (Slack posted
nothing, so nothing is sent twice); any other failure raises, for the outbox to retry."""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.app import PLATFORM
from adapters.slack.blocks import render
from adapters.slack.identity import SlackDirectory
from bot.ports import Recipient, TeamTarget
from bot.views import PulseCard, TrendReportView, View

log = logging.getLogger(__name__)


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
        """A reminder replies in the thread of the round's pulse message (its ``ts`` kept)."""
        identities = self.directory.identities
        async with self.directory.reaching(recipient):
            channel = await self.directory.dm_channel(recipient)
            thread_ts = None
            if isinstance(view, PulseCard) and view.reminder:
                thread_ts = await identities.pulse_message(PLATFORM, recipient, view.round_id)
            ts = await self.post(channel, view, thread_ts=thread_ts)
        if isinstance(view, PulseCard) and not view.reminder and ts:
            await identities.remember_pulse_message(PLATFORM, recipient, view.round_id, ts)

    async def post(self, channel: str, view: View, *, thread_ts: str | None = None) -> str | None:
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

    async def delivered(self, recipient: Recipient, key: str) -> bool | None:
        """Not known here yet: a send whose outcome is unknown is sent again."""
        return None

    async def post_to_team(self, team: TeamTarget, view: View) -> None:
        channel = team.channel(PLATFORM)
        if channel:
            async with self.directory.in_channel_workspace(channel):
                await self.post(channel, view)

"""``SlackMessenger``: the core's ``Messenger`` over the Slack Web API.

Every call goes through one ``AsyncWebClient`` whose ``RateLimitErrorRetryHandler`` waits out a
429's ``Retry-After`` and sends the same request again (a 429 means Slack posted nothing, so
nothing is sent twice).  Any other failure raises, and the core's outbox retries the row later.
With many workspaces (OAuth), a DM goes with the bot token of the person's workspace and a team
post with the channel's (``SlackDirectory.reaching`` / ``in_channel_workspace``).
"""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import render
from adapters.slack.identity import SlackDirectory
from bot.views import PulseCard, TrendReportView, View
from storage.models import Person, Team

log = logging.getLogger(__name__)


class SlackMessenger:
    def __init__(self, client: AsyncWebClient, directory: SlackDirectory) -> None:
        self.client = client
        self.directory = directory

    async def knows(self, person: Person) -> bool:
        """True when the person's Slack account is already known (the router asks first)."""
        return await self.directory.knows(person)

    async def send_direct(self, person: Person, view: View) -> None:
        async with self.directory.reaching(person):
            channel = await self.directory.dm_channel(person)
            thread_ts = None
            if isinstance(view, PulseCard) and view.reminder:
                thread_ts = await self.directory.pulse_message(person, view.round_id)
            ts = await self.post(channel, view, thread_ts=thread_ts)
        if isinstance(view, PulseCard) and not view.reminder and ts:
            await self.directory.remember_pulse_message(person, view.round_id, ts)

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

    async def post_to_team(self, team: Team, view: View) -> None:
        if team.slack_channel:
            async with self.directory.in_channel_workspace(team.slack_channel):
                await self.post(team.slack_channel, view)

"""Bolt listeners: Slack payloads in, core calls, Block Kit out.

Commands and button clicks are acked at once and their work runs after the ack (Bolt's lazy
listeners); events are acked by Bolt before their listener runs.  A pulse submission is checked and
committed *before* its ack (so an acked answer is stored, and a second submission is told politely
that it is already in), and the DM is replaced with the receipt after it.
"""

from __future__ import annotations

import html
import json
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.blocks import (
    OPEN_PULSE,
    QUESTION_BLOCK,
    SUBMIT_PULSE,
    notice_modal,
    pulse_modal,
    read_modal,
    render,
)
from adapters.slack.home import HOME_TRENDS, home_tab
from adapters.slack.identity import SlackDirectory
from adapters.slack.messenger import SlackMessenger
from adapters.slack.sync import HELP as SYNC_HELP
from adapters.slack.sync import MemberSync, sync_request
from bot import commands
from bot.conversation import NOT_KNOWN, Conversation
from bot.service import UnknownPerson
from bot.views import HomeView, PulseCard, Receipt, TextReply, TrendReportView, View

log = logging.getLogger(__name__)

WORKING = "Working on it… I'll send the report to our direct messages."
REPORT_SENT = "Your report is in our direct messages."
GONE = "You've already answered this pulse, or it has closed. Thank you!"
STALE_FORM = "This pulse form is out of date. Please open the pulse again from my message."
NO_EMAIL = (
    "I couldn't see an email address on your Slack profile, so I can't match you to your team. "
    "Ask the teampulse admin to check that the app may read email addresses."
)

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#[CG][A-Z0-9]+(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<![^>]*>")
_LEADING_MENTION = re.compile(r"^\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>[\s:,]*")


class SlackListeners:
    def __init__(self, directory: SlackDirectory, messenger: SlackMessenger) -> None:
        self.directory = directory
        self.messenger = messenger
        self.sync = MemberSync(directory)

    @property
    def conversation(self) -> Conversation:
        return Conversation(self.directory.service, platform_help=SYNC_HELP)

    def register(self, bolt: AsyncApp) -> None:
        bolt.command("/pulse")(ack=self.ack_command, lazy=[self.run_command])
        bolt.command("/kudos")(ack=self.ack_command, lazy=[self.run_command])
        bolt.action(OPEN_PULSE)(ack=self.ack_action, lazy=[self.open_pulse])
        bolt.view(SUBMIT_PULSE)(self.submit_pulse)
        bolt.event("message")(self.on_message)
        bolt.event("app_mention")(self.on_mention)
        bolt.event("app_home_opened")(self.on_home_opened)
        bolt.action(HOME_TRENDS)(ack=self.ack_action, lazy=[self.home_trends])
        # channel and user group membership events keep synced teams in step
        self.sync.register(bolt, self.messenger.client)

    # -- Slack text to the core's words ----------------------------------------------------------
    async def plain_text(self, text: str) -> str:
        """Slack's escaped text as the core's words: ``<@U1|ann>`` becomes ``@ann@trust.nhs.uk``."""
        parts: list[str] = []
        last = 0
        for match in _USER.finditer(text):
            parts.append(text[last : match.start()])
            email = await self.directory.email_of(match.group(1))
            parts.append(f"@{email}" if email else f"@{match.group(2) or match.group(1)}")
            last = match.end()
        parts.append(text[last:])
        text = "".join(parts)
        text = _CHANNEL.sub(lambda m: m.group(1) or "a channel", text)
        text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
        text = _SPECIAL.sub("", text)
        return html.unescape(text).strip()

    async def _email(self, user_id: str, *, remember: bool = True) -> str | None:
        """``remember=False`` on the pulse's own path (opening, submitting, the Home tab shown
        again after): nothing person-linked is written beside an answer, where the database's
        log would keep it next to the answer's transaction."""
        return await self.directory.email_of(user_id, remember=remember) if user_id else None

    # -- slash commands ------------------------------------------------------------------------
    async def ack_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        words = f"{command.get('command', '')} {command.get('text', '')}"
        if isinstance(commands.parse(words), commands.Trends):
            await ack(text=WORKING)
        else:
            await ack()

    async def run_command(self, command: dict[str, Any], respond: AsyncRespond) -> None:
        name = str(command.get("command", "")).lstrip("/")
        email = await self._email(str(command.get("user_id", "")))
        if email is None:
            await respond(text=NO_EMAIL, response_type="ephemeral")
            return
        raw = str(command.get("text", ""))
        sync = sync_request(raw) if name == "pulse" else None
        if sync is not None:  # Slack-only words: a channel's or group's members become the team's
            # (and stay so), or ``sync off``
            reply = await self.sync.run(self.messenger.client, email, sync)
            await self.reply([reply], email, respond=respond)
            return
        text = await self.plain_text(raw)
        views = await self.conversation.handle(email, f"{name} {text}")
        await self.reply(views, email, respond=respond)

    # -- replies -------------------------------------------------------------------------------
    async def reply(
        self,
        views: list[View],
        email: str,
        *,
        respond: AsyncRespond | None = None,
        dm_channel: str | None = None,
        ephemeral: tuple[AsyncWebClient, str, str] | None = None,
    ) -> None:
        """Send the core's answer back where the person asked: ephemerally for a slash command
        or a mention, in the DM for a DM.  Trend reports always go to the DM, with the chart."""
        for view in views:
            if isinstance(view, TrendReportView):
                channel = dm_channel or await self.directory.dm_channel_for(email)
                await self.messenger.post(channel, view)
                if respond is not None:
                    await respond(text=REPORT_SENT, response_type="ephemeral")
            elif dm_channel is not None:
                await self.messenger.post(dm_channel, view)
            elif respond is not None:
                message = render(view)
                await respond(
                    text=message.text,
                    blocks=message.blocks,
                    response_type="ephemeral",
                    replace_original=False,
                )
            elif ephemeral is not None:
                client, channel, user = ephemeral
                message = render(view)
                await client.chat_postEphemeral(
                    channel=channel, user=user, text=message.text, blocks=message.blocks
                )

    # -- events --------------------------------------------------------------------------------
    async def on_message(self, event: dict[str, Any]) -> None:
        """A message in the bot's DM: the same conversation as everywhere else."""
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        user, channel = str(event.get("user", "")), str(event.get("channel", ""))
        if not user or not channel:
            return
        email = await self._email(user)
        if email is None:
            await self.messenger.post(channel, TextReply(NO_EMAIL, kind="error"))
            return
        raw = str(event.get("text", ""))
        sync = sync_request(raw)
        if sync is not None:
            reply = await self.sync.run(self.messenger.client, email, sync)
            await self.reply([reply], email, dm_channel=channel)
            return
        text = await self.plain_text(raw)
        views = await self.conversation.handle(email, text)
        await self.reply(views, email, dm_channel=channel)

    async def on_mention(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        """``@teampulse …`` in a channel: answered only to the person who asked."""
        user, channel = str(event.get("user", "")), str(event.get("channel", ""))
        if not user or not channel:
            return
        email = await self._email(user)
        if email is None:
            await client.chat_postEphemeral(channel=channel, user=user, text=NO_EMAIL)
            return
        text = await self.plain_text(_LEADING_MENTION.sub("", str(event.get("text", ""))))
        views = await self.conversation.handle(email, text or "pulse help")
        cards = [view for view in views if isinstance(view, PulseCard)]
        if cards:  # a pulse is answered in private
            channel_dm = await self.directory.dm_channel_for(email)
            await self.reply(list(cards), email, dm_channel=channel_dm)
        rest: list[View] = [view for view in views if not isinstance(view, PulseCard)]
        await self.reply(rest, email, ephemeral=(client, channel, user))

    # -- the App Home tab ------------------------------------------------------------------------
    async def on_home_opened(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        """Publish the person's Home tab (their pulse, streak and kudos) when they open it."""
        if event.get("tab") != "home":
            return
        user = str(event.get("user", ""))
        if user:
            await self.publish_home(client, user)

    async def publish_home(
        self, client: AsyncWebClient, user: str, *, remember: bool = True
    ) -> None:
        email = await self._email(user, remember=remember)
        home = (
            await self.conversation.home(email)
            if email is not None
            else HomeView(name="", notice=NO_EMAIL)
        )
        await client.views_publish(user_id=user, view=home_tab(home))

    async def home_trends(self, body: dict[str, Any]) -> None:
        """A manager's "Latest trends" button: the report goes to the DM, as ``/pulse trends``."""
        email = await self._email(str((body.get("user") or {}).get("id", "")))
        if email is None:
            return
        views = await self.conversation.handle(email, "pulse trends")
        await self.reply(views, email, dm_channel=await self.directory.dm_channel_for(email))

    # -- the pulse -----------------------------------------------------------------------------
    async def ack_action(self, ack: AsyncAck) -> None:
        await ack()

    async def open_pulse(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        """The DM's "Answer the pulse" button: open the modal with every statement."""
        trigger_id = body.get("trigger_id")
        user = str((body.get("user") or {}).get("id", ""))
        actions = body.get("actions") or [{}]
        value = str(actions[0].get("value", "")) if isinstance(actions[0], dict) else ""
        if not isinstance(trigger_id, str) or not value.isdigit():
            return
        round_id = int(value)
        email = await self._email(user, remember=False)
        card = None
        notice = NO_EMAIL
        if email is not None:
            try:
                card = next(
                    (
                        c
                        for c in await self.directory.service.pending_pulses(email)
                        if c.round_id == round_id
                    ),
                    None,
                )
                notice = GONE
            except UnknownPerson:
                notice = NOT_KNOWN
        if card is None:
            await client.views_open(trigger_id=trigger_id, view=notice_modal(notice))
            return
        container = body.get("container") or {}
        metadata: dict[str, Any] = {"r": round_id, "q": [q.id for q in card.questions]}
        if container.get("type") == "view":  # the Home tab: re-published after the answer
            metadata["h"] = 1
        elif container.get("is_ephemeral"):
            metadata["u"] = body.get("response_url")
        else:
            metadata["c"] = container.get("channel_id")
            metadata["t"] = container.get("message_ts")
        await client.views_open(trigger_id=trigger_id, view=pulse_modal(card, metadata))

    async def submit_pulse(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Store the answers (one card, one transaction), ack, then show the receipt."""
        metadata = _metadata(view.get("private_metadata"))
        if metadata is None:
            await ack(response_action="update", view=notice_modal(STALE_FORM))
            return
        questions: list[str] = metadata["q"]
        parsed = read_modal((view.get("state") or {}).get("values"))
        errors = dict(parsed.errors)
        for question_id in questions:
            if question_id not in parsed.answers:
                errors[f"{QUESTION_BLOCK}{question_id}"] = "Please pick one answer."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        user = str((body.get("user") or {}).get("id", ""))
        email = await self._email(user, remember=False)
        if email is None:
            await ack(response_action="update", view=notice_modal(NO_EMAIL))
            return
        comments = parsed.comments(questions)
        try:
            result = await self.directory.service.submit_pulse(
                email, metadata["r"], parsed.answers, comments
            )
        except UnknownPerson:
            await ack(response_action="update", view=notice_modal(NOT_KNOWN))
            return
        if not isinstance(result, Receipt):
            text = result.text if isinstance(result, TextReply) else GONE
            await ack(response_action="update", view=notice_modal(text))
            return
        await ack()
        await self._show_receipt(metadata, result, client)
        if metadata.get("h"):
            await self.publish_home(client, user, remember=False)

    async def _show_receipt(
        self, metadata: dict[str, Any], receipt: Receipt, client: AsyncWebClient
    ) -> None:
        message = render(receipt)
        try:
            if metadata.get("c") and metadata.get("t"):
                await client.chat_update(
                    channel=metadata["c"],
                    ts=metadata["t"],
                    text=message.text,
                    blocks=message.blocks,
                )
            elif metadata.get("u"):
                await AsyncWebhookClient(metadata["u"]).send(
                    text=message.text, blocks=message.blocks, replace_original=True
                )
        except Exception:  # the answer is stored; only the receipt's display failed
            log.warning("could not replace a pulse message with its receipt")


def _metadata(text: Any) -> dict[str, Any] | None:
    """The modal's private metadata: round id, question ids, and where the DM message is."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("r"), int):
        return None
    questions = value.get("q")
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        return None
    return value

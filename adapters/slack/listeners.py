"""Bolt listeners: Slack payloads in, ``Conversation`` calls, Block Kit out.  Commands and clicks
are acked at once and run after; a pulse submission is committed *before* its ack (an acked answer
is stored), and its receipt replaces the DM after it."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.blocks import (
    COMMENT_BLOCK,
    OPEN_PULSE,
    SUBMIT_PULSE,
    form_errors,
    notice_modal,
    pulse_modal,
    read_modal,
    render,
    state_values,
    unescape,
)
from adapters.slack.fastpath import Answered
from adapters.slack.home import HOME_TRENDS, home_tab
from adapters.slack.identity import SlackDirectory
from adapters.slack.messenger import SlackMessenger
from adapters.slack.receipts import show_receipt
from adapters.slack.sync import HELP as SYNC_HELP
from adapters.slack.sync import MemberSync, sync_request
from bot import commands, words
from bot.cards import CardForm
from bot.conversation import Conversation
from bot.outage import DatabaseUnavailable, Deadline, within
from bot.saving import StillSaving
from bot.views import Audience, HomeView, PulseCard, Receipt, Reply, TextReply, View, replies
from bot.words import UNAVAILABLE

log = logging.getLogger(__name__)

NO_EMAIL = (
    "I couldn't see an email address on your Slack profile, so I can't match you to your team. "
    "Ask the teampulse admin to check that the app may read email addresses."
)

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#[CG][A-Z0-9]+(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<![^>]*>")
_LEADING_MENTION = re.compile(r"^\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>[\s:,]*")

Answer = Callable[[View], Awaitable[None]]  # shows a view to the asker only, where they asked
# the pulse form's metadata keys before they were named (forms opened before an upgrade)
_OLD_KEYS = dict(r="round", q="questions", h="home", u="response_url", c="channel", t="ts")


def pulse_form(card: PulseCard, body: dict[str, Any]) -> CardForm:
    """The modal's metadata: the card, and where its message is, to show the receipt there (the
    Home tab, re-published; an ephemeral's ``response_url``; a DM message's channel and ts)."""
    container = body.get("container") or {}
    shown_in: dict[str, Any]
    if container.get("type") == "view":
        shown_in = {"home": "1"}
    elif container.get("is_ephemeral"):
        shown_in = {"response_url": str(body.get("response_url", ""))}
    else:
        shown_in = {"channel": container.get("channel_id"), "ts": container.get("message_ts")}
    where = tuple((key, value) for key, value in shown_in.items() if isinstance(value, str))
    return CardForm(card.round_id, tuple(q.id for q in card.questions), where)


def not_saved(text: str) -> dict[str, str]:
    """A pulse modal's errors when nothing was saved: shown under its last input (the comment
    box, just above Submit), the modal left open as it was."""
    return {COMMENT_BLOCK: text}


def user_of(body: dict[str, Any]) -> str:
    """Who clicked or submitted (an interaction payload's ``user.id``)."""
    return str((body.get("user") or {}).get("id", ""))


def _answer(send: Callable[..., Awaitable[Any]], **where: Any) -> Answer:
    """Show a view to the asker with one Slack call (``respond``, ``chat_postEphemeral``)."""

    async def answer(view: View) -> None:
        message = render(view)
        await send(text=message.text, blocks=message.blocks, **where)

    return answer


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
        self.sync.register(bolt)

    # -- Slack text to the core's words ----------------------------------------------------------
    async def plain_text(self, text: str) -> str:
        """Slack's escaped text as the core's words: ``<@U1|ann>`` becomes ``@ann@trust.nhs.uk``.

        Slack's own control sequences are read first, from the text as Slack sent it: a mention
        becomes the person's email (resolved by id), a channel or link its label, and a broadcast
        (``<!channel>``, ``<!here>``, a user group) is dropped.  Only then are the three entities
        Slack escapes decoded, in one pass, so what someone typed (``&lt;!channel&gt;`` arrives
        for a typed ``<!channel>``) becomes their characters, never a control sequence: the core
        holds words, and every renderer escapes them again for where they are shown."""
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
        return unescape(text).strip()

    async def email_of(
        self, user_id: str, *, remember: bool = True, wait: float | None = None
    ) -> str | None:
        """``remember=False`` on the pulse's own path (opening, submitting, the Home tab shown
        again after): nothing person-linked is written beside an answer, where the database's
        log would keep it next to the answer's transaction.  ``DatabaseUnavailable`` when the
        database is away (or, with ``wait``, does not answer within it)."""
        if not user_id:
            return None
        return await self.directory.email_by(user_id, Deadline.after(wait), remember=remember)

    async def converse(
        self, user: str, raw: str, *, head: str = "", here: Answer | None, dm: str | None = None
    ) -> None:
        """Words to the bot: Slack's own ``… sync`` words (a channel's or group's members become
        a team's, or ``sync off``), else the conversation's.  With the database away the
        person is told so where they asked (their DM when they asked there)."""
        try:
            email, found = await within(None, self._words(user, raw, head), "a Slack message")
        except DatabaseUnavailable:
            email, found = "", replies([TextReply(UNAVAILABLE, kind="error", retry=True)])
        await self.reply(found, email, here=here, dm=dm)

    async def _words(self, user: str, raw: str, head: str) -> tuple[str, list[Reply]]:
        email = await self.email_of(user)
        request = sync_request(raw) if head in {"", "pulse"} else None
        if email is None:
            return "", replies([TextReply(NO_EMAIL, kind="error")])
        if request is not None:
            return email, await self.sync.run(email, request)
        return email, await self.conversation.ask(email, f"{head} {await self.plain_text(raw)}")

    async def reply(
        self, found: list[Reply], email: str, *, here: Answer | None = None, dm: str | None = None
    ) -> None:
        """Private replies go to the person's DM (``dm`` when they are in it), with a word where
        they asked; the rest go back where they asked (``here``), or to the DM when they asked
        there (``here=None``)."""
        for item in found:
            if here is None or item.audience is Audience.PRIVATE:
                dm = dm or await self.directory.dm_channel_for(email)
                await self.messenger.post(dm, item.view)
                if here is not None:
                    await here(TextReply(item.elsewhere))
            else:
                await here(item.view)

    # -- slash commands ------------------------------------------------------------------------
    async def ack_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        """A trend report takes a while: say so in the ack (``""`` is Bolt's empty ack)."""
        said = f"{command.get('command', '')} {command.get('text', '')}"
        slow = isinstance(commands.parse(said), commands.Trends)
        await ack(text=words.WORKING if slow else "")

    async def run_command(self, command: dict[str, Any], respond: AsyncRespond) -> None:
        here = _answer(respond, response_type="ephemeral", replace_original=False)
        user, head = str(command.get("user_id", "")), str(command.get("command", "")).lstrip("/")
        await self.converse(user, str(command.get("text", "")), head=head, here=here)

    # -- events --------------------------------------------------------------------------------
    async def on_message(self, event: dict[str, Any]) -> None:
        """A message in the bot's DM: the same conversation as everywhere else."""
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        user, channel = str(event.get("user", "")), str(event.get("channel", ""))
        if user and channel:
            await self.converse(user, str(event.get("text", "")), here=None, dm=channel)

    async def on_mention(self, event: dict[str, Any], client: AsyncWebClient) -> None:
        """``@teampulse …`` in a channel: answered only to the person who asked."""
        user, channel = str(event.get("user", "")), str(event.get("channel", ""))
        if user and channel:
            here = _answer(client.chat_postEphemeral, channel=channel, user=user)
            text = _LEADING_MENTION.sub("", str(event.get("text", "")))
            await self.converse(user, text, here=here)

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
        try:
            email = await self.email_of(user, remember=remember)
        except DatabaseUnavailable:
            away = HomeView(name="", notice=UNAVAILABLE)
            await client.views_publish(user_id=user, view=home_tab(away))
            return
        home = (
            await self.conversation.home(email)
            if email is not None
            else HomeView(name="", notice=NO_EMAIL)
        )
        await client.views_publish(user_id=user, view=home_tab(home))

    async def home_trends(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        """A manager's "Latest trends" button: the report goes to the DM, as ``/pulse trends``.
        Someone the organisation doesn't know (any more: a tab published before a re-import
        still has the button) has no DM the bot may find: their tab is published again, saying
        why.  With the database away there is no DM to find: the one log line says so."""
        user = user_of(body)
        try:
            email = await self.email_of(user)
            known = email is not None and await self.directory.identities.recipient(email)
        except DatabaseUnavailable:
            return
        if email is None or not known:
            await self.publish_home(client, user)
            return
        await self.reply(await self.conversation.ask(email, "pulse trends"), email)

    # -- the pulse -----------------------------------------------------------------------------
    async def ack_action(self, ack: AsyncAck) -> None:
        await ack()

    async def open_pulse(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        """The DM's "Answer the pulse" button: open the modal with every statement."""
        trigger_id = body.get("trigger_id")
        actions = body.get("actions") or [{}]
        value = str(actions[0].get("value", "")) if isinstance(actions[0], dict) else ""
        if not isinstance(trigger_id, str) or not value.isdecimal():
            return
        try:
            wait = self.directory.service.waits.person
            email = await self.email_of(user_of(body), remember=False, wait=wait)
        except DatabaseUnavailable:
            await client.views_open(trigger_id=trigger_id, view=notice_modal(UNAVAILABLE))
            return
        card = await self.conversation.open_card(email, int(value)) if email else None
        if not isinstance(card, PulseCard):
            notice = card.text if card is not None else NO_EMAIL
            await client.views_open(trigger_id=trigger_id, view=notice_modal(notice))
            return
        form = pulse_form(card, body)
        await client.views_open(trigger_id=trigger_id, view=pulse_modal(card, form.dumps()))

    async def submit_pulse(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Store the answers (one card, one transaction), ack, then show the receipt."""
        said, after = await self.answer_pulse(body, view, client)
        await ack(**said)
        if after is not None:
            await after()

    async def answer_pulse(
        self, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> Answered:
        """The pulse form's answer, as the ack's arguments (only once the answers are committed,
        or refused), and what to do after the ack (show the receipt), if anything.  Apart, so
        the fast path (``adapters/slack/fastpath.py``) answers in the request's own task."""
        form = CardForm.loads(view.get("private_metadata"), _OLD_KEYS)
        if form is None:
            return _update(words.STALE_FORM), None
        user = user_of(body)
        try:
            wait = self.directory.service.waits.person
            email = await self.email_of(user, remember=False, wait=wait)
        except DatabaseUnavailable:
            return dict(response_action="errors", errors=not_saved(words.NOT_SAVED)), None
        if email is None:
            return _update(NO_EMAIL), None
        parsed = read_modal(state_values(view))
        result = await self.conversation.submit_card(
            email, form.round_id, parsed.answers, parsed.comment, parsed.about, asked=form.questions
        )
        if isinstance(result, StillSaving):
            # the commit is under way: the modal says so (within Slack's 3 s), the outcome after
            return _update(result.text), partial(
                _then, result, partial(self._outcome, form, user, client)
            )
        if isinstance(result, TextReply) and result.retry:
            # nothing was saved: the modal stays open with every answer chosen, to submit again
            return dict(response_action="errors", errors=not_saved(result.text)), None
        if isinstance(result, TextReply) and result.problems:
            return dict(response_action="errors", errors=form_errors(result.problems)), None
        if isinstance(result, TextReply):
            return _update(result.text), None
        return {}, partial(self._receipt_after, form, result, user, client)

    async def _receipt_after(
        self, form: CardForm, receipt: Receipt, user: str, client: AsyncWebClient
    ) -> None:
        await self._show_receipt(form, receipt, client)
        if form.where("home"):
            await self.publish_home(client, user, remember=False)

    async def _outcome(
        self, form: CardForm, user: str, client: AsyncWebClient, outcome: Receipt | TextReply
    ) -> None:
        """The outcome of answers that were still being saved: the receipt in the pulse
        message's place, as a prompt one is; otherwise the words beside the pulse (a DM message,
        or the ephemeral's channel, seen by them alone), the pulse left there to answer again."""
        if isinstance(outcome, Receipt):
            await self._show_receipt(form, outcome, client)
        elif url := form.where("response_url"):
            message = render(outcome)
            await AsyncWebhookClient(url).send(
                text=message.text, blocks=message.blocks, replace_original=False
            )
        else:  # (a user id as the channel: the bot's DM with them)
            message = render(outcome)
            channel = form.where("channel") or user
            await client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
        if form.where("home"):
            await self.publish_home(client, user, remember=False)

    async def _show_receipt(self, form: CardForm, receipt: Receipt, client: AsyncWebClient) -> None:
        channel, ts, url = form.where("channel"), form.where("ts"), form.where("response_url")
        try:
            if channel and ts:
                await show_receipt(client, channel, ts, receipt)
            elif url:
                message = render(receipt)
                await AsyncWebhookClient(url).send(
                    text=message.text, blocks=message.blocks, replace_original=True
                )
        except Exception:  # the answer is stored; only the receipt's display failed
            log.warning("could not replace a pulse message with its receipt")


def _update(text: str) -> dict[str, Any]:
    """The ack's arguments that turn the modal into a notice."""
    return dict(response_action="update", view=notice_modal(text))


async def _then(
    saving: StillSaving, show: Callable[[Receipt | TextReply], Awaitable[None]]
) -> None:
    saving.then(show)

"""The "Give kudos" message shortcut: a modal whose form the core checks before the ack; the kudos
then runs the ``/kudos`` path and the giver is told the outcome in our DM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import (
    field_input,
    form_errors,
    input_state,
    modal,
    notice_modal,
    plain,
    selected,
    state_values,
    text_input,
    text_of,
)
from adapters.slack.listeners import NO_EMAIL, SlackListeners, user_of
from bot import forms, words
from bot.forms import MAX_MESSAGE
from bot.kudos import thanks_for
from bot.outage import DatabaseUnavailable, within
from bot.words import NOT_KNOWN

GIVE_KUDOS = "give_kudos"  # callback_id of the message shortcut (manifest: features.shortcuts)
SUBMIT_KUDOS = "give_kudos_submit"  # callback_id of its modal
TO_BLOCK, TO = "kudos_to", "users"
MESSAGE_BLOCK, MESSAGE = "kudos_message", "text"
VALUE_BLOCK, VALUE = "kudos_value", "value"


def kudos_modal(
    values: dict[str, str], thanks: str, author: str | None, limit: int = MAX_MESSAGE
) -> dict[str, Any]:
    """Recipients (prefilled with the message's author), a message (``thanks``: quoting it;
    ``limit``: its length), and a value."""
    users: dict[str, Any] = {
        "type": "multi_users_select",
        "action_id": TO,
        "max_selected_items": 10,
    }
    if author:
        users["initial_users"] = [author]
    message = text_input(MESSAGE, limit)
    if thanks:
        message["initial_value"] = thanks
    options = [
        {"text": plain(f"#{tag} · {label}", 75), "value": tag} for tag, label in values.items()
    ][:100]
    value = {"type": "static_select", "action_id": VALUE, "options": options}
    blocks = [
        field_input(TO_BLOCK, words.KUDOS_TO, users),
        field_input(MESSAGE_BLOCK, words.KUDOS_MESSAGE, message),
        field_input(VALUE_BLOCK, words.KUDOS_VALUE, value),
    ]
    return modal(blocks, words.KUDOS_FORM, callback_id=SUBMIT_KUDOS, submit=words.KUDOS_SEND)


@dataclass(frozen=True)
class KudosForm:
    recipients: list[str]  # Slack user ids
    message: str
    value: str


BLOCKS = {forms.RECIPIENTS: TO_BLOCK, forms.MESSAGE: MESSAGE_BLOCK, forms.VALUE: VALUE_BLOCK}


def read_kudos(state_values: Any) -> KudosForm:
    """Recipients, message and value of a submitted kudos modal; the core checks them."""
    users = input_state(state_values, TO_BLOCK, TO).get("selected_users")
    chosen = [u for u in users if isinstance(u, str) and u] if isinstance(users, list) else []
    message = text_of(input_state(state_values, MESSAGE_BLOCK, MESSAGE))
    return KudosForm(chosen, message, selected(input_state(state_values, VALUE_BLOCK, VALUE)) or "")


class KudosShortcut:
    def __init__(self, listeners: SlackListeners) -> None:
        self.listeners = listeners

    @property
    def values(self) -> dict[str, str]:
        return self.listeners.directory.service.settings.kudos_values

    def register(self, bolt: AsyncApp) -> None:
        bolt.shortcut(GIVE_KUDOS)(ack=self.listeners.ack_action, lazy=[self.open])
        bolt.view(SUBMIT_KUDOS)(self.submit)

    async def open(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        trigger_id = body.get("trigger_id")
        if not isinstance(trigger_id, str):
            return
        found = body.get("message")
        message: dict[str, Any] = found if isinstance(found, dict) else {}
        clicker = user_of(body)
        author = message.get("user")
        author = author if isinstance(author, str) and author and author != clicker else None
        quote = await self.listeners.plain_text(str(message.get("text") or ""))
        limit = self.listeners.directory.service.settings.kudos_max_chars
        view = kudos_modal(self.values, thanks_for(quote, limit), author, limit)
        await client.views_open(trigger_id=trigger_id, view=view)

    async def _author(self, user: str) -> tuple[str, str | None]:
        """The kudos' author's email, or why the form is refused (no email; not known here)."""
        email = await self.listeners.email_of(user)
        if email is None:
            return "", NO_EMAIL
        if await self.listeners.directory.identities.recipient(email) is None:
            return email, NOT_KNOWN
        return email, None

    async def submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        form = read_kudos(state_values(view))
        conversation = self.listeners.conversation
        problem = conversation.kudos_problems(form.recipients, form.message, form.value)
        if problem is not None:
            await ack(response_action="errors", errors=form_errors(problem.problems, BLOCKS))
            return
        try:
            wait = self.listeners.directory.service.waits.person
            email, refused = await within(wait, self._author(user_of(body)), "a kudos form")
        except DatabaseUnavailable:  # the form stays open, as it was, to send again
            await ack(response_action="errors", errors={MESSAGE_BLOCK: words.KUDOS_NOT_SAVED})
            return
        if refused is not None:
            # told on the form: after the ack the reply would have no DM to go to
            await ack(response_action="update", view=notice_modal(refused))
            return
        await ack()
        # an id Slack can't match to an email is reported by the kudos path
        recipients = [await self.listeners.directory.email_of(r) or r for r in form.recipients]
        found = await conversation.give_kudos(email, recipients, form.message, form.value)
        await self.listeners.reply(found, email)

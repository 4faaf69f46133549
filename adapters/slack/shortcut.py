"""The "Give kudos" message shortcut: a modal (recipients, message, value) that runs the same kudos
path as ``/kudos`` (saved, posted to the recipients' team channels, sent to each recipient).

The core checks the form before its ack (its problems, say a missing value, are shown on the
form); the kudos itself runs after the ack, and the giver is told the outcome in our DM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import (
    field_input,
    form_errors,
    modal,
    notice_modal,
    plain,
    state_values,
)
from adapters.slack.listeners import NO_EMAIL, SlackListeners
from bot import forms
from bot.cards import NOT_KNOWN
from bot.forms import MAX_MESSAGE
from bot.kudos import thanks_for

GIVE_KUDOS = "give_kudos"  # callback_id of the message shortcut (manifest: features.shortcuts)
SUBMIT_KUDOS = "give_kudos_submit"  # callback_id of its modal
TO_BLOCK, TO = "kudos_to", "users"
MESSAGE_BLOCK, MESSAGE = "kudos_message", "text"
VALUE_BLOCK, VALUE = "kudos_value", "value"


def kudos_modal(values: dict[str, str], thanks: str, author: str | None) -> dict[str, Any]:
    """Recipients (prefilled with the message's author), a message (``thanks``: quoting it), and
    a value."""
    users: dict[str, Any] = {
        "type": "multi_users_select",
        "action_id": TO,
        "max_selected_items": 10,
    }
    if author:
        users["initial_users"] = [author]
    message: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": MESSAGE,
        "multiline": True,
        "max_length": MAX_MESSAGE,
    }
    if thanks:
        message["initial_value"] = thanks
    options = [
        {"text": plain(f"#{tag} · {label}", 75), "value": tag} for tag, label in values.items()
    ][:100]
    value = {"type": "static_select", "action_id": VALUE, "options": options}
    blocks = [
        field_input(TO_BLOCK, "Who?", users),
        field_input(MESSAGE_BLOCK, "Your message", message),
        field_input(VALUE_BLOCK, "Which of our values?", value),
    ]
    return modal(blocks, "Give kudos", callback_id=SUBMIT_KUDOS, submit="Send kudos")


@dataclass(frozen=True)
class KudosForm:
    recipients: list[str]  # Slack user ids
    message: str
    value: str


BLOCKS = {forms.RECIPIENTS: TO_BLOCK, forms.MESSAGE: MESSAGE_BLOCK, forms.VALUE: VALUE_BLOCK}


def read_kudos(state_values: Any) -> KudosForm:
    """Recipients, message and value of a submitted kudos modal; the core checks them."""
    state = state_values if isinstance(state_values, dict) else {}

    def field(block: str, action: str) -> dict[str, Any]:
        found = (state.get(block) or {}).get(action) if isinstance(state.get(block), dict) else None
        return found if isinstance(found, dict) else {}

    chosen = field(TO_BLOCK, TO).get("selected_users")
    users = [u for u in chosen if isinstance(u, str) and u] if isinstance(chosen, list) else []
    text = field(MESSAGE_BLOCK, MESSAGE).get("value")
    option = field(VALUE_BLOCK, VALUE).get("selected_option")
    picked = option.get("value") if isinstance(option, dict) else None
    return KudosForm(
        users, text if isinstance(text, str) else "", picked if isinstance(picked, str) else ""
    )


class KudosShortcut:
    def __init__(self, listeners: SlackListeners) -> None:
        self.listeners = listeners

    @property
    def values(self) -> dict[str, str]:
        return self.listeners.directory.service.settings.kudos_values

    def register(self, bolt: AsyncApp) -> None:
        bolt.shortcut(GIVE_KUDOS)(ack=self.ack, lazy=[self.open])
        bolt.view(SUBMIT_KUDOS)(self.submit)

    async def ack(self, ack: AsyncAck) -> None:
        await ack()

    async def open(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        trigger_id = body.get("trigger_id")
        if not isinstance(trigger_id, str):
            return
        found = body.get("message")
        message: dict[str, Any] = found if isinstance(found, dict) else {}
        clicker = str((body.get("user") or {}).get("id", ""))
        author = message.get("user")
        author = author if isinstance(author, str) and author and author != clicker else None
        quote = await self.listeners.plain_text(str(message.get("text") or ""))
        view = kudos_modal(self.values, thanks_for(quote), author)
        await client.views_open(trigger_id=trigger_id, view=view)

    async def submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        form = read_kudos(state_values(view))
        conversation = self.listeners.conversation
        problem = conversation.kudos_problems(form.recipients, form.message, form.value)
        if problem is not None:
            await ack(response_action="errors", errors=form_errors(problem.problems, BLOCKS))
            return
        user = str((body.get("user") or {}).get("id", ""))
        email = await self.listeners.directory.email_of(user) if user else None
        if email is None:
            await ack(response_action="update", view=notice_modal(NO_EMAIL))
            return
        if await self.listeners.directory.identities.recipient(email) is None:
            # told on the form: after the ack the reply would have no DM to go to
            await ack(response_action="update", view=notice_modal(NOT_KNOWN))
            return
        await ack()
        # an id Slack can't match to an email is reported by the kudos path
        recipients = [await self.listeners.directory.email_of(r) or r for r in form.recipients]
        found = await conversation.give_kudos(email, recipients, form.message, form.value)
        await self.listeners.reply(found, email)

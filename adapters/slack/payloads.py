"""The shapes of the Slack requests the bot takes, checked at the gate before Bolt sees them.

Bolt (and the listeners after it) index payloads as Slack documents them: ``body["event"]["type"]``,
``body["actions"][0]["action_id"]``, ``"id" in body["user"]``, ``view["callback_id"]``... A signed
request whose fields were dropped or retyped made those raise, a 500 inside Bolt.  Here each kind
of request the bot handles is a pydantic model of the fields Bolt or a listener reads, typed as
Slack sends them (ids and texts are strings, flags booleans; lengths within Slack's documented
limits); anything else a real payload carries is allowed and ignored (``extra="allow"``), so a
payload Slack adds fields to still passes.  A payload that fails is answered 400 with the first
problem found, and nothing runs.

What each kind is for: slash commands (``/pulse``, ``/kudos``), ``block_actions`` (the pulse and
Home tab buttons), ``view_submission``/``view_closed`` (the pulse and kudos modals),
``shortcut``/``message_action`` (Give kudos), ``block_suggestion``, and the Events API's
``url_verification``, ``app_rate_limited`` and ``event_callback`` (with the fields of the events
subscribed to, ``SUBSCRIBED``; another event type with a well-formed envelope is acked and
ignored: Slack retries an event answered with an error).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

# Slack's documented limits, with the payloads' own ids kept short
Id = Annotated[str, StringConstraints(max_length=255)]
Text = Annotated[str, StringConstraints(max_length=40_000)]  # a message's text
Metadata = Annotated[str, StringConstraints(max_length=3000)]  # a view's private_metadata
Value = Annotated[str, StringConstraints(max_length=2000)]  # a button's value
Url = Annotated[str, StringConstraints(max_length=2000)]

SUBSCRIBED = frozenset(
    {
        "message",
        "app_mention",
        "app_home_opened",
        "member_joined_channel",
        "member_left_channel",
        "subteam_members_changed",
        "app_uninstalled",
        "tokens_revoked",
    }
)


class Loose(BaseModel):
    """Strict types for the fields named; any other field allowed (Slack adds fields).

    Each model's validator is built when first used, or by ``build`` (in a thread, once the
    server has answered its first request: ``adapters/slack/__init__.py``), not when the module
    is imported: building them all took 45-50 ms of a Slack server's start-up on a busy machine."""

    model_config = ConfigDict(extra="allow", strict=True, defer_build=True)


class Ref(Loose):
    """A ``team``, ``enterprise``, ``user`` or ``channel`` given as an object."""

    id: Id | None = None
    team_id: Id | None = None
    enterprise_id: Id | None = None


class Authorization(Loose):
    enterprise_id: Id | None = None
    team_id: Id | None = None
    user_id: Id | None = None
    is_bot: bool | None = None
    is_enterprise_install: bool | None = None


class Scoped(Loose):
    """What Bolt reads at every level it looks into to find the workspace, user and channel."""

    team: Id | Ref | None = None
    enterprise: Id | Ref | None = None
    user: Id | Ref | None = None
    channel: Id | Ref | None = None
    team_id: Id | None = None
    enterprise_id: Id | None = None
    user_id: Id | None = None
    channel_id: Id | None = None
    thread_ts: Id | None = None
    is_enterprise_install: bool | None = None
    is_ext_shared_channel: bool | None = None
    authorizations: list[Authorization] | None = None
    function_execution_id: Id | None = None
    bot_access_token: Id | None = None
    user_team: Id | None = None


class Message(Scoped):
    """A message (an event's, a shortcut's, ``message_changed``'s ``message``)."""

    type: Id | None = None
    subtype: Id | None = None
    text: Text | None = None
    bot_id: Id | None = None
    ts: Id | None = None


class Tokens(Loose):
    """``tokens_revoked``'s revoked tokens, by user id."""

    oauth: list[Id] | None = None
    bot: list[Id] | None = None


class Event(Message):
    """An Events API event: the fields the listeners read, for every type subscribed to."""

    type: Id
    channel_type: Id | None = None
    tab: Id | None = None
    subteam_id: Id | None = None
    event_ts: Id | None = None
    message: Message | None = None
    previous_message: Message | None = None
    item: Scoped | None = None
    assistant_thread: Scoped | None = None
    tokens: Tokens | None = None


class EventCallback(Scoped):
    type: Literal["event_callback"]
    event: Event
    event_id: Id
    event_time: int | None = None
    api_app_id: Id | None = None
    authed_users: list[Id] | None = None


class UrlVerification(Loose):
    type: Literal["url_verification"]
    challenge: Annotated[str, StringConstraints(max_length=255)]


class RateLimited(Scoped):
    type: Literal["app_rate_limited"]
    minute_rate_limited: int | None = None


class User(Ref):
    """Who acted, in an interaction: Slack always sends the id."""

    id: Id
    username: Id | None = None
    name: Id | None = None


class Container(Loose):
    type: Id | None = None
    channel_id: Id | None = None
    message_ts: Id | None = None
    view_id: Id | None = None
    is_ephemeral: bool | None = None


class View(Scoped):
    id: Id | None = None
    type: Id
    callback_id: Id = ""
    private_metadata: Metadata | None = None
    # (any shape: the listeners read each input defensively and refuse an odd one on the form
    # itself, ``response_action: errors``, which tells the person more than a 400 would)
    state: Any = None
    app_installed_team_id: Id | None = None
    hash: Id | None = None


class Interaction(Scoped):
    user: User
    api_app_id: Id | None = None
    trigger_id: Id | None = None
    response_url: Url | None = None


class Action(Loose):
    action_id: Id
    block_id: Id | None = None
    type: Id | None = None
    value: Value | None = None
    action_ts: Id | None = None


class BlockActions(Interaction):
    type: Literal["block_actions"]
    actions: list[Action] = Field(min_length=1, max_length=25)
    container: Container | None = None
    view: View | None = None
    message: Message | None = None


class ViewPayload(Interaction):
    type: Literal["view_submission", "view_closed"]
    view: View
    response_urls: list[dict[Id, Any]] | None = None


class Shortcut(Interaction):
    type: Literal["shortcut", "message_action"]
    callback_id: Id
    trigger_id: Id
    message: Message | None = None


class BlockSuggestion(Interaction):
    type: Literal["block_suggestion"]
    action_id: Id
    block_id: Id | None = None
    value: Value = ""


class SlashCommand(Loose):
    """A slash command's form fields (all strings: a form can hold nothing else)."""

    command: Annotated[str, StringConstraints(pattern=r"^/", max_length=255)]
    user_id: Annotated[Id, StringConstraints(min_length=1)]
    text: Text = ""
    team_id: Id | None = None
    enterprise_id: Id | None = None
    channel_id: Id | None = None
    response_url: Url | None = None
    trigger_id: Id | None = None


ENVELOPES: dict[str, type[Loose]] = {
    "url_verification": UrlVerification,
    "event_callback": EventCallback,
    "app_rate_limited": RateLimited,
}
INTERACTIONS: dict[str, type[Loose]] = {
    "block_actions": BlockActions,
    "view_submission": ViewPayload,
    "view_closed": ViewPayload,
    "shortcut": Shortcut,
    "message_action": Shortcut,
    "block_suggestion": BlockSuggestion,
}


CHECKED: tuple[type[Loose], ...] = tuple(
    dict.fromkeys([*ENVELOPES.values(), *INTERACTIONS.values(), SlashCommand])
)


def build() -> None:
    """Build the validator of every model the gate checks (pydantic builds each once, under its
    own lock, so a request checked meanwhile is safe: it builds its model itself or finds it
    built)."""
    for model in CHECKED:
        model.model_rebuild()


class ShapeError(ValueError):
    """Why a payload is not one the bot takes (said to the sender)."""


def check(model: type[Loose], payload: dict[str, Any], what: str) -> None:
    """``payload`` has ``model``'s shape, else ``ShapeError`` naming the first field that hasn't."""
    try:
        model.model_validate(payload)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "the payload"
        raise ShapeError(f"{what}: {where}: {first['msg']}") from None


def check_envelope(envelope: Any) -> dict[str, Any]:
    """An Events API body (JSON)."""
    kind = envelope.get("type") if isinstance(envelope, dict) else None
    model = ENVELOPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ShapeError("not a Slack Events API request")
    check(model, envelope, f"a Slack {kind} request")
    return dict(envelope)


def check_interaction(payload: Any) -> dict[str, Any]:
    """An interaction's ``payload`` form field (JSON)."""
    kind = payload.get("type") if isinstance(payload, dict) else None
    model = INTERACTIONS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ShapeError("not a Slack interaction this app handles")
    check(model, payload, f"a Slack {kind} payload")
    return dict(payload)


def check_command(form: dict[str, str]) -> dict[str, str]:
    check(SlashCommand, form, "a Slack slash command")
    return form


def ignored_event(envelope: dict[str, Any]) -> bool:
    """An event the app does not subscribe to (acked and dropped: never passed to Bolt)."""
    event = envelope.get("event")
    return envelope.get("type") == "event_callback" and (
        not isinstance(event, dict) or event.get("type") not in SUBSCRIBED
    )

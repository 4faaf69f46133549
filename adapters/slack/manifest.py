"""The Slack app manifest: exactly the scopes, events and commands the adapter uses."""

from __future__ import annotations

from typing import Any

import yaml

EVENTS_PATH = "/slack/events"

# Each scope is here for a call or an event the adapter makes or handles.
BOT_SCOPES = (
    "app_mentions:read",  # app_mention events
    # conversations.members/.info of a public channel (sync; kudos posts); member_*_channel events
    "channels:read",
    "chat:write",  # chat.postMessage, chat.update, chat.postEphemeral (views.* need no scope)
    "commands",  # /pulse, /kudos and the "Give kudos" message shortcut
    "files:write",  # files.getUploadURLExternal + files.completeUploadExternal (trend charts)
    # conversations.members of a private channel the bot is in, and its member_*_channel events
    "groups:read",
    "im:history",  # message.im events (talking to the bot in its DM)
    "im:write",  # conversations.open (the DM a pulse is sent to)
    "users:read",  # users.info (who clicked, who was mentioned)
    "users:read.email",  # users.info profile.email and users.lookupByEmail
    # usergroups.users.list (pulse settings … sync @group) and subteam_members_changed events
    "usergroups:read",
)
BOT_EVENTS = (
    "app_home_opened",
    "app_mention",
    "message.im",
    "app_uninstalled",  # many workspaces: forget an uninstalled workspace (no scope needed)
    "tokens_revoked",
    # teams kept in step with a channel (channels:read, groups:read) or a user group
    # (usergroups:read): sync again when someone joins or leaves
    "member_joined_channel",
    "member_left_channel",
    "subteam_members_changed",
)


def manifest(
    base_url: str, *, name: str = "teampulse", kudos_values: dict[str, str]
) -> dict[str, Any]:
    url = base_url.rstrip("/") + EVENTS_PATH
    example = next(iter(kudos_values), "teamwork")
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Anonymous pulse check-ins, kudos and team trends",
            "long_description": (
                "teampulse sends short, anonymous pulse check-ins to each member of a team, lets "
                "colleagues celebrate each other with kudos, and gives managers team trends. "
                "Answers are stored with no link to the person who gave them, and results are "
                "shown only for groups large enough to keep everyone anonymous."
            ),
            "background_color": "#005eb8",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "shortcuts": [
                {
                    "name": "Give kudos",
                    "type": "message",
                    "callback_id": "give_kudos",
                    "description": "Celebrate the colleague who wrote this",
                }
            ],
            "slash_commands": [
                {
                    "command": "/pulse",
                    "url": url,
                    "description": "Your pulse, team trends, status and settings",
                    "usage_hint": "[trends [team] [weeks] | status | help | send | settings]",
                    "should_escape": True,
                },
                {
                    "command": "/kudos",
                    "url": url,
                    "description": "Celebrate colleagues, tagged with one of our values",
                    "usage_hint": f"@name [@name…] thanks for… #{example}",
                    "should_escape": True,
                },
            ],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": {"request_url": url, "bot_events": list(BOT_EVENTS)},
            "interactivity": {"is_enabled": True, "request_url": url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(base_url: str, *, name: str = "teampulse", kudos_values: dict[str, str]) -> str:
    return yaml.safe_dump(
        manifest(base_url, name=name, kudos_values=kudos_values),
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )

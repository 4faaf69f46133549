"""The Teams app package: ``manifest.json`` (schema 1.22) and the two icons, in one zip.

An administrator uploads the zip in the Teams admin center (or a person in Teams, where custom app
upload is allowed).  What is in the manifest, and why:

* ``id`` and ``bots[0].botId`` are the bot's Microsoft app id (``MicrosoftAppId``); Teams requires
  a GUID.
* ``bots[0].scopes``: ``personal`` (the 1:1 chat the pulses arrive in), ``team`` and ``groupChat``
  (so the app can be added where kudos are posted and rosters read).  The schema's enum is
  case-sensitive: ``groupChat``, not ``groupchat``.
* ``commandLists``: the chat commands (``bot/help.py``) in the personal chat; in a team's channel
  or a group chat (where the bot is ``@mentioned`` and answers in the person's 1:1 chat) the ones
  that belong there: kudos, a roster sync, and the rest.
* ``validDomains``: the server's host.  ``webApplicationInfo``: the app id, with
  ``api://<host>/<app id>`` as its resource; installing the app for people through Microsoft
  Graph (so pulses can reach someone who never opened the app) needs it.
* No ``authorization.permissions.resourceSpecific``: the bot reads a team's roster through the Bot
  Connector and posts in channels as a bot, neither of which needs a resource-specific permission;
  reading every channel message (``ChannelMessage.Read.Group``) is exactly what it must not do.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from adapters.teams.icons import BRAND, color_icon, outline_icon

MANIFEST_VERSION = "1.22"
SCHEMA = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
COLOR_ICON = "color.png"
OUTLINE_ICON = "outline.png"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date: the same bytes every run

# (title, description): what Teams offers when someone types in the bot's chat.  Teams shows at
# most 10 commands per list; a title is at most 32 characters, a description 128.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("pulse", "Show the pulse waiting for you"),
    ("kudos", "Celebrate colleagues: kudos @name what they did #value"),
    ("pulse status", "Your open pulses and your teams"),
    ("pulse me", "When pulses reach you: pulse me nights, quiet 22:00-07:00, away until 12 Dec"),
    ("pulse help", "Every command, and how your answers stay anonymous"),
    ("pulse trends", "Managers: team trends, e.g. pulse trends Ward 7 12"),
    ("pulse send", "Managers: send a pulse to your team now"),
    ("pulse settings", "Managers: show or change your team's pulse schedule"),
    ("home", "Your waiting pulse, streak and recent kudos"),
)
# in a team's channel or a group chat: answered in the person's 1:1 chat, kudos celebrated here
SHARED_COMMANDS: tuple[tuple[str, str], ...] = (
    ("kudos", "Celebrate colleagues: kudos @name what they did #value"),
    ("settings sync", "Managers: keep a team in step with this Teams team's members"),
    ("pulse status", "Your open pulses and your teams (answered in your chat)"),
    ("pulse trends", "Managers: team trends (sent to your chat)"),
    ("pulse help", "Every command, and how your answers stay anonymous"),
)

SHORT_DESCRIPTION = "Anonymous pulse check-ins, kudos and team trends"
FULL_DESCRIPTION = (
    "teampulse sends short, anonymous pulse check-ins to each member of a team in a 1:1 chat, "
    "lets colleagues celebrate each other with kudos, and gives managers team trends in chat. "
    "Answers are stored with no link to the person who gave them, and results are shown only for "
    "groups large enough to keep everyone anonymous."
)


class PackageError(ValueError):
    """A value the package can't be built from; ``option`` names the command-line option."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class AppInfo:
    """What the operator says about the app (``teampulse manifest teams`` options)."""

    app_id: str | None  # checked: a GUID
    url: str  # the server's public base URL (https)
    name: str = "teampulse"
    app_version: str | None = None  # default: this teampulse's version
    developer: str = "teampulse"
    privacy_url: str | None = None  # default: url
    terms_url: str | None = None  # default: url


def https_url(value: str, option: str = "--url") -> str:
    """``value`` when it is an absolute ``https://`` URL with a host (a PackageError if not)."""
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise PackageError(
            option, f"{value!r} is not an https:// address (e.g. https://pulse.example.org)"
        )
    return value.strip().rstrip("/")


def app_guid(value: str | None) -> str:
    """The Microsoft app id in its canonical form; Teams accepts only a GUID."""
    if not value:
        raise PackageError(
            "--app-id", "no app id: pass --app-id or set MicrosoftAppId (the Azure Bot's app id)"
        )
    try:
        return str(UUID(value.strip()))
    except ValueError:
        raise PackageError(
            "--app-id", f"{value!r} is not a GUID (the Azure Bot's app id)"
        ) from None


def _fits(option: str, value: str, limit: int) -> None:
    if not value.strip() or len(value) > limit:
        raise PackageError(option, f"{value!r} must be 1 to {limit} characters (a Teams limit)")


def _package_version() -> str:
    try:
        return version("teampulse")
    except PackageNotFoundError:  # (run from a checkout that was never installed)
        return "0.1.0"


def manifest(info: AppInfo) -> dict[str, Any]:
    """The app manifest (``manifest.json``) for ``info``; raises PackageError on a bad value."""
    app_id = app_guid(info.app_id)
    url = https_url(info.url)
    _fits("--name", info.name, 30)
    _fits("--developer", info.developer, 32)
    host = urlsplit(url).hostname or ""
    bot = {
        "botId": app_id,
        "scopes": ["personal", "team", "groupChat"],
        "isNotificationOnly": False,
        "supportsFiles": False,
        "commandLists": [
            {"scopes": ["personal"], "commands": _commands(COMMANDS)},
            {"scopes": ["team", "groupChat"], "commands": _commands(SHARED_COMMANDS)},
        ],
    }
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": info.app_version or _package_version(),
        "id": app_id,
        "developer": {
            "name": info.developer,
            "websiteUrl": url,
            "privacyUrl": https_url(info.privacy_url or url, "--privacy-url"),
            "termsOfUseUrl": https_url(info.terms_url or url, "--terms-url"),
        },
        "name": {"short": info.name, "full": f"{info.name}: pulse check-ins, kudos and trends"},
        "description": {"short": SHORT_DESCRIPTION, "full": FULL_DESCRIPTION},
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": BRAND,
        "bots": [bot],
        "validDomains": [host],
        "webApplicationInfo": {"id": app_id, "resource": f"api://{host}/{app_id}"},
    }


def package(info: AppInfo) -> bytes:
    """The zip Teams takes: ``manifest.json`` and the icons at its root (the same bytes for the
    same ``info``)."""
    files: Mapping[str, bytes] = {
        "manifest.json": json.dumps(manifest(info), indent=2).encode() + b"\n",
        COLOR_ICON: color_icon(),
        OUTLINE_ICON: outline_icon(),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    return out.getvalue()


def write_package(out: Path, info: AppInfo) -> str:
    """Write the package to ``out``; the line to tell the operator."""
    data = package(info)
    out.write_bytes(data)
    return (
        f"Wrote {out} (Teams app manifest {MANIFEST_VERSION}, app id {app_guid(info.app_id)}, "
        f"{len(data):,} bytes). Upload it in the Teams admin center: Teams apps > Manage apps > "
        "Upload new app."
    )


def _commands(commands: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"title": title, "description": description} for title, description in commands]

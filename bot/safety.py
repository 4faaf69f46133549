"""What ``teampulse serve`` refuses to start with (docs/security.md, "What refuses to start").

Each refusal is a sentence naming the variable to set or change, so an operator can act on it
without reading code.  The checks are on the settings and this Python's SQLite library (asked in
an in-memory database: no file is opened), and run before the server binds a port.
"""

from __future__ import annotations

import ipaddress
import sqlite3

from bot.credentials import key_problems
from bot.settings import MIN_SECRET_LENGTH, Settings
from storage.engine import is_sqlite, sqlite_lacks_json

LOOPBACK_EXAMPLES = "127.0.0.1, ::1 or localhost"

SLACK_MODES = {
    "oauth": ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET"),
    "socket": ("SLACK_APP_TOKEN", "SLACK_BOT_TOKEN"),
    "http": ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"),
}
SLACK_MODE_NAMES = {
    "oauth": "Slack over OAuth (many workspaces)",
    "socket": "Slack in Socket Mode",
    "http": "Slack for one workspace over HTTP",
}
MANAGED_IDENTITY = "userassignedmsi"
NHSMAIL = (
    "Any Microsoft 365 tenant can add a multi-tenant bot, and its administrators can give their "
    "own accounts anyone's email address. NHSmail is one tenant shared by many NHS organisations, "
    "so the tenant alone does not identify a trust: list it, and your organisation file (the "
    "roster you import) decides who belongs."
)


class UnsafeConfiguration(RuntimeError):
    """The server was asked to start with a configuration ``refusals`` rejects."""


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1; brackets allowed)."""
    name = host.strip().lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


def refusals(settings: Settings) -> list[str]:
    """Every reason not to start (empty: safe to start)."""
    return [
        *slack_refusals(settings),
        *teams_refusals(settings),
        *local_chat_refusals(settings),
        *secret_refusals(settings),
        *key_problems(settings),
        *database_refusals(settings),
    ]


def check(settings: Settings) -> None:
    """Raise ``UnsafeConfiguration`` listing every refusal, if there is one."""
    problems = refusals(settings)
    if problems:
        raise UnsafeConfiguration(explain(problems))


def explain(problems: list[str]) -> str:
    return "teampulse will not start:\n" + "\n".join(f"- {problem}" for problem in problems)


def _missing(settings: Settings, names: tuple[str, ...]) -> list[str]:
    values = settings.platform_values()
    return [name for name in names if not values.get(name)]


def slack_refusals(settings: Settings) -> list[str]:
    used = [
        name
        for name in settings.platform_variables()
        if name.startswith(("SLACK_", "TEAMPULSE_SLACK"))
    ]
    if not used:
        return []
    values = settings.platform_values()
    if values.get("SLACK_CLIENT_ID") or values.get("SLACK_CLIENT_SECRET"):
        mode = "oauth"
    elif values.get("SLACK_APP_TOKEN"):
        mode = "socket"
    else:
        mode = "http"
    problems = [
        f"{SLACK_MODE_NAMES[mode]} needs {name}, which is not set (set: {', '.join(used)})."
        for name in _missing(settings, SLACK_MODES[mode])
    ]
    if mode == "oauth" and not settings.slack_workspaces:
        problems.append(
            "Slack over OAuth needs TEAMPULSE_SLACK_WORKSPACES: the workspace (team) ids allowed "
            "to install the bot, comma-separated (T…). Without it any Slack workspace could "
            "install it."
        )
    return problems


def teams_refusals(settings: Settings) -> list[str]:
    used = [
        name
        for name in settings.platform_variables()
        if name.startswith(("Microsoft", "TEAMPULSE_TEAMS"))
    ]
    if not used:
        return []
    if not settings.microsoft_app_id:
        if settings.teams_auth == "off":
            return _unauthenticated_teams(settings)
        return [f"Teams needs MicrosoftAppId, which is not set (set: {', '.join(used)})."]
    problems = []
    managed = settings.microsoft_app_type.lower() == MANAGED_IDENTITY
    if not managed and not settings.microsoft_app_password:
        problems.append(
            f"Teams needs MicrosoftAppPassword (the app's client secret) with MicrosoftAppType="
            f"{settings.microsoft_app_type}; it is not set. A managed identity sets "
            "MicrosoftAppType=UserAssignedMSI instead."
        )
    if settings.microsoft_app_type.lower() in {"singletenant", MANAGED_IDENTITY} and not (
        settings.microsoft_app_tenant_id
    ):
        problems.append(
            f"Teams needs MicrosoftAppTenantId with MicrosoftAppType="
            f"{settings.microsoft_app_type}; it is not set."
        )
    return problems + _tenant_refusals(settings)


def _unauthenticated_teams(settings: Settings) -> list[str]:
    problems = []
    if not is_loopback(settings.bind_host):
        problems.append(
            "TEAMPULSE_TEAMS_AUTH=off serves /api/messages without any authentication, so it "
            f"listens only on a loopback address ({LOOPBACK_EXAMPLES}); TEAMPULSE_HOST is "
            f"{settings.bind_host}. Set MicrosoftAppId and MicrosoftAppPassword for a real server."
        )
    return problems + _tenant_refusals(settings)


def _tenant_refusals(settings: Settings) -> list[str]:
    if settings.teams_tenants:
        return []
    return [
        "Teams needs TEAMPULSE_TEAMS_TENANTS: the Microsoft 365 tenant ids whose people are "
        "served, comma-separated (a SingleTenant app's MicrosoftAppTenantId counts). " + NHSMAIL
    ]


def local_chat_refusals(settings: Settings) -> list[str]:
    if not settings.local_mode or is_loopback(settings.bind_host):
        return []
    why = (
        "TEAMPULSE_LOCAL_CHAT=on"
        if settings.local_chat == "on"
        else "no Slack or Teams variable is set"
    )
    return [
        f"The local web chat is on ({why}) and lets a visitor act as anyone, so it listens only "
        f"on a loopback address ({LOOPBACK_EXAMPLES}); TEAMPULSE_HOST is {settings.bind_host}. "
        "Leave TEAMPULSE_HOST unset or set a loopback one; "
        + (
            "unset TEAMPULSE_LOCAL_CHAT on a shared server."
            if settings.local_chat == "on"
            else "configure Slack or Teams for a shared server."
        )
    ]


def secret_refusals(settings: Settings) -> list[str]:
    if not settings.platform_variables():
        return []  # local mode: a generated secret in .teampulse-secret
    hint = "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
    if not settings.secret:
        return [
            "TEAMPULSE_SECRET is not set; a platform is configured, so set it to a random value "
            f"of at least {MIN_SECRET_LENGTH} characters ({hint}) and keep it."
        ]
    if len(settings.secret) < MIN_SECRET_LENGTH:
        return [
            f"TEAMPULSE_SECRET is {len(settings.secret)} characters; use at least "
            f"{MIN_SECRET_LENGTH} random ones ({hint})."
        ]
    return []


def database_refusals(settings: Settings) -> list[str]:
    """SQLite without its JSON functions would start, take answers, then fail every
    directorate's and trust's report: refused at once instead."""
    if not is_sqlite(settings.database_url) or not sqlite_lacks_json():
        return []
    return [
        f"DATABASE_URL is SQLite, and the SQLite this Python uses ({sqlite3.sqlite_version}) "
        "has no JSON functions (json_each), which the reports of a team with teams below it "
        "need. Use a Python linked to SQLite 3.38 or later (they are built in since), or "
        "PostgreSQL (DATABASE_URL=postgresql+asyncpg://...)."
    ]

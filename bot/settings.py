"""Configuration from environment variables and a ``.env`` file (names fixed by DESIGN.md)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot import secret_file
from bot.forms import MAX_COMMENT, MAX_MESSAGE, MAX_TEXT
from bot.outage import PERSON_WAIT
from storage.engine import MAX_OVERFLOW, MIN_POOL_SIZE, POOL_SIZE
from surveys.recognition import DEFAULT_VALUES as DEFAULT_KUDOS_VALUES

MIN_GROUP_FLOOR = 3

MIN_SECRET_LENGTH = 32  # (``TEAMPULSE_SECRET`` when a platform is configured; bot/safety.py)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///./teampulse.db", validation_alias="DATABASE_URL"
    )
    port: int = Field(default=3978, validation_alias="PORT")
    host: str | None = Field(default=None, validation_alias="TEAMPULSE_HOST")
    workers: int = Field(default=1, ge=1, le=64, validation_alias="TEAMPULSE_WORKERS")
    # PostgreSQL connections per server process (storage/engine.py): kept open, and opened
    # beyond that under a burst.  Every process of every replica has its own pool, so
    # replicas x workers x (both) must stay below the server's max_connections (docs/deploy.md)
    db_pool_size: int = Field(
        default=POOL_SIZE, ge=MIN_POOL_SIZE, le=1000, validation_alias="TEAMPULSE_DB_POOL_SIZE"
    )
    db_max_overflow: int = Field(
        default=MAX_OVERFLOW, ge=0, le=1000, validation_alias="TEAMPULSE_DB_MAX_OVERFLOW"
    )

    slack_bot_token: str | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    slack_client_id: str | None = Field(default=None, validation_alias="SLACK_CLIENT_ID")
    slack_client_secret: str | None = Field(default=None, validation_alias="SLACK_CLIENT_SECRET")
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")

    microsoft_app_id: str | None = Field(
        default=None, validation_alias=AliasChoices("MicrosoftAppId", "MICROSOFTAPPID")
    )
    microsoft_app_password: str | None = Field(
        default=None, validation_alias=AliasChoices("MicrosoftAppPassword", "MICROSOFTAPPPASSWORD")
    )
    microsoft_app_type: str = Field(
        default="MultiTenant", validation_alias=AliasChoices("MicrosoftAppType", "MICROSOFTAPPTYPE")
    )
    microsoft_app_tenant_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("MicrosoftAppTenantId", "MICROSOFTAPPTENANTID"),
    )

    secret: str | None = Field(default=None, validation_alias="TEAMPULSE_SECRET")
    min_group: int = Field(default=5, validation_alias="TEAMPULSE_MIN_GROUP")
    min_comment_group: int = Field(default=10, validation_alias="TEAMPULSE_MIN_COMMENT_GROUP")
    timezone: str = Field(default="Europe/London", validation_alias="TEAMPULSE_TIMEZONE")
    local_chat: Literal["on", "off"] | None = Field(
        default=None, validation_alias="TEAMPULSE_LOCAL_CHAT"
    )
    teams_auth: Literal["on", "off"] = Field(default="on", validation_alias="TEAMPULSE_TEAMS_AUTH")
    # where Bot Framework tokens' signing keys are published (botbuilder's default when unset;
    # a sovereign cloud, or a test's local key server, sets its own)
    teams_openid_metadata_url: str | None = Field(
        default=None, validation_alias="TEAMPULSE_TEAMS_OPENID_METADATA_URL"
    )
    # where the bot asks Azure AD for its own token (an https authority; botbuilder's default,
    # login.microsoftonline.com, when unset; a private cloud, or a test's local one, sets its own)
    teams_login_url: str | None = Field(default=None, validation_alias="TEAMPULSE_TEAMS_LOGIN_URL")
    # the Microsoft 365 tenants whose people the bot serves (comma-separated ids): another
    # tenant can add the bot too and give its own accounts anyone's email
    teams_tenants_raw: str | None = Field(default=None, validation_alias="TEAMPULSE_TEAMS_TENANTS")
    # Teams' per-app, per-tenant budget of Bot Connector calls a second (its docs say 30)
    teams_tenant_rps: float = Field(
        default=30, gt=0, le=1000, validation_alias="TEAMPULSE_TEAMS_TENANT_RPS"
    )
    # chat.postMessage calls a second per Slack workspace to start at (Slack publishes no
    # workspace-wide figure): unset, posts are unpaced until Slack's first 429 teaches the pace
    slack_post_rate: float | None = Field(
        default=None, gt=0, le=10_000, validation_alias="TEAMPULSE_SLACK_POST_RATE"
    )
    round_days: int = Field(default=5, ge=1, le=28, validation_alias="TEAMPULSE_ROUND_DAYS")
    # seconds a person's pulse form waits on PostgreSQL before they are told "couldn't save" (or,
    # their answers' commit under way, "still saving"): under Slack's 3 s limit on a form
    person_wait: float = Field(
        default=PERSON_WAIT, gt=0, le=2.8, validation_alias="TEAMPULSE_PERSON_WAIT"
    )
    # how many outbox sends are in flight at once (each platform paces its own calls)
    outbox_concurrency: int = Field(
        default=32, ge=1, le=1000, validation_alias="TEAMPULSE_OUTBOX_CONCURRENCY"
    )
    # how long a claimed outbox send may run before it is taken for dead (its process killed)
    # and claimed again, checked, by any replica: longer than any one send, 429 waits included
    outbox_lease_seconds: int = Field(
        default=300, ge=1, le=86400, validation_alias="TEAMPULSE_OUTBOX_LEASE_SECONDS"
    )
    kudos_values_raw: str | None = Field(default=None, validation_alias="TEAMPULSE_KUDOS_VALUES")
    # the longest comment and kudos message, in characters (the forms state it too; Slack's
    # text inputs take at most 3,000)
    comment_max_chars: int = Field(
        default=MAX_COMMENT, ge=1, le=MAX_TEXT, validation_alias="TEAMPULSE_COMMENT_MAX_CHARS"
    )
    kudos_max_chars: int = Field(
        default=MAX_MESSAGE, ge=1, le=MAX_TEXT, validation_alias="TEAMPULSE_KUDOS_MAX_CHARS"
    )

    # Safe defaults (bot/safety.py): the Slack workspaces (team ids, or Enterprise Grid ids)
    # allowed to install the bot over OAuth and to send it events; required in OAuth mode
    slack_workspaces_raw: str | None = Field(
        default=None, validation_alias="TEAMPULSE_SLACK_WORKSPACES"
    )

    # operations: logs, metrics and how long data is kept (docs/data-protection.md)
    log_format: Literal["text", "json"] = Field(
        default="text", validation_alias="TEAMPULSE_LOG_FORMAT"
    )
    # /metrics asks for ``Authorization: Bearer <token>`` when set
    metrics_token: str | None = Field(default=None, validation_alias="TEAMPULSE_METRICS_TOKEN")
    # /metrics is served on this port only (not on the public one) when set
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, validation_alias="TEAMPULSE_METRICS_PORT"
    )
    # comments (on statements and general) older than this are deleted; 0 keeps them
    comment_retention_months: int = Field(
        default=24, ge=0, le=1200, validation_alias="TEAMPULSE_COMMENT_RETENTION_MONTHS"
    )

    # secrets and limits (docs/security.md)
    # keys sealing stored credentials (Fernet, comma-separated, newest first; bot/credentials.py);
    # unset: one derived from TEAMPULSE_SECRET
    encryption_keys_raw: str | None = Field(
        default=None, validation_alias="TEAMPULSE_ENCRYPTION_KEYS"
    )
    # local mode's generated secret (no TEAMPULSE_SECRET): this file; unset, next to the SQLite
    # database (or in the user's data directory for another database)
    secret_file: Path | None = Field(default=None, validation_alias="TEAMPULSE_SECRET_FILE")
    # per person, per process: kudos given in any hour, commands (typed or from a form) a minute
    kudos_per_hour: int = Field(
        default=20, ge=1, le=10_000, validation_alias="TEAMPULSE_KUDOS_PER_HOUR"
    )
    commands_per_minute: int = Field(
        default=30, ge=1, le=10_000, validation_alias="TEAMPULSE_COMMANDS_PER_MINUTE"
    )

    @field_validator("min_group")
    @classmethod
    def _min_group_floor(cls, value: int) -> int:
        if value < MIN_GROUP_FLOOR:
            raise ValueError(f"TEAMPULSE_MIN_GROUP must be at least {MIN_GROUP_FLOOR}")
        return value

    @model_validator(mode="after")
    def _comment_group_not_below_min_group(self) -> Settings:
        if self.min_comment_group < self.min_group:
            raise ValueError("TEAMPULSE_MIN_COMMENT_GROUP must not be below TEAMPULSE_MIN_GROUP")
        return self

    @property
    def db_connections(self) -> int:
        """The most PostgreSQL connections one server process opens."""
        return self.db_pool_size + self.db_max_overflow

    @property
    def outbox_lease(self) -> timedelta:
        return timedelta(seconds=self.outbox_lease_seconds)

    @property
    def kudos_values(self) -> dict[str, str]:
        """``tag=Label,tag2=Label 2`` (or bare tags); default: the NHS People Promise."""
        if not self.kudos_values_raw:
            return dict(DEFAULT_KUDOS_VALUES)
        values: dict[str, str] = {}
        for item in self.kudos_values_raw.split(","):
            tag, _, label = item.partition("=")
            if tag.strip():
                values[tag.strip().lstrip("#").lower()] = label.strip() or tag.strip()
        return values

    @property
    def slack_configured(self) -> bool:
        return bool(
            (self.slack_bot_token and self.slack_signing_secret)
            or self.slack_app_token
            or (self.slack_client_id and self.slack_client_secret)
        )

    @property
    def slack_workspaces(self) -> frozenset[str]:
        """``TEAMPULSE_SLACK_WORKSPACES``: the workspace (or Enterprise Grid) ids served."""
        return _listed(self.slack_workspaces_raw)

    def platform_values(self) -> dict[str, str | None]:
        """The variables that configure a platform, by their names, as set (empty: unset)."""
        return {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "SLACK_APP_TOKEN": self.slack_app_token,
            "SLACK_CLIENT_ID": self.slack_client_id,
            "SLACK_CLIENT_SECRET": self.slack_client_secret,
            "TEAMPULSE_SLACK_WORKSPACES": self.slack_workspaces_raw,
            "MicrosoftAppId": self.microsoft_app_id,
            "MicrosoftAppPassword": self.microsoft_app_password,
            "MicrosoftAppTenantId": self.microsoft_app_tenant_id,
            "TEAMPULSE_TEAMS_TENANTS": self.teams_tenants_raw,
            "TEAMPULSE_TEAMS_AUTH": "off" if self.teams_auth == "off" else None,
        }

    def platform_variables(self) -> list[str]:
        """The names of those set: any one turns the local web chat off (unless forced on)."""
        return [name for name, value in self.platform_values().items() if value and value.strip()]

    @property
    def teams_tenants(self) -> frozenset[str]:
        """The tenants served: ``TEAMPULSE_TEAMS_TENANTS``, else a single-tenant app's own
        (``MicrosoftAppTenantId``); empty: none is served (and ``serve`` refuses to start)."""
        listed = _listed(self.teams_tenants_raw)
        if listed:
            return listed
        return frozenset({self.microsoft_app_tenant_id} if self.microsoft_app_tenant_id else ())

    @property
    def teams_configured(self) -> bool:
        """An app id, or ``TEAMPULSE_TEAMS_AUTH=off`` on purpose (local tests without one)."""
        return bool(self.microsoft_app_id) or self.teams_auth == "off"

    @property
    def local_mode(self) -> bool:
        """The web chat lets a visitor act as anyone: on only when no platform variable at all is
        set (a partial one included, which then refuses to start), or forced on."""
        if self.local_chat is not None:
            return self.local_chat == "on"
        return not self.platform_variables()

    @property
    def bind_host(self) -> str:
        """``TEAMPULSE_HOST``; else loopback for what must not be reachable from elsewhere (the
        local web chat, Teams without authentication), every interface otherwise."""
        if self.host:
            return self.host
        unauthenticated = self.teams_auth == "off" and not self.microsoft_app_id
        return "127.0.0.1" if self.local_mode or unauthenticated else "0.0.0.0"

    def workers_problem(self) -> str | None:
        """Why ``TEAMPULSE_WORKERS`` > 1 can't be used with this configuration, if it can't."""
        if self.workers == 1:
            return None
        if not self.database_url.startswith("postgresql"):
            return (
                "TEAMPULSE_WORKERS above 1 needs PostgreSQL (DATABASE_URL=postgresql+asyncpg://…)."
            )
        if self.local_mode:
            return "TEAMPULSE_WORKERS above 1 is for platform mode; the local web chat runs one."
        if self.slack_app_token:
            return "TEAMPULSE_WORKERS above 1 is for HTTP; Socket Mode takes no HTTP requests."
        return None

    def pool_problem(self, limit: int) -> str | None:
        """Why this server's pools could run PostgreSQL out of connections (``limit``: how many
        it allows), if they could: every worker process has its own pool."""
        wanted = self.workers * self.db_connections
        if wanted <= limit:
            return None
        return (
            f"TEAMPULSE_WORKERS ({self.workers}) x (TEAMPULSE_DB_POOL_SIZE {self.db_pool_size} + "
            f"TEAMPULSE_DB_MAX_OVERFLOW {self.db_max_overflow}) = {wanted} connections, more than "
            f"the {limit} PostgreSQL allows (its max_connections, less those it reserves), before "
            "any other replica: lower them, or raise max_connections (docs/deploy.md, "
            '"Sizing the database pool")'
        )

    def hashing_secret(self) -> bytes:
        """The key for participation hashes.

        Production (a platform configured) must set ``TEAMPULSE_SECRET``.  Local mode keeps a
        generated one in a private file (``bot/secret_file.py``) so the demo works with no set-up.
        """
        if self.secret:
            return self.secret.encode()
        if self.platform_variables():
            raise RuntimeError(
                "TEAMPULSE_SECRET is not set. Set it to a long random value "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
            )
        return secret_file.read_or_create(self.local_secret_path)

    @property
    def local_secret_path(self) -> Path:
        """Where local mode's generated secret is kept (``TEAMPULSE_SECRET_FILE``, else beside
        the SQLite database)."""
        return secret_file.secret_path(self.database_url, self.secret_file)


def _listed(raw: str | None) -> frozenset[str]:
    """A comma-separated list's items, stripped, without empty ones."""
    return frozenset({item.strip() for item in (raw or "").split(",")} - {""})

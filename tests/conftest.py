"""Shared fixtures.  Every storage-touching test runs on SQLite and, when ``TEST_DATABASE_URL`` is
set (CI sets it), on PostgreSQL too."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.settings import Settings
from storage.engine import Database
from tests.authz_slack import slack_world  # noqa: F401  (the authorization matrix's)
from tests.databases import scratch_database, templates
from tests.db_proxy import DatabaseProxy, proxied
from tests.fuzz_support import register_fuzz_profiles
from tests.slack_support import slack  # noqa: F401  (the Slack tests' server fixture)
from tests.teams_support import fake, teams  # noqa: F401  (the Teams tests' fixtures)

# every variable that turns a platform on (and so the local web chat off)
PLATFORM_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "TEAMPULSE_SLACK_WORKSPACES",
    "MicrosoftAppId",
    "MicrosoftAppPassword",
    "MicrosoftAppType",
    "MicrosoftAppTenantId",
    "TEAMPULSE_TEAMS_AUTH",
    "TEAMPULSE_TEAMS_TENANTS",
    "TEAMPULSE_LOCAL_CHAT",
    "TEAMPULSE_HOST",
)
register_fuzz_profiles()  # the fuzz tests' budgets (tests/fuzz_support.py): fuzz-ci in CI
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture(scope="session", autouse=True)
def database_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each backend's schema migrated once for the session, copied for each test's database
    (``tests/databases.py``); every template is dropped when the session ends."""
    with templates(tmp_path_factory.mktemp("templates")):
        yield


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database at the schema's head: a SQLite file, or a throwaway PostgreSQL database.
    A copy of the session's template; migrated by Alembic itself for a test marked
    ``@pytest.mark.alembic`` (a test of the migrations)."""
    alembic = request.node.get_closest_marker("alembic") is not None
    async with scratch_database(request.param, tmp_path, alembic=alembic) as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[DatabaseProxy]:
    """A proxy the test controls in front of its database (``tests/db_proxy.py``)."""
    async with proxied(database_url) as (found, _):
        yield found


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Local-mode settings with a known secret; no .env file or platform credentials leak in."""
    for name in PLATFORM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=database_url,
        TEAMPULSE_SECRET="test-secret-not-for-production-0123456789",
        TEAMPULSE_MIN_GROUP=5,
        TEAMPULSE_MIN_COMMENT_GROUP=10,
    )

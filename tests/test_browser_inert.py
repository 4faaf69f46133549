"""Hostile words in the local web chat, in a real browser (headless Chromium): a kudos, comments
in a manager's report, a team name and display names full of HTML, Slack sequences and Markdown
links are shown as text.  Nothing runs, and no element is made from them (the page builds every
node with the DOM API, never from markup)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from bot.server import SERVICE
from bot.service import TeamPulse
from bot.settings import Settings
from storage.engine import Database
from tests import test_browser
from tests.databases import scratch_database
from tests.support import FixedClock, after_the_week, email, import_org, serve
from tests.test_browser import Server, act_as, say
from tests.test_inert_text import HOSTILE_NAME, HOSTILE_ORG, HOSTILE_TEAM

# the browser tests' fixtures (a module-scoped Chromium; a fresh page per test)
browser, page, problems = test_browser.browser, test_browser.page, test_browser.problems
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]

# each would run script, or make an element or a link, if the page read it as markup
HOSTILE = (
    "<img src=x onerror=\"window.pwned='img'\"> <script>window.pwned='script'</script> "
    "<!channel> [link](javascript:window.pwned='link') *bold* `code`"
)
ELEMENTS = "#log img:not(.chart-img), #log script, #log a, #log iframe, #log svg image"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """The real app in local mode on the hostile organisation (so no demo is loaded), with ten
    hostile comments in Ward A's last week, answered through the web chat's own API."""
    folder = tmp_path_factory.mktemp("inert")
    async with scratch_database("sqlite", folder) as url:
        database = Database(url)
        await import_org(database, HOSTILE_ORG)
        await database.dispose()
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            DATABASE_URL=url,
            TEAMPULSE_SECRET="test-secret-not-for-production-0123456789",
            TEAMPULSE_MIN_COMMENT_GROUP=10,
            TEAMPULSE_LOCAL_CHAT="on",
        )
        async for found in _served(settings, folder):
            yield found


async def _served(settings: Settings, folder: Path) -> AsyncIterator[Server]:
    running = await serve(settings)
    service: TeamPulse = running.app[SERVICE]
    service.clock = FixedClock()
    async with aiohttp.ClientSession() as http:
        page_html = await (await http.get(running.url + "/")).text()
        token = page_html.split('name="teampulse-token" content="', 1)[1].split('"', 1)[0]
        await _comment(service, http, running.url, token)
    try:
        yield Server(url=running.url, runner=running.runner, database=folder)
    finally:
        await running.runner.cleanup()


async def _comment(service: TeamPulse, http: aiohttp.ClientSession, url: str, token: str) -> None:
    headers = {"X-Teampulse-Token": token}
    await service.open_round(await service.team_named("Ward A"))
    for i in range(10):
        who = email(f"a{i}")
        inbox = await (await http.get(f"{url}/local/api/inbox?as={who}", headers=headers)).json()
        [card] = [r for r in inbox["replies"] if r["type"] == "pulse"]
        body = {
            "as": who,
            "round_id": card["round_id"],
            "answers": {q["id"]: 4 for q in card["questions"]},
            "comments": {"": f"{i} {HOSTILE}"},
        }
        answered = await http.post(f"{url}/local/api/pulse", json=body, headers=headers)
        assert answered.status == 200, await answered.text()
    await service.close_round(await service.team_named("Ward A"))
    assert isinstance(service.clock, FixedClock)
    await after_the_week(service, service.clock)


async def nothing_ran(page: Page) -> None:
    assert await page.evaluate("window.pwned") is None
    made = await page.locator(ELEMENTS).evaluate_all("els => els.map(e => e.outerHTML)")
    assert made == []


async def test_a_hostile_kudos_is_shown_as_typed(page: Page) -> None:
    await act_as(page, email("a0"))
    await say(page, f"kudos @{email('a1')} {HOSTILE} #teamwork")
    kudos = page.locator("#log .kudos-card").last
    await expect(kudos.locator(".kudos-message")).to_have_text(HOSTILE)
    await expect(kudos).to_contain_text(HOSTILE_NAME)  # the giver's display name, as written
    await nothing_ran(page)


async def test_hostile_comments_in_a_managers_report_are_shown_as_typed(page: Page) -> None:
    await act_as(page, email("manager.a"))
    await say(page, "pulse trends Ward A")
    report = page.locator("#log").get_by_text(re.compile(r"^“?0 <img src=x"))
    await expect(report.first).to_be_visible()
    await expect(page.locator("#log")).to_contain_text(f"3 {HOSTILE}")
    await nothing_ran(page)


async def test_a_hostile_team_name_is_shown_as_typed(page: Page) -> None:
    await act_as(page, email("a0"))
    await say(page, "pulse status")
    await expect(page.locator("#log .bubble-bot").last).to_contain_text(HOSTILE_TEAM)
    await nothing_ran(page)

"""The web chat's pulse card in a real browser when the answers are still being saved: the card
says so and waits, then the receipt takes its place once the commit ends (from the inbox the
page polls), or, if the answers could not be saved after all, the card is answerable again with
the words under it.  Headless Chromium on the real app over PostgreSQL behind the test's proxy
(it holds every ``COMMIT``, ``tests/db_proxy.py``); SQLite has no wait to run out."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Locator, Page, async_playwright, expect

from bot.server import SERVICE
from bot.service import TeamPulse
from bot.settings import Settings
from bot.words import NOT_SAVED_AFTER_ALL, STILL_SAVING
from storage.engine import Database
from storage.models import Response
from tests.conftest import BACKENDS
from tests.db_proxy import DatabaseProxy, through
from tests.support import email, import_org, serve
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, act_as, pulse_cards
from tests.test_db_outage import count

POSTGRESQL = [backend for backend in BACKENDS if backend == "postgresql"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", POSTGRESQL, indirect=True),
]
POLL = 15_000  # ms: the page asks for its inbox every 5 s


@pytest.fixture
async def service_and_page(
    settings: Settings, proxy: DatabaseProxy
) -> AsyncIterator[tuple[TeamPulse, Page]]:
    """The web chat over the proxied database (a person waits 1 s), Ward A's pulse open, and
    a1's page showing it."""
    configured = through(proxy, settings, person_wait=1.0, local_chat="on")
    db = Database(configured.database_url)
    await import_org(db)
    await db.dispose()
    running = await serve(configured)
    service: TeamPulse = running.app[SERVICE]
    await service.open_round(await service.team_named("Ward A"))
    await service.deliver_outbox()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": 1366, "height": 1800})
        context.set_default_timeout(15_000)
        page = await context.new_page()
        await page.goto(running.url + "/")
        await act_as(page, email("a1"))
        yield service, page
        await browser.close()
    await running.runner.cleanup()


async def answer_all(page: Page) -> None:
    card = pulse_cards(page)
    await expect(card).to_have_count(1)
    questions = card.get_by_role("group")
    for index in range(await questions.count()):
        await questions.nth(index).get_by_role("radio", name="Agree", exact=True).check()


async def submit_while_commits_are_held(page: Page, proxy: DatabaseProxy) -> Locator:
    """Answer the card and submit it while the database holds every ``COMMIT``: the card says
    "still saving".  Returns the card."""
    await answer_all(page)
    proxy.hold_commits()
    card = pulse_cards(page)
    await card.get_by_role("button", name="Submit answers").click()
    await expect(card).to_contain_text(STILL_SAVING)
    return card


async def test_the_card_says_still_saving_then_the_receipt_takes_its_place(
    service_and_page: tuple[TeamPulse, Page], proxy: DatabaseProxy
) -> None:
    service, page = service_and_page
    card = await submit_while_commits_are_held(page, proxy)
    submit = card.get_by_role("button", name="Saving…")
    await expect(submit).to_be_disabled()  # no second card while the first is committing

    proxy.release_commits()
    await expect(page.locator(".receipt")).to_be_visible(timeout=POLL)
    await expect(pulse_cards(page)).to_have_count(0)
    assert await count(service.db, Response) > 0


async def test_the_card_is_answerable_again_when_its_answers_fail_after_all(
    service_and_page: tuple[TeamPulse, Page], proxy: DatabaseProxy
) -> None:
    service, page = service_and_page
    card = await submit_while_commits_are_held(page, proxy)
    await proxy.down()  # the held COMMIT never reaches the database
    await proxy.up()

    await expect(card).to_contain_text(NOT_SAVED_AFTER_ALL, timeout=POLL)
    submit = card.get_by_role("button", name="Submit answers")
    await expect(submit).to_be_enabled()  # every answer still chosen
    assert await count(service.db, Response) == 0
    await submit.click()
    await expect(page.locator(".receipt")).to_be_visible()
    await expect(page.locator(".receipt")).to_contain_text(re.compile("can't be changed"))

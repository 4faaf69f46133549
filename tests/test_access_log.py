"""The real server's access log never puts a person beside a pulse submission (issue 8, part 3).

``teampulse serve`` runs as an operator runs it, in local mode (the web chat, whose requests say
who the visitor acts as); people open and answer their pulse through it one at a time, and the
log the server wrote (its standard error) is read afterwards.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import aiohttp

from bot.settings import Settings
from storage.engine import Database
from tests.support import FixedClock, answers_for, email, make_service
from tests.test_workers import free_port, serving

PEOPLE = ["a3", "a7", "a1"]


def local_env(settings: Settings, port: int) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "Microsoft"))}
    return {
        **keep,
        "DATABASE_URL": settings.database_url,
        "TEAMPULSE_SECRET": "test-secret-not-for-production-0123456789",
        "TEAMPULSE_HOST": "127.0.0.1",
        "PORT": str(port),
    }


async def test_the_access_log_names_no_one_beside_a_pulse_submission(
    db: Database, settings: Settings
) -> None:
    # today's date: the server's scheduler closes rounds whose day has passed
    service, _ = await make_service(db, settings, FixedClock(datetime.now(UTC)))
    await service.open_round(await service.team_named("Ward A"))
    [card] = await service.pending_pulses(email("a0"))
    async with (
        serving(local_env(settings, free_port())) as server,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(server.url + "/") as page:
            found = re.search(r'name="teampulse-token" content="([^"]+)"', await page.text())
        assert found is not None
        headers = {"X-Teampulse-Token": found.group(1)}
        for name in PEOPLE:  # as the page does: the inbox, the answer, the inbox again
            who = email(name)
            async with http.get(f"{server.url}/local/api/inbox?as={quote(who)}", headers=headers):
                pass
            body = {"as": who, "round_id": card.round_id, "answers": answers_for(card)}
            async with http.post(server.url + "/local/api/pulse", json=body, headers=headers) as r:
                assert "answers to the Ward A pulse are in" in await r.text()
            async with http.get(f"{server.url}/local/api/inbox?as={quote(who)}", headers=headers):
                pass
    log = Path("serve.log").read_text()
    assert log.count("POST /local/api/pulse") == len(PEOPLE), log  # the access log is on
    assert log.count("GET /local/api/inbox") == 2 * len(PEOPLE), log
    for name in PEOPLE:
        for form in (email(name), quote(email(name)), quote(email(name), safe=""), f"{name}%40"):
            assert form not in log, (form, log)
    assert "as=" not in log and "127.0.0.1 [" not in log

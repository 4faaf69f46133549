"""``TEAMPULSE_METRICS_PORT``: ``/metrics`` on its own port only, never on the public server,
counting a pulse round answered through the local web chat's real routes."""

from __future__ import annotations

import re

import aiohttp

from bot.server import SERVICE
from bot.settings import Settings
from storage.engine import Database
from tests.support import answers_for, email, import_org, serve
from tests.test_workers import free_port


async def test_metrics_on_their_own_port_with_a_token_count_a_round(
    db: Database, settings: Settings
) -> None:
    port = free_port()
    configured = settings.model_copy(
        update={"metrics_port": port, "metrics_token": "a-scrape-token-0123456789"}
    )
    await import_org(db)  # the Test Trust
    running = await serve(configured)  # an organisation is there: no demo trust is loaded
    service = running.app[SERVICE]
    private = f"http://{configured.bind_host}:{port}"
    try:
        await service.open_round(await service.team_named("Ward A"))
        async with aiohttp.ClientSession() as http:
            async with http.get(running.url + "/") as page:
                found = re.search(r'name="teampulse-token" content="([^"]+)"', await page.text())
            assert found is not None
            headers = {"X-Teampulse-Token": found.group(1)}
            people = [email(f"a{i}") for i in range(3)]
            for person in people:
                [card] = await service.pending_pulses(person)
                body = {"as": person, "round_id": card.round_id, "answers": answers_for(card)}
                async with http.post(
                    running.url + "/local/api/pulse", json=body, headers=headers
                ) as answered:
                    assert answered.status == 200
            async with http.get(running.url + "/metrics") as public:
                assert public.status == 404  # not on the public server at all
            async with http.get(private + "/metrics") as refused:
                assert refused.status == 401
            bearer = {"Authorization": "Bearer a-scrape-token-0123456789"}
            async with http.get(private + "/metrics", headers=bearer) as scraped:
                assert scraped.status == 200
                metrics = await scraped.text()
    finally:
        await running.runner.cleanup()
    assert f"teampulse_pulse_submissions_total {len(people)}.0" in metrics
    assert 'teampulse_http_requests_total{route="/local/api/pulse",status="200"}' in metrics
    assert "_created" not in metrics
    assert not any(person in metrics for person in people)

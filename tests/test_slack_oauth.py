"""Slack over OAuth (many workspaces) and Socket Mode wiring, against the fake Slack Web API."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlparse

import aiohttp
import pytest
from sqlalchemy import text

from adapters.slack import SlackPlatform, slack_mode
from adapters.slack.oauth import MAX_STATES
from bot.platforms import IdentityRouter, enabled_platforms
from bot.settings import Settings
from tests.fake_slack import CLIENT_ID, TOKEN
from tests.slack_support import SECRET, Slack, event_callback, over_oauth, texts, uid
from tests.support import email


@pytest.fixture
async def oauth_slack(settings: Settings) -> AsyncIterator[Slack]:
    # (T0OTHER is served but never installs)
    users = {uid("a0"): (email("a0"), None)}
    async with over_oauth(settings, workspaces="T0NEW,T0OTHER", users=users) as slack:
        yield slack


async def test_install_over_oauth_then_requests_use_the_stored_token(oauth_slack: Slack) -> None:
    slack, fake = oauth_slack, oauth_slack.fake
    page = await slack.http.get(slack.url + "/slack/install", allow_redirects=False)
    assert page.status == 200
    link = re.search(r'https://slack\.com/oauth/v2/authorize\?[^"\']+', await page.text())
    assert link is not None
    query = parse_qs(urlparse(link.group(0).replace("&amp;", "&")).query)
    assert query["client_id"] == [CLIENT_ID] and "chat:write" in query["scope"][0]
    [state] = query["state"]
    cookie = "; ".join(f"{k}={v.value}" for k, v in page.cookies.items())

    bad = await slack.http.get(
        slack.url + "/slack/oauth_redirect?" + urlencode({"code": "c1", "state": "forged"}),
        headers={"Cookie": cookie},
    )
    assert 400 <= bad.status < 500
    assert fake.called("oauth.v2.access") == []

    fake.add_install_code("c1", "T0NEW", "xoxb-new-workspace")
    done = await slack.http.get(
        slack.url + "/slack/oauth_redirect?" + urlencode({"code": "c1", "state": state}),
        headers={"Cookie": cookie},
        allow_redirects=False,
    )
    assert done.status == 200, await done.text()
    [exchange] = fake.called("oauth.v2.access")
    assert exchange.params["code"] == "c1"
    async with slack.service.db.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT team_id, bot_token FROM slack_bots"))).all()
    [(team, stored)] = rows  # the token is sealed at rest (tests/test_sealed_credentials.py)
    assert team == "T0NEW" and stored.startswith("gAAAAA") and "xoxb" not in stored
    # the state is single-use
    again = await slack.http.get(
        slack.url + "/slack/oauth_redirect?" + urlencode({"code": "c1", "state": state}),
        headers={"Cookie": cookie},
    )
    assert 400 <= again.status < 500

    body = urlencode(
        {
            "team_id": "T0NEW",
            "channel_id": "C1",
            "user_id": uid("a0"),
            "command": "/pulse",
            "text": "help",
            "api_app_id": "A0TEST",
            "response_url": fake.response_url("oauth-help"),
            "trigger_id": "1.2.3",
        }
    )
    response = await slack.post(body, "application/x-www-form-urlencoded")
    assert response.status == 200
    [reply] = await fake.wait_for("response_url")
    assert "kudos" in texts(reply.params)
    [lookup] = await fake.wait_for("users.info")
    assert lookup.params["_token"] == "xoxb-new-workspace"
    assert all(call.params.get("_token") != TOKEN for call in fake.calls)

    # a workspace that is listed but never installed the app is not served
    seen = len(fake.calls)
    stranger = body.replace("T0NEW", "T0OTHER")
    refused = await slack.post(stranger, "application/x-www-form-urlencoded")
    assert refused.status < 500
    await fake.wait_for("response_url", lambda c: "install" in texts(c.params))
    assert [c.method for c in fake.calls[seen:]] == ["response_url"]  # no Web API call


def test_socket_mode_is_chosen_with_an_app_token_and_needs_no_events_url(
    settings: Settings,
) -> None:
    socket = settings.model_copy(
        update={"slack_app_token": "xapp-1-A0-1-abc", "slack_bot_token": TOKEN, "local_chat": None}
    )
    assert slack_mode(socket) == "socket" and not socket.local_mode
    [platform] = enabled_platforms(socket)
    assert platform.name == "slack" and getattr(platform, "mode", None) == "socket"
    http = settings.model_copy(update={"slack_bot_token": TOKEN, "slack_signing_secret": SECRET})
    assert slack_mode(http) == "http"
    with pytest.raises(ValueError, match="SLACK_APP_TOKEN"):
        slack_mode(settings.model_copy(update={"slack_app_token": "xapp-1"}))


async def install_from(
    slack: Slack, code: str, team: str, token: str | None = None
) -> aiohttp.ClientResponse:
    """Someone in ``team`` opens the install link, approves in Slack, and comes back with
    ``code`` (the fake's ``oauth.v2.access`` gives a token in ``team`` for it)."""
    page = await slack.http.get(slack.url + "/slack/install", allow_redirects=False)
    link = re.search(r"state=([\w-]+)", await page.text())
    assert link is not None
    cookie = "; ".join(f"{k}={v.value}" for k, v in page.cookies.items())
    slack.fake.add_install_code(code, team, token or f"xoxb-{team}")
    return await slack.http.get(
        slack.url + "/slack/oauth_redirect?" + urlencode({"code": code, "state": link.group(1)}),
        headers={"Cookie": cookie},
        allow_redirects=False,
    )


async def installed_workspaces(slack: Slack) -> list[str]:
    async with slack.service.db.engine.connect() as connection:
        return list((await connection.execute(text("SELECT team_id FROM slack_bots"))).scalars())


async def test_an_install_from_a_workspace_not_listed_is_refused_and_not_kept(
    oauth_slack: Slack,
) -> None:
    slack, fake = oauth_slack, oauth_slack.fake
    refused = await install_from(slack, "c-stranger", "T0STRANGER")
    page = await refused.text()
    assert refused.status == 403 and "not served" in page
    assert "T0STRANGER" in page and "TEAMPULSE_SLACK_WORKSPACES" in page
    assert await installed_workspaces(slack) == []
    # the token Slack issued for it is handed back: the app holds nothing in that workspace
    [revoked] = fake.called("auth.revoke")
    assert revoked.params["_token"] == "xoxb-T0STRANGER"  # sent as the bearer token
    assert "token" not in revoked.params  # (not in the URL, where a proxy would log it)
    assert "xoxb-T0STRANGER" not in fake.tokens and "has been revoked" in page

    listed = await install_from(slack, "c-new", "T0NEW")
    assert listed.status == 200 and await installed_workspaces(slack) == ["T0NEW"]


async def test_a_refused_install_whose_token_could_not_be_revoked_says_how_to_remove_it(
    oauth_slack: Slack,
) -> None:
    slack, fake = oauth_slack, oauth_slack.fake
    fake.fail_next("auth.revoke")
    refused = await install_from(slack, "c-stranger", "T0STRANGER")
    page = await refused.text()
    assert refused.status == 403 and "not served" in page
    assert "could not be revoked" in page and "remove the app" in page
    assert await installed_workspaces(slack) == []
    assert len(fake.called("auth.revoke")) == 1


async def test_signed_requests_from_a_workspace_not_listed_are_refused(
    oauth_slack: Slack,
) -> None:
    slack, fake = oauth_slack, oauth_slack.fake
    assert (await install_from(slack, "c-new", "T0NEW")).status == 200
    seen = len(fake.calls)
    command = urlencode(
        {
            "team_id": "T0STRANGER",
            "user_id": uid("a0"),
            "command": "/pulse",
            "text": "help",
            "response_url": fake.response_url("stranger-help"),
            "trigger_id": "1.2.3",
        }
    )
    refused = await slack.post(command, "application/x-www-form-urlencoded")
    assert refused.status == 403 and "not served" in await refused.text()

    message = {"type": "message", "channel": "D1", "user": uid("a0"), "text": "pulse help"}
    envelope = json.dumps(event_callback(message, "Ev-stranger", team="T0STRANGER"))
    dropped = await slack.post(envelope, "application/json")
    assert dropped.status == 200 and dropped.headers.get("X-Slack-No-Retry") == "1"
    async with slack.service.db.engine.connect() as connection:
        taken = (await connection.execute(text("SELECT count(*) FROM inbound_event"))).scalar()
    assert taken == 0  # dropped before anything was recorded
    assert fake.calls[seen:] == []  # and nothing answered or looked up

    served = await slack.post(
        command.replace("T0STRANGER", "T0NEW"), "application/x-www-form-urlencoded"
    )
    assert served.status == 200
    [reply] = await fake.wait_for("response_url")
    assert "kudos" in texts(reply.params)


async def _install_link(slack: Slack) -> tuple[str, str]:
    """Start an install as a browser does: the link's state and the cookie that goes with it."""
    page = await slack.http.get(slack.url + "/slack/install", allow_redirects=False)
    assert page.status == 200
    link = re.search(r'https://slack\.com/oauth/v2/authorize\?[^"\']+', await page.text())
    assert link is not None
    [state] = parse_qs(urlparse(link.group(0).replace("&amp;", "&")).query)["state"]
    return state, "; ".join(f"{k}={v.value}" for k, v in page.cookies.items())


def oauth_platform(slack: Slack) -> SlackPlatform:
    router = slack.service.messenger
    assert isinstance(router, IdentityRouter)
    [platform] = [p for p in router.platforms if isinstance(p, SlackPlatform)]
    return platform


async def _states(slack: Slack) -> list[str]:
    async with slack.service.db.engine.connect() as connection:
        rows = await connection.execute(text("SELECT state FROM slack_oauth_states ORDER BY id"))
        return [str(row[0]) for row in rows]


async def test_unused_install_links_are_pruned_and_the_table_stays_bounded(
    oauth_slack: Slack,
) -> None:
    slack, fake = oauth_slack, oauth_slack.fake
    first, _ = await _install_link(slack)
    # the first link has expired unused: the next install start deletes it
    async with slack.service.db.engine.begin() as connection:
        await connection.execute(
            text("UPDATE slack_oauth_states SET expire_at = :past WHERE state = :state"),
            {"past": datetime(2020, 1, 1), "state": first},
        )
    second, _ = await _install_link(slack)
    assert await _states(slack) == [second]

    # a flood of install starts (over minutes, or from several processes: one process issues at
    # most INSTALL_LINKS_PER_MINUTE a minute, tests/test_unbounded_growth.py) keeps only the
    # newest MAX_STATES links
    installations = oauth_platform(slack).installations
    assert installations is not None
    issued = []
    for _ in range(MAX_STATES + 30):
        await installations.prune_states()
        issued.append(await installations.states.async_issue())
    state, cookie = await _install_link(slack)
    kept = await _states(slack)
    assert len(kept) == MAX_STATES
    assert kept == [*issued[-(MAX_STATES - 1) :], state]

    # the newest link still installs
    fake.add_install_code("c9", "T0NEW", "xoxb-new-workspace")
    done = await slack.http.get(
        slack.url + "/slack/oauth_redirect?" + urlencode({"code": "c9", "state": state}),
        headers={"Cookie": cookie},
        allow_redirects=False,
    )
    assert done.status == 200, await done.text()

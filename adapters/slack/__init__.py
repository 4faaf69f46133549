"""The Slack platform: slack-bolt's ``AsyncApp`` on the project's aiohttp server.

This version runs a single workspace over HTTP (``SLACK_BOT_TOKEN`` + ``SLACK_SIGNING_SECRET``).
OAuth distribution, Socket Mode and the App Home tab plug in here later.
"""

from __future__ import annotations

from aiohttp import web

from adapters.slack.app import EVENTS_PATH, SlackGate, bolt_app, web_client
from adapters.slack.identity import SlackDirectory
from adapters.slack.listeners import SlackListeners
from adapters.slack.messenger import SlackMessenger
from bot.server import SERVICE
from bot.settings import Settings


class SlackPlatform:
    name = "slack"

    def __init__(self, settings: Settings) -> None:
        if not (settings.slack_bot_token and settings.slack_signing_secret):
            raise ValueError("Slack needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
        self.settings = settings
        self.client = web_client(settings, settings.slack_bot_token)
        self.directory = SlackDirectory(self.client)
        self.messenger = SlackMessenger(self.client, self.directory)
        self.bolt = bolt_app(settings, self.client)
        SlackListeners(self.directory, self.messenger).register(self.bolt)
        self.gate = SlackGate(self.bolt, settings.slack_signing_secret)

    def install(self, app: web.Application) -> None:
        self.directory.bind(app[SERVICE])
        app.router.add_post(EVENTS_PATH, self.gate.handle)


def platform(settings: Settings) -> SlackPlatform:
    return SlackPlatform(settings)

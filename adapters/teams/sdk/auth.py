"""The bot's own credentials and Bot Connector clients, kept from one turn to the next.

Left to itself, botbuilder's ``CloudAdapter`` builds for every activity a ``ConnectorClient`` and
a user-token client (about 3 ms of CPU each: msrest rebuilds a 500-code retry list every time),
each with new ``MicrosoftAppCredentials`` whose MSAL application starts with an empty token
cache.  Every reply then asked Azure AD for a new token, and asked it from msrest's credentials
policy (``AppCredentials.signed_session``): a blocking HTTPS call on the event loop.

``Authentication`` is botbuilder's ``ConfigurationBotFrameworkAuthentication`` (every request is
still authenticated by it) with only that changed:

* one credentials object per (app id, scope, login endpoint, authority validation), so MSAL's
  cache serves the token until it is about to expire;
* the token is put on each Bot Connector request by an async policy (``_Bearer``) that asks MSAL
  from a worker thread, one task at a time, and reuses the answer for ``REUSE_SECONDS`` (MSAL
  never hands out a token with less than five minutes left): the event loop never waits on
  Azure AD;
* one ``ConnectorClient`` per (app id, service URL, audience) for inbound turns, and another for
  proactive calls, whose HTTP layer never retries (``adapters/teams/pacing.py`` paces and retries
  them, so one call there is one request); one user-token client per app id;
* a channel sends the same token with every activity until it expires, and botbuilder checks it
  again each time (decoding it four times and verifying its RSA signature): the outcome of a
  successful check is kept for that token, service URL and channel until the token's own
  expiry (``exp``, without botbuilder's five minutes of tolerance).  A token that fails is
  checked again every time.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any, Generic, TypeVar

import requests
from botbuilder.integration.aiohttp import (
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botframework.connector.auth import (
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    ServiceClientCredentialsFactory,
)
from msal import ConfidentialClientApplication  # type: ignore[import-untyped]
from msrest.exceptions import ClientRequestError
from msrest.pipeline.async_abc import AsyncHTTPPolicy, AsyncPipeline
from msrest.pipeline.async_requests import AsyncPipelineRequestsHTTPSender
from msrest.pipeline.universal import RawDeserializer
from msrest.universal_http.async_requests import AsyncRequestsHTTPSender

REUSE_SECONDS = 240.0  # under the five minutes of life MSAL leaves any token it hands out
CLIENTS_KEPT = 64  # connector clients per kind (Teams has a handful of service URLs)
TOKENS_KEPT = 1024  # channel tokens whose check is kept (one per channel and hour, or so)

Key = TypeVar("Key")
Value = TypeVar("Value")


class AppToken:
    """The bot's own token for one credentials object, fetched off the event loop."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials
        self._lock = asyncio.Lock()
        self._token = ""
        self._fresh_until = 0.0
        app_id = getattr(credentials, "microsoft_app_id", None)
        # (botbuilder's own rule: no app id, or a skill's anonymous one, sends no token)
        self.needed = bool(app_id) and app_id != AuthenticationConstants.ANONYMOUS_SKILL_APP_ID

    async def get(self) -> str:
        if time.monotonic() >= self._fresh_until:
            async with self._lock:  # one fetch for every request waiting on it
                if time.monotonic() >= self._fresh_until:
                    self._token = await asyncio.to_thread(_fetch, self._credentials)
                    self._fresh_until = time.monotonic() + REUSE_SECONDS
        return self._token


def _fetch(credentials: Any) -> str:
    """From MSAL's cache, or from Azure AD (blocking: run in a worker thread).

    botbuilder's credentials build their MSAL application with authority validation on, whatever
    ``validate_authority`` they were made with; validation asks login.microsoftonline.com about
    the authority, which an authority of one's own (``TEAMPULSE_TEAMS_LOGIN_URL``) is not known
    to.  Such credentials get their MSAL application here, with validation as configured."""
    if getattr(credentials, "validate_authority", True) is False and credentials.app is None:
        credentials.app = ConfidentialClientApplication(
            client_id=credentials.microsoft_app_id,
            client_credential=credentials.microsoft_app_password,
            authority=credentials.oauth_endpoint,
            validate_authority=False,
        )
    return str(credentials.get_access_token())


class _Bearer(AsyncHTTPPolicy[Any, Any]):
    """msrest's credentials policy without the blocking: the token awaited, then the request."""

    def __init__(self, token: AppToken) -> None:
        super().__init__()
        self._token = token

    async def send(self, request: Any, **kwargs: Any) -> Any:
        if self._token.needed:
            try:
                token = await self._token.get()
            except requests.RequestException as error:  # (as msrest's own policy reports it)
                raise ClientRequestError("Azure AD could not be reached", error) from error
            request.http_request.headers["Authorization"] = f"Bearer {token}"
        assert self.next is not None, "a policy in a pipeline has a next"
        return await self.next.send(request, **kwargs)


def _pipeline(config: Any, token: AppToken) -> AsyncPipeline[Any, Any]:
    """msrest's default async pipeline, with ``_Bearer`` in place of its credentials policy."""
    logger = config.http_logger_policy
    policies = [config.user_agent_policy, _Bearer(token), RawDeserializer(), logger]
    return AsyncPipeline(policies, AsyncPipelineRequestsHTTPSender(AsyncRequestsHTTPSender(config)))


def _no_retries(config: Any) -> None:
    """msrest retries some statuses itself (502s of GETs and PUTs, and any 429 with a
    ``Retry-After``, sleeping in a thread); a proactive call's only retries are its caller's.
    (``retries`` is msrest's setting; the status list is urllib3's.)"""
    policy = config.retry_policy
    policy.retries = 0
    policy.policy.status_forcelist = None
    policy.policy.respect_retry_after_header = False
    policy.policy.raise_on_status = False


class ReusedCredentials(ServiceClientCredentialsFactory):  # type: ignore[misc]
    """botbuilder's credentials factory (for the configured app type), each credentials object
    made once and kept, with its ``AppToken``."""

    def __init__(self, inner: ServiceClientCredentialsFactory) -> None:
        self._inner = inner
        self._made: dict[tuple[str, str, str, bool], Any] = {}
        self._tokens: dict[int, AppToken] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(await self._inner.is_valid_app_id(app_id))

    async def is_authentication_disabled(self) -> bool:
        return bool(await self._inner.is_authentication_disabled())

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Any:
        key = (app_id, oauth_scope, login_endpoint, validate_authority)
        if key not in self._made:
            made = await self._inner.create_credentials(*key)
            self._made[key] = made
            self._tokens[id(made)] = AppToken(made)
        return self._made[key]

    def token_for(self, credentials: Any) -> AppToken:
        """The token of credentials made here (kept for good, so their ids stay theirs)."""
        return self._tokens.get(id(credentials)) or AppToken(credentials)


class _Kept(OrderedDict[Key, Value], Generic[Key, Value]):
    """The ``limit`` most recently used entries."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def find(self, key: Key) -> Value | None:
        found = self.get(key)
        if found is not None:
            self.move_to_end(key)
        return found

    def keep(self, key: Key, value: Value) -> None:
        self[key] = value
        while len(self) > self.limit:
            self.popitem(last=False)


Clients = _Kept[tuple[str, str, str], Any]


class _Connectors(ConnectorFactory):  # type: ignore[misc]
    """botbuilder's connector factory, each client built once per (app id, service URL,
    audience) and kept."""

    def __init__(
        self,
        inner: ConnectorFactory,
        app_id: str,
        kept: Clients,
        credentials: ReusedCredentials,
        proactive: bool,
    ) -> None:
        self._inner, self._app_id, self._kept = inner, app_id, kept
        self._credentials, self._proactive = credentials, proactive

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        key = (self._app_id, service_url, audience or "")
        client = self._kept.find(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            token = self._credentials.token_for(client.config.credentials)
            client.config.pipeline = _pipeline(client.config, token)
            if self._proactive:
                _no_retries(client.config)
            self._kept.keep(key, client)
        return client


def _app_id(claims_identity: ClaimsIdentity) -> str:
    """Whose app the turn's connector acts for (botbuilder's rule: ``aud``, else ``appid``)."""
    claims = claims_identity.claims or {}
    found = claims.get(AuthenticationConstants.AUDIENCE_CLAIM)
    found = found if found is not None else claims.get(AuthenticationConstants.APP_ID_CLAIM)
    return str(found or "")


class Authentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """``ConfigurationBotFrameworkAuthentication`` with credentials and clients kept."""

    def __init__(self, configuration: Any) -> None:
        self.credentials = ReusedCredentials(
            ConfigurationServiceClientCredentialFactory(configuration)
        )
        self._inner = ConfigurationBotFrameworkAuthentication(
            configuration, credentials_factory=self.credentials
        )
        self._inbound: Clients = _Kept(CLIENTS_KEPT)
        self._proactive: Clients = _Kept(CLIENTS_KEPT)
        self._user_tokens: dict[str, Any] = {}
        # (token, channel, service URL) -> the check's result, and until when it holds
        self._checked: _Kept[tuple[str, str, str], tuple[Any, float]] = _Kept(TOKENS_KEPT)

    def _connectors(self, claims: ClaimsIdentity, inner: Any, proactive: bool) -> _Connectors:
        kept = self._proactive if proactive else self._inbound
        return _Connectors(inner, _app_id(claims), kept, self.credentials, proactive)

    async def authenticate_request(self, activity: Any, auth_header: str) -> Any:
        """botbuilder's check (a ``PermissionError`` or another exception when it fails), or
        the kept outcome of the same token's earlier check, while that token lasts."""
        key = (auth_header or "", activity.channel_id or "", activity.service_url or "")
        kept = self._checked.find(key) if auth_header else None
        if kept is not None and time.time() < kept[1]:
            return kept[0]
        result = await self._inner.authenticate_request(activity, auth_header)
        result.connector_factory = self._connectors(
            result.claims_identity, result.connector_factory, proactive=False
        )
        expiry = (result.claims_identity.claims or {}).get("exp")
        if auth_header and isinstance(expiry, int | float):
            self._checked.keep(key, (result, float(expiry)))
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id: str) -> Any:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        """The connector factory of proactive calls (``continue_conversation`` and
        ``create_conversation``)."""
        inner = self._inner.create_connector_factory(claims_identity)
        return self._connectors(claims_identity, inner, proactive=True)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> Any:
        app_id = _app_id(claims_identity)
        if app_id not in self._user_tokens:
            client = await self._inner.create_user_token_client(claims_identity)
            self._user_tokens[app_id] = client
        return self._user_tokens[app_id]

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)

"""The Bot Connector's calls, paced to Teams' limits and retried within bounds.

* Pacing (``aiolimiter``): at most 7 calls a second per conversation (Teams' limit per bot per
  thread) and ``TEAMPULSE_TEAMS_TENANT_RPS`` (default 30) per tenant (the per-app, per-tenant
  budget).  The limits are this process's: several replicas each keep their own.
* Retries (``tenacity``): a 429 waits the ``Retry-After`` Teams gave; 412, 502 and 504 back off
  exponentially with jitter.  At most ``MAX_TRIES`` tries and ``MAX_WAIT`` seconds of waiting
  per call; past either the error is raised and the outbox tries the row again later.

A pulse is sent with no database transaction open, but it holds one of the outbox's slots and
its row's lease while it waits, so every wait here is short and bounded: a long ``Retry-After``
is not waited out, it is raised at once and the outbox retries the row later.
A send whose answer was lost (a 502 after Teams posted it, say) may be sent again: that repeat is
the one duplicate a retry can make.  Teams can't be asked whether a message arrived
(``TeamsMessenger.delivered`` answers ``None``), so a process killed mid-round also has its sends
in flight sent again by the outbox once their lease runs out: the bound on duplicates is the sends
in flight, ``TEAMPULSE_OUTBOX_CONCURRENCY``, per process crash (README, "Connect Microsoft Teams").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.stop import stop_after_attempt, stop_base
from tenacity.wait import wait_base, wait_exponential_jitter

from adapters.teams.references import Json, conversation_id, tenant_of
from adapters.teams.sdk import ConnectorError, Outbound, RosterPage
from bot.identities import LRU

RETRIED = frozenset({412, 429, 502, 504})
MAX_TRIES = 4
MAX_WAIT = 10.0  # seconds waited, in all, for one call (it holds an outbox slot meanwhile)
PER_CONVERSATION = 7  # calls a second (Teams: 7 per second per bot per thread)
CONVERSATIONS_KEPT = 5_000  # conversations whose pace is remembered

Result = TypeVar("Result")
Sleep = Callable[[float], Awaitable[None]]


def retryable(error: BaseException) -> bool:
    return isinstance(error, ConnectorError) and error.status in RETRIED


class wait_as_told(wait_base):
    """A 429's ``Retry-After``; otherwise exponential back-off with jitter."""

    def __init__(self) -> None:
        self.backoff = wait_exponential_jitter(multiplier=0.5, max=4, jitter=0.5)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        told = told_wait(error)
        return told if told is not None else float(self.backoff(retry_state))


def told_wait(error: BaseException | None) -> float | None:
    """The seconds a 429 asked to wait (``Retry-After``), if it said."""
    if isinstance(error, ConnectorError) and error.status == 429:
        return error.retry_after
    return None


class stop_past_budget(stop_base):
    """Stop before the waits of one call would add up to more than ``budget`` seconds (counted
    from the waits themselves, so a long ``Retry-After`` is refused at once)."""

    def __init__(self, budget: float) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for + retry_state.upcoming_sleep > self.budget


class Paced:
    """The Bot Connector's calls (``Outbound``), each paced and retried: the adapter's API."""

    def __init__(
        self, connector: Outbound, tenant_rate: float, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.connector = connector
        self.tenant_rate = tenant_rate
        self.sleep = sleep  # (tests count the waits instead of sleeping them)
        self._conversations: LRU[str, AsyncLimiter] = LRU(CONVERSATIONS_KEPT)
        self._tenants: dict[str, AsyncLimiter] = {}

    async def send(self, reference: Json, activity: Json) -> str:
        """Send in the referenced conversation; the new message's id."""
        return await self._call(
            conversation_id(reference),
            tenant_of(reference),
            lambda: self.connector.send(reference, activity),
        )

    async def update(self, reference: Json, message_id: str, activity: Json) -> None:
        await self._call(
            conversation_id(reference),
            tenant_of(reference),
            lambda: self.connector.update(reference, message_id, activity),
        )

    async def open_personal_chat(self, service_url: str, tenant: str, account: str) -> Json:
        return await self._call(
            f"open:{account}",
            tenant,
            lambda: self.connector.open_personal_chat(service_url, tenant, account),
        )

    async def roster(self, reference: Json, team: str | None = None) -> list[Json]:
        """Every member of the team, each page paced and retried on its own."""
        conversation, tenant = conversation_id(reference), tenant_of(reference)

        async def each_page(fetch: Callable[[], Awaitable[RosterPage]]) -> RosterPage:
            return await self._call(conversation, tenant, fetch)

        return await self.connector.roster(reference, team, each_page=each_page)

    async def _call(
        self, conversation: str, tenant: str, call: Callable[[], Awaitable[Result]]
    ) -> Result:
        retrying = AsyncRetrying(
            sleep=self.sleep,
            stop=stop_after_attempt(MAX_TRIES) | stop_past_budget(MAX_WAIT),
            wait=wait_as_told(),
            retry=retry_if_exception(retryable),
            reraise=True,
        )

        async def paced() -> Result:
            async with self._conversation_limit(conversation), self._tenant_limit(tenant):
                return await call()

        result: Result = await retrying(paced)
        return result

    def _conversation_limit(self, conversation: str) -> AsyncLimiter:
        limiter = self._conversations.get(conversation)
        if limiter is None:
            limiter = AsyncLimiter(PER_CONVERSATION, 1)
        self._conversations.remember(conversation, limiter)
        return limiter

    def _tenant_limit(self, tenant: str) -> AsyncLimiter:
        limiter = self._tenants.get(tenant)
        if limiter is None:
            limiter = self._tenants[tenant] = AsyncLimiter(self.tenant_rate, 1)
        return limiter

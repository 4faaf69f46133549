"""The Web API's calls, paced per workspace and per method, and one shared pause on a 429.

Slack limits each method per app per workspace (``Retry-After`` on a 429 says how long to stop)
and publishes the limits only as floors: Tier 2 "20+ a minute", Tier 3 "50+", Tier 4 "100+";
``chat.postMessage`` about one a second per channel with short bursts, under a workspace-wide
cap it does not publish.  So the pace of each (workspace, method) *lane* is learnt:

* **Unpaced until Slack first says no** (or ``TEAMPULSE_SLACK_POST_RATE`` to start
  ``chat.postMessage`` at a known rate).  Pacing every lane at its published floor would make a
  first round to 1,000 people take 20 minutes on ``conversations.open`` alone (Tier 3), though
  the tiers are only floors ("50+"); Slack's 429 is the one authoritative signal.  The price:
  the first burst against a limit costs up to one 429 per send then in flight.
* **On a 429 the whole lane pauses** until ``Retry-After``: every call of that method in that
  workspace waits for the same moment (one pause, not one sleep per send in flight), and its
  retry takes a fresh turn.  The lane is then paced at ``DECREASE`` of the rate Slack accepted
  over the last second (what it evidently allows, a little under), never below the method's
  tier.  The
  429s of calls sent before that decrease only extend the pause: one decrease per burst.
* **Probing upward** while no 429 comes, and only while the lane is kept busy: every
  ``PROBE_EVERY`` seconds its rate grows by ``PROBE_STEP`` (additive-increase,
  multiplicative-decrease, slow on purpose: each 429 costs a whole ``Retry-After`` pause, at
  least a second).  A 429 that came with too little accepted just before to measure (fewer than
  ``EVIDENCE`` calls: the process had only started, say) paces the lane at its floor and then
  doubles it every ``START_EVERY`` seconds until the next 429 measures it (TCP's slow start).
* **Per channel**, ``chat.postMessage`` keeps to one a second with a burst of ``CHANNEL_BURST``
  (Slack's per-channel limit: team-channel posts such as kudos; each DM is a channel of its own).

The pace is ``aiolimiter``'s leaky bucket, sized to let only ``BURST`` seconds' worth (at least
one call) go at once.  A new pace starts with its bucket full, so the calls waiting out a pause
don't all rush out as a burst on top of the rate the moment it ends (the next second would then
hold more than Slack just allowed, and the 429 would come straight back).

Bounded waits: a send holds an outbox slot meanwhile, so a lane paused for longer than
``MAX_WAIT`` is not waited out: the call raises (``PausedTooLong``, or the 429 itself) and the
outbox tries the row again later.  Memory is bounded: lanes and channels are kept in LRUs.  The
limits are this process's: several replicas each learn their own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiolimiter import AsyncLimiter
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.identities import LRU

log = logging.getLogger(__name__)
POST = "chat.postMessage"
PER_MINUTE = {2: 20.0, 3: 50.0, 4: 100.0}  # Slack's tiers: the floor a lane is never paced below
TIERS = {
    "conversations.open": 3,
    "conversations.history": 3,
    "conversations.members": 4,
    "users.list": 2,
    "users.info": 4,
    "users.lookupByEmail": 3,
    "usergroups.users.list": 2,
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "views.open": 4,
    "views.publish": 4,
    "views.update": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.info": 4,
}
DEFAULT_TIER = 3
POST_FLOOR = 1.0  # calls a second: chat.postMessage's lane is never paced below this

WINDOW = 1.0  # seconds of accepted calls a decrease is measured over
DECREASE = 0.98  # of the rate Slack accepted over the last WINDOW: the pace after a 429
BURST = 0.05  # seconds' worth of a lane's rate that may go at once
PROBE_EVERY = 10.0  # seconds without a 429 (and kept busy) before the rate is raised
PROBE_STEP = 1.01
EVIDENCE = 10  # calls accepted over the last WINDOW for a 429 to measure a lane's rate
START_EVERY = 1.0  # seconds between doublings of a rate not measured yet
BUSY = 0.8  # a lane is busy when it used this share of its rate over the last WINDOW
PER_CHANNEL = 1.0  # chat.postMessage calls a second per channel
CHANNEL_BURST = 3
MAX_WAIT = 10.0  # seconds a call may wait for a paused lane (it holds an outbox slot)
LANES_KEPT = 10_000  # (workspace, method) lanes remembered
CHANNELS_KEPT = 5_000  # channels whose pace is remembered

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class PausedTooLong(Exception):
    """Slack asked this workspace to hold this method for longer than a send may wait."""

    def __init__(self, method: str, seconds: float) -> None:
        super().__init__(f"Slack asked to wait {seconds:.0f} s before the next {method}")
        self.seconds = seconds


def bucket(rate: float) -> AsyncLimiter:
    """A leaky bucket of ``rate`` calls a second letting ``BURST`` seconds' worth (at least
    one call) go at once."""
    capacity = max(1.0, rate * BURST)
    return AsyncLimiter(capacity, capacity / rate)


def floor_of(method: str) -> float:
    if method == POST:
        return POST_FLOOR
    return PER_MINUTE[TIERS.get(method, DEFAULT_TIER)] / 60


@dataclass(eq=False)
class Lane:
    """One method in one workspace: its learnt rate (None: unpaced) and its pause."""

    method: str
    floor: float
    rate: float | None = None
    limiter: AsyncLimiter | None = None
    resume_at: float = 0.0  # the clock's time the pause ends
    epoch: int = 0  # bumped by each decrease
    measured: bool = False  # whether a 429 measured the rate (else it doubles while busy)
    full: bool = False  # the next turn fills a new pace's bucket first (no burst)
    probed_at: float = 0.0
    accepted: deque[float] = field(default_factory=deque)  # times of accepted calls, last WINDOW

    def pace(self, rate: float, now: float) -> None:
        self.rate = max(self.floor, rate)
        self.limiter = bucket(self.rate)
        self.full = True
        self.probed_at = now

    def seen(self, now: float) -> int:
        """How many calls Slack accepted over the last ``WINDOW``."""
        while self.accepted and self.accepted[0] <= now - WINDOW:
            self.accepted.popleft()
        return len(self.accepted)


@dataclass(frozen=True)
class Ticket:
    """A call's turn: its lane, and the lane's epoch when it went."""

    lane: Lane
    epoch: int


class Pacer:
    """Every lane and channel of this process; shared by all its Web API clients."""

    def __init__(
        self,
        post_rate: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.post_rate = post_rate
        self.clock = clock
        self.sleep = sleep  # (tests count the waits)
        self.decreases = 0  # paces cut by a 429
        self._lanes: LRU[tuple[str, str], Lane] = LRU(LANES_KEPT)
        self._channels: LRU[tuple[str, str], AsyncLimiter] = LRU(CHANNELS_KEPT)

    def lane(self, workspace: str, method: str) -> Lane:
        """``workspace`` is the bot token the call carries ("" without one)."""
        key = (workspace, method)
        lane = self._lanes.get(key)
        if lane is None:
            lane = Lane(method, floor_of(method))
            if method == POST and self.post_rate is not None:
                lane.pace(self.post_rate, self.clock())
                lane.measured = True  # an operator's figure: probed slowly, not doubled
        self._lanes.remember(key, lane)
        return lane

    async def turn(self, workspace: str, method: str, channel: str | None = None) -> Ticket:
        """Wait for this call's turn: its channel's (``chat.postMessage``), then its lane's."""
        if method == POST and channel:
            await self._channel(workspace, channel).acquire()
        return await self.lane_turn(self.lane(workspace, method))

    async def lane_turn(self, lane: Lane) -> Ticket:
        while True:
            await self._paused(lane)
            limiter = lane.limiter
            if limiter is not None:
                if lane.full:
                    lane.full = False
                    await limiter.acquire(limiter.max_rate)  # an empty bucket: at once
                await limiter.acquire()
            if lane.limiter is limiter and lane.resume_at <= self.clock():
                self._probe(lane)
                return Ticket(lane, lane.epoch)
            # a 429 paused (or re-paced) the lane while this call waited: wait again

    def accepted(self, ticket: Ticket) -> None:
        """Slack answered the call (anything but a 429)."""
        now = self.clock()
        ticket.lane.seen(now)
        ticket.lane.accepted.append(now)

    def refused(self, ticket: Ticket, retry_after: float) -> float:
        """A 429: the lane pauses until ``retry_after`` from now (extending, never shortening a
        pause) and, once per burst, is paced a little under what Slack accepted.  The seconds
        left until the lane resumes."""
        lane, now = ticket.lane, self.clock()
        lane.resume_at = max(lane.resume_at, now + retry_after)
        if ticket.epoch == lane.epoch:
            accepted = lane.seen(now) / WINDOW
            basis = accepted if lane.rate is None else min(accepted, lane.rate)
            lane.pace(DECREASE * basis, lane.resume_at)
            lane.measured = lane.seen(now) >= EVIDENCE
            lane.epoch += 1
            self.decreases += 1
            log.info("Slack asked to slow %s down: now %.1f a second", lane.method, lane.rate)
        return lane.resume_at - now

    async def _paused(self, lane: Lane) -> None:
        while (left := lane.resume_at - self.clock()) > 0:
            if left > MAX_WAIT:
                raise PausedTooLong(lane.method, left)
            await self.sleep(left)

    def _probe(self, lane: Lane) -> None:
        """Raise a busy lane's rate a step after ``PROBE_EVERY`` seconds without a 429 (doubled
        after ``START_EVERY`` while not measured)."""
        now = self.clock()
        every, step = (PROBE_EVERY, PROBE_STEP) if lane.measured else (START_EVERY, 2.0)
        if lane.rate is None or now - lane.probed_at < every:
            return
        if lane.seen(now) >= BUSY * lane.rate * WINDOW:
            lane.pace(lane.rate * step, now)
        else:
            lane.probed_at = now  # idle: no evidence Slack allows more

    def _channel(self, workspace: str, channel: str) -> AsyncLimiter:
        key = (workspace, channel)
        limiter = self._channels.get(key)
        if limiter is None:
            limiter = AsyncLimiter(CHANNEL_BURST, CHANNEL_BURST / PER_CHANNEL)
        self._channels.remember(key, limiter)
        return limiter

    def __deepcopy__(self, _memo: object) -> Pacer:
        return self  # one pacer per process, whatever copies a client holding it


def retry_after(headers: Mapping[str, list[str] | str]) -> float:
    """A 429's ``Retry-After`` in seconds (1 if it doesn't say, as slack_sdk assumes)."""
    for name, value in headers.items():
        if name.lower() == "retry-after":
            text = value[0] if isinstance(value, list) else value
            try:
                seconds = float(text)
            except ValueError:
                return 1.0
            return seconds if math.isfinite(seconds) and seconds >= 0 else 1.0
    return 1.0


# -- slack_sdk's hooks: every call takes its turn; a 429 is told to the pacer and waited through
MAX_TRIES = 4  # tries of one call refused with 429s (then the outbox tries again later)


@dataclass
class Turn:
    """The turn of the call in progress (its retry takes a new one)."""

    ticket: Ticket


_TURN: ContextVar[Turn | None] = ContextVar("slack_pacing_turn", default=None)


def bearer(headers: Mapping[str, Any]) -> str:
    """The bot token an ``Authorization: Bearer`` header carries ("" for none)."""
    for name, value in headers.items():
        if name.lower() == "authorization" and isinstance(value, str):
            return value.removeprefix("Bearer ") if value.startswith("Bearer ") else ""
    return ""


def channel_of(arguments: Mapping[str, Any]) -> str | None:
    """The ``channel`` of a call's body or query, whichever carries it."""
    for part in ("json", "data", "params"):
        body = arguments.get(part)
        if isinstance(body, Mapping) and isinstance(body.get("channel"), str):
            return str(body["channel"])
    return None


def status_of(error: SlackApiError) -> int:
    return int(getattr(error.response, "status_code", 0) or 0)


class PacedClient(AsyncWebClient):
    """slack_sdk's client, each call waiting its turn (the workspace is the call's bot token:
    the ``Authorization`` header ``WorkspaceClient`` binds, or the client's own)."""

    def __init__(self, *, pacer: Pacer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pacer = pacer

    async def api_call(
        self, api_method: str, *, headers: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncSlackResponse:
        workspace = bearer(headers or {}) or self.token or ""
        channel = channel_of(kwargs) if api_method == POST else None
        turn = Turn(await self.pacer.turn(workspace, api_method, channel))
        reset = _TURN.set(turn)
        try:
            response = await super().api_call(api_method, headers=headers, **kwargs)
        except SlackApiError as error:
            if status_of(error) != 429:
                self.pacer.accepted(turn.ticket)
            raise
        finally:
            _TURN.reset(reset)
        self.pacer.accepted(turn.ticket)
        return response


class PacedRateLimitRetry(AsyncRetryHandler):
    """In place of slack_sdk's ``AsyncRateLimitErrorRetryHandler`` (each call sleeping its own
    ``Retry-After``): a 429 is told to the pacer, which pauses the whole lane, and the retry
    waits for the lane's next turn.  Past ``MAX_TRIES`` or a pause longer than ``MAX_WAIT`` the
    429 is raised.  On a client that doesn't pace its calls (Bolt's per-request clients) the
    retries are still paced and the pause is still shared."""

    def __init__(self, pacer: Pacer, max_retry_count: int = MAX_TRIES) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.pacer = pacer

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        left = self.pacer.refused(self._turn(state, request).ticket, retry_after(response.headers))
        return state.current_attempt < self.max_retry_count and left <= MAX_WAIT

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        turn = self._turn(state, request)
        turn.ticket = await self.pacer.lane_turn(turn.ticket.lane)
        state.increment_current_attempt()

    def _turn(self, state: RetryState, request: HttpRequest) -> Turn:
        """The call's turn: its ``PacedClient``'s, or one taken now from the call's lane."""
        values = state.custom_values = state.custom_values or {}
        turn = values.get("turn") or _TURN.get()
        if turn is None:
            method = request.url.rstrip("/").rsplit("/", 1)[-1]
            lane = self.pacer.lane(bearer(request.headers), method)
            turn = Turn(Ticket(lane, lane.epoch))
        values["turn"] = turn
        return turn

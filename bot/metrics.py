"""Prometheus metrics (``GET /metrics``).  Counts only: no label ever names a person, a team member
or an answer, so a metric can never put a person beside an answer.

Nothing here times an answer more finely than the scrape.  prometheus_client's ``_created``
samples would (a labelled series is created at its first event: ``…_created{route="/local/api/
pulse",status="200"}`` is the second the first answer of this process arrived), so they are
switched off.  What remains moves only by whole events and carries no timestamp or exemplar: the
request counter by route and status, the cards and kudos counters, the group commit's batch-size
histogram (how many cards a commit took, not how long anything took), outbox and reminder
counters, and two gauges read from the database at each scrape.  Between two scrapes one can tell
*that* answers came in, never when within the interval.

``TEAMPULSE_METRICS_TOKEN`` makes ``/metrics`` ask for ``Authorization: Bearer <token>`` (401
otherwise); ``TEAMPULSE_METRICS_PORT`` serves it on that port only, not on the public one.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from sqlalchemy import func
from sqlmodel import col, select

from bot.logs import AccessLogger, request_ids
from bot.settings import Settings
from bot.shared_call import SharedCall
from storage.engine import Database
from storage.models import Delivery, DeliveryStatus, PulseRound

disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "teampulse_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.answers = Counter(
            "teampulse_pulse_submissions", "Pulse cards recorded", registry=self.registry
        )
        self.still_saving = Counter(
            "teampulse_pulse_still_saving",
            "Pulse cards whose person's wait ran out while their commit ran (told 'still saving')",
            registry=self.registry,
        )
        self.submit_batch = Histogram(
            "teampulse_pulse_submit_batch_size",
            "Pulse cards committed together in one transaction (the group commit)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.kudos = Counter("teampulse_kudos", "Kudos given", registry=self.registry)
        self.deliveries = Counter(
            "teampulse_outbox_deliveries",
            "Outbox sends by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.reminders = Counter("teampulse_reminders", "Reminders sent", registry=self.registry)
        # set from the database at each scrape: with several workers, the latest scrape's value
        self.pending = Gauge(
            "teampulse_outbox_pending",
            "Outbox rows waiting to be sent",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.open_rounds = Gauge(
            "teampulse_open_rounds",
            "Pulse rounds open for answers",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counted by route pattern (``/local/charts/{key}.png``), never by path or query."""
    metrics: Metrics = request.app[METRICS]
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    try:
        response = await handler(request)
    except web.HTTPException as error:
        metrics.requests.labels(name, str(error.status)).inc()
        raise
    metrics.requests.labels(name, str(response.status)).inc()
    return response


async def scrape(request: web.Request) -> web.Response:
    token = request.app.get(TOKEN)
    if token is not None and not _bearer_matches(request, token):
        raise web.HTTPUnauthorized(
            text="/metrics needs Authorization: Bearer <TEAMPULSE_METRICS_TOKEN>",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    metrics = request.app[METRICS]
    await request.app[GAUGES]()  # (scrapes arriving together share one query)
    body = generate_latest(_registry(metrics))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _read_gauges(metrics: Metrics, db: Database) -> None:
    """The gauges that come from the database: sends waiting in the outbox, open rounds."""
    async with db.session() as session:
        pending = await session.exec(
            select(func.count(col(Delivery.id))).where(
                col(Delivery.status).in_(
                    [DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.UNCHECKED]
                )
            )
        )
        metrics.pending.set(pending.one())
        open_rounds = await session.exec(
            select(func.count(col(PulseRound.id))).where(col(PulseRound.closed).is_(False))
        )
        metrics.open_rounds.set(open_rounds.one())


def _registry(metrics: Metrics) -> CollectorRegistry:
    """This process's metrics, or every worker's added up when serving with several
    (``TEAMPULSE_WORKERS``: each writes its counts to ``PROMETHEUS_MULTIPROC_DIR``)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return metrics.registry
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def _bearer_matches(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


def install_metrics(
    app: web.Application, metrics: Metrics, db: Database, settings: Settings
) -> None:
    """``/metrics`` on the public server, or (``TEAMPULSE_METRICS_PORT``) on its own port only,
    started and stopped with ``app``; behind the bearer token in either place when one is set."""
    if settings.metrics_port is None:
        _add_scrape(app, metrics, db, settings.metrics_token)
        return
    port, host = settings.metrics_port, settings.bind_host

    async def own_site(_app: web.Application) -> AsyncIterator[None]:
        # requests on this site are counted by their own app's middleware (route "/metrics")
        private = web.Application(middlewares=[request_ids, count_requests])
        _add_scrape(private, metrics, db, settings.metrics_token)
        runner = web.AppRunner(private, access_log_class=AccessLogger)
        await runner.setup()
        # several workers share the port as they share the public one
        await web.TCPSite(runner, host, port, reuse_port=settings.workers > 1 or None).start()
        yield
        await runner.cleanup()

    app.cleanup_ctx.append(own_site)


def _add_scrape(app: web.Application, metrics: Metrics, db: Database, token: str | None) -> None:
    app[METRICS] = metrics
    app[DATABASE] = db
    app[GAUGES] = SharedCall(lambda: _read_gauges(metrics, db))
    if token:
        app[TOKEN] = token
    app.router.add_get("/metrics", scrape)


METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
DATABASE: web.AppKey[Database] = web.AppKey("metrics_database", Database)
TOKEN: web.AppKey[str] = web.AppKey("metrics_token", str)
GAUGES: web.AppKey[SharedCall[None]] = web.AppKey("metrics_gauges", SharedCall)

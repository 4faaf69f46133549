"""Prometheus metrics (``GET /metrics``).  Counts only: no label ever names a person, a team member
or an answer, so a metric can never put a person beside an answer."""

from __future__ import annotations

import os

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import func
from sqlmodel import col, select

from storage.engine import Database
from storage.models import Delivery, DeliveryStatus, PulseRound


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
    metrics = request.app[METRICS]
    async with request.app[DATABASE].session() as session:
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
    body = generate_latest(_registry(metrics))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _registry(metrics: Metrics) -> CollectorRegistry:
    """This process's metrics, or every worker's added up when serving with several
    (``TEAMPULSE_WORKERS``: each writes its counts to ``PROMETHEUS_MULTIPROC_DIR``)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return metrics.registry
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
DATABASE: web.AppKey[Database] = web.AppKey("metrics_database", Database)

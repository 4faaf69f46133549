"""``teampulse serve`` with several worker processes (``TEAMPULSE_WORKERS``): gunicorn's master
with aiohttp's ``GunicornWebWorker``.

The master binds the port, forks the workers (they accept on the socket they share) and starts a
new one when one dies, so an OOM-killed worker costs its own requests in flight only; the others
go on answering.  SIGTERM stops every worker gracefully (each runs the app's clean-up, as a
single server does) and the master exits 0.  The caller has already migrated the database,
once, before anything forks.

Prometheus counts go through ``PROMETHEUS_MULTIPROC_DIR`` (a fresh folder per run, unless the
operator set one), so ``/metrics`` from any worker shows the server's totals; a dead worker's
live gauges are dropped (``mark_process_dead``), its counts kept.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]
from prometheus_client import multiprocess, values

from bot.logs import AccessLogger, gunicorn_logconfig
from bot.settings import Settings

log = logging.getLogger("teampulse")

AppFactory = Callable[[], Awaitable[web.Application]]
BOOT_SECONDS = 120  # a worker that has not answered the master's heartbeat by then is replaced


class WorkerServer(BaseApplication):  # type: ignore[misc]
    """gunicorn configured from code (no gunicorn.conf.py, no command line of its own)."""

    def __init__(self, settings: Settings, app: AppFactory) -> None:
        self.settings = settings
        self.app = app
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": f"{_host(self.settings.bind_host)}:{self.settings.port}",
            "workers": self.settings.workers,
            "worker_class": "aiohttp.GunicornWebWorker",
            "timeout": BOOT_SECONDS,
            "graceful_timeout": 30,
            "proc_name": "teampulse",
            "child_exit": _child_exit,
            # gunicorn's own lines in our format (TEAMPULSE_LOG_FORMAT), one line per event
            "logconfig_dict": gunicorn_logconfig(self.settings.log_format),
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Callable[[], Awaitable[web.AppRunner]]:
        async def runner() -> web.AppRunner:  # in each worker, on its own event loop
            return web.AppRunner(await self.app(), access_log_class=AccessLogger)

        return runner


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _child_exit(_server: object, worker: Any) -> None:
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def serve_workers(settings: Settings, app: AppFactory) -> int:
    """Run the master until SIGTERM or SIGINT; returns its exit status."""
    master = os.getpid()
    metrics_dir = tempfile.mkdtemp(prefix="teampulse-metrics-")
    try:
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
        # prometheus_client picked its value store when first imported, before the folder was
        # set; pick again, so the metrics each worker creates write to the shared folder
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        log.info("serving with %d worker processes", settings.workers)
        try:
            WorkerServer(settings, app).run()
        except SystemExit as stop:
            return stop.code if isinstance(stop.code, int) else 1
        return 0
    finally:
        # a worker leaves gunicorn by ``sys.exit`` through this same frame (it was forked in
        # ``run``): only the master removes the folder the other workers still write to
        if os.getpid() == master:
            shutil.rmtree(metrics_dir, ignore_errors=True)

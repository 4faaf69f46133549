"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work: the database answers,
its schema is the one this code was written for, and a platform is configured).  A load balancer
sends traffic only to a ready replica; an orchestrator restarts one that is not alive.  A failed
check makes ``/readyz`` answer 503 with each check's result: ``"ok"``, or the reason."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiohttp import web

from bot.shared_call import SharedCall
from storage.engine import Database
from storage.migrate import current_revision, head_revision
from storage.uncut import retrieve

log = logging.getLogger(__name__)

READY_TIMEOUT = 3.0  # seconds: a database that takes longer is not ready (a probe waits no more)
OK = "ok"


@dataclass(frozen=True)
class Readiness:
    """What ``/readyz`` checks: this process's database and the platforms it serves."""

    db: Database
    platforms: Sequence[str]
    head: str | None = None
    # probes arriving together share one look at the database (bot/shared_call.py)
    _reach: SharedCall[tuple[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_reach", SharedCall(self._database))

    @classmethod
    def of(cls, db: Database, platforms: Sequence[str]) -> Readiness:
        return cls(db, tuple(platforms), head_revision())

    async def checks(self) -> dict[str, str]:
        database, schema = await self._reach()
        return {"database": database, "schema": schema, "platforms": self._platforms()}

    async def _database(self) -> tuple[str, str]:
        """Reading the revision reaches the database too.  It runs as a task of its own that is
        given up on (cancelled, not waited for) at ``READY_TIMEOUT``: a probe is answered in
        time even when the clean-up of a connection that stopped answering would hang."""
        check = asyncio.ensure_future(current_revision(self.db.engine))
        done, _ = await asyncio.wait({check}, timeout=READY_TIMEOUT)
        if not done:
            check.cancel()
            check.add_done_callback(retrieve)
            log.warning("database not ready: no answer within %g s", READY_TIMEOUT)
            return f"no answer within {READY_TIMEOUT:g} s", "not checked: no database"
        error = check.exception()
        if error is not None:  # any failure to reach it: the reason, never a 500
            log.warning("database not ready: %s", type(error).__name__)
            return f"unreachable ({type(error).__name__})", "not checked: no database"
        return OK, self._schema(check.result())

    def _schema(self, revision: str | None) -> str:
        if revision == self.head:
            return OK
        if revision is None:
            return f"not migrated: run `teampulse db upgrade` (this version needs {self.head})"
        return f"the database is at {revision}; this version needs {self.head}"

    def _platforms(self) -> str:
        if self.platforms:
            return OK
        return "no platform configured: set Slack or Teams credentials, or use the local chat"


READINESS: web.AppKey[Readiness] = web.AppKey("readiness", Readiness)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = await request.app[READINESS].checks()
    failed = sorted(name for name, result in checks.items() if result != OK)
    if failed:
        body = {"status": "unavailable", "checks": checks, "failed": failed}
        return web.json_response(body, status=503)
    return web.json_response({"status": "ready", "checks": checks})

"""The ``teampulse`` command line.

The stack this module imports (nearly all of a server's start-up) is imported with the garbage
collector off, and it is on again once they are: its passes over the hundreds of thousands of
objects an import makes find almost nothing to free, and cost about a tenth of the imports' CPU
time (docs/performance.md, "Start-up and footprint").  What they built is then frozen
(``gc.freeze``) before the collector is on again: otherwise its first young collection scans all
of it (everything made while it was off is young), the next older one scans it again, and so
does the server's own full collection before it freezes its heap (``_freeze_heap``): three walks
over about 120,000 objects, 120 to 175 ms of CPU each on a busy two-core machine.
The price is the imports' own garbage (about 2,000 objects, 0.6 MB), kept for the life of the
process.
"""

from __future__ import annotations

import gc

_COLLECTING = gc.isenabled()  # (as the importer had it: a caller that turned it off keeps it so)
gc.disable()

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from aiohttp import web

from bot import redact
from bot.cli_data import backup, data, person
from bot.cli_secrets import secrets
from bot.logs import AccessLogger, configure_logging
from bot.platforms import IdentityRouter, adapter_entry, enabled_platforms
from bot.ports import Messenger
from bot.safety import check, explain, refusals
from bot.server import create_app
from bot.service import TeamPulse
from bot.settings import Settings
from bot.team_choice import TeamChoiceError
from storage.engine import Database, connection_limit, pool_options
from storage.migrate import upgrade, upgrade_if_behind
from surveys.directory import TeamRef
from surveys.organisation import OrgError, OrgSpec, load_file, sync_questions
from surveys.organisation.spec import printable
from surveys.rounds import RoundError

T = TypeVar("T")
POOL_CHECK_SECONDS = 10  # the start-up's look at the database's connection limit, at most
log = logging.getLogger("teampulse")


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValueError as error:
        raise click.ClickException(f"configuration problem:\n{error}") from None
    redact.remember(settings)
    return settings


async def open_service(settings: Settings, messenger: Messenger | None = None) -> TeamPulse:
    """Upgrade the database, sync the question bank and return the core service."""
    pool = pool_options(settings.database_url, settings.db_pool_size, settings.db_max_overflow)
    db = Database(settings.database_url, **pool)
    await upgrade_if_behind(settings.database_url, db.engine)
    async with db.session() as session:
        await sync_questions(session)
        await session.commit()
    return TeamPulse(db, settings, messenger)


def _run(work: Callable[[TeamPulse], Awaitable[T]]) -> T:
    async def main() -> T:
        service = await open_service(_settings())
        try:
            return await work(service)
        finally:
            await service.close()
            await service.db.dispose()

    try:
        return asyncio.run(main())
    except (RoundError, OrgError, TeamChoiceError) as error:
        raise click.ClickException(str(error)) from None


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def main(verbose: bool) -> None:
    """teampulse: anonymous pulse check-ins, kudos and team trends for Slack and Teams."""
    configure_logging(verbose)


main.add_command(data)
main.add_command(person)
main.add_command(backup)
main.add_command(secrets)


@main.command()
def serve() -> None:
    """Upgrade the database and serve the bot (and, in local mode, the web chat)."""
    settings = _settings()
    problems = refusals(settings)
    if problems:
        raise click.ClickException(explain(problems))
    settings.hashing_secret()  # (local mode: made now, before any worker races to make it)
    problem = settings.workers_problem()
    if problem:
        raise click.ClickException(problem)
    if settings.workers == 1:
        _run_server(settings)  # (it checks the pool on the service's own engine)
        return
    asyncio.run(_check_pool(settings))
    asyncio.run(_prepare(settings))  # migrations and the question bank once, before any worker
    from bot.workers import serve_workers  # (gunicorn: only when it runs the workers)

    sys.exit(serve_workers(settings, lambda: _serve_app(settings)))


def _run_server(settings: Settings) -> None:
    """One server process (``TEAMPULSE_WORKERS`` above 1: ``bot/workers.py`` runs several, each
    serving this app).  Every process runs the outbox's sender and stands in the scheduler's
    election: the one leader across every worker and replica (``storage/leader.py``) closes
    and opens rounds and queues reminders.  Requests are safe in any process: answers lock
    their round's participation row, the outbox takes rows with SKIP LOCKED, and platform
    events are deduplicated in the database."""
    web.run_app(
        _serve_app(settings, check_pool=True),
        host=settings.bind_host,
        port=settings.port,
        print=lambda _: None,
        access_log_class=AccessLogger,
    )


async def _check_pool(settings: Settings, db: Database | None = None) -> None:
    """Warn (not refuse: a pool rarely fills) when this server alone could take more PostgreSQL
    connections than the server allows; a database not reachable yet is for ``serve`` to say.
    Asked through ``db`` (one server process: the service's own, so that start-up opens no
    engine and connection of its own for it) or through an engine of its own."""
    own = db is None
    db = Database(settings.database_url) if db is None else db
    try:
        limit = await asyncio.wait_for(connection_limit(db.engine), POOL_CHECK_SECONDS)
    except Exception as error:  # (migrating, next, reports it)
        log.info("the database's connection limit was not read (%s)", type(error).__name__)
        return
    finally:
        if own:
            await db.dispose()
    problem = None if limit is None else settings.pool_problem(limit)
    if problem:
        log.warning("database pool: %s", problem)


async def _prepare(settings: Settings) -> None:
    service = await open_service(settings)
    await service.db.dispose()


async def _serve_app(
    settings: Settings, *, run_scheduler: bool = True, check_pool: bool = False
) -> web.Application:
    """The app one server process serves (its own service, database pool and scheduler);
    ``check_pool``: warn if its pool could exceed PostgreSQL's connections (``_check_pool``)."""
    check(settings)  # (``serve`` has said why already; this guards every other way in)
    redact.remember(settings)  # (no secret of this configuration in a log line)
    platforms = enabled_platforms(settings)
    service = await open_service(settings, IdentityRouter(platforms))
    if check_pool:
        await _check_pool(settings, service.db)
    if settings.local_mode:
        from bot.demo import ensure_demo

        await ensure_demo(service)
    await service.cut_due_weeks()  # weeks that ended while no replica was running
    await _warn_unbound(service)
    app = create_app(
        service,
        [p.install for p in platforms],
        run_scheduler=run_scheduler,
        platforms=[p.name for p in platforms],
    )

    async def close_db(_app: web.Application) -> None:
        await service.db.dispose()

    app.on_cleanup.append(close_db)
    app.on_startup.append(_freeze_heap)  # last: after every platform has started
    mode = "local web chat" if settings.local_mode else "platform"
    log.info("teampulse (%s) on http://%s:%d/", mode, settings.bind_host, settings.port)
    return app


async def _warn_unbound(service: TeamPulse) -> None:
    """Several organisations, and one naming no Slack workspace or Teams tenant: an admin of any
    served workspace or tenant could act as its people (docs/security.md)."""
    unbound = await service.identities.bindings.unbound()
    if unbound:
        names = ", ".join(printable(name) for name in unbound)
        log.warning(
            "several organisations, and %s name no slack_workspaces or teams_tenants: an admin "
            "of any served workspace or tenant can act as their people (docs/security.md)",
            names,
        )


async def _freeze_heap(_app: web.Application) -> None:
    """Put everything built at start-up (imports, the question bank, the platforms' SDKs: about
    230,000 objects) out of the garbage collector's sight.  Its full collections then take a few
    milliseconds instead of the ~150 ms that stalled every request in flight
    (docs/performance.md)."""
    gc.collect()
    gc.freeze()


@main.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema to the latest migration."""
    settings = _settings()
    applied = asyncio.run(upgrade(settings.database_url))
    if applied:
        click.echo(f"Database upgraded to {applied[-1]} ({len(applied)} migrations applied).")
    else:
        click.echo("Database is up to date.")


@main.group()
def org() -> None:
    """Organisation commands."""


@org.command("import")
@click.argument("file", type=click.Path(path_type=Path))
def org_import(file: Path) -> None:
    """Import teams, managers and members from a YAML or CSV file (all or nothing)."""
    spec = _load(file)

    async def work(service: TeamPulse) -> str:
        summary = await service.import_organisation(spec)
        return (
            f"Imported {summary.teams} teams, {summary.people} people and "
            f"{summary.memberships} memberships from {file}."
        )

    click.echo(_run(work))


def _load(file: Path) -> OrgSpec:
    try:
        return load_file(file)
    except OrgError as error:
        raise click.ClickException(f"{file} was not imported; nothing changed.\n{error}") from None


@main.group()
def pulse() -> None:
    """Pulse rounds."""


TEAM_HELP = "Team name (case and spacing don't matter)."
ORG_HELP = "The team's organisation: needed when teams of several are called NAME."


def _on_team(team: str, org: str | None, work: Callable[[TeamPulse, TeamRef], Awaitable[T]]) -> T:
    """Resolve ``--team`` (within ``--org``) once, then work on that team by its id."""

    async def resolved(service: TeamPulse) -> T:
        return await work(service, await service.team_named(team, org))

    return _run(resolved)


@pulse.command("send")
@click.option("--team", required=True, help=TEAM_HELP)
@click.option("--org", default=None, metavar="NAME", help=ORG_HELP)
def pulse_send(team: str, org: str | None) -> None:
    """Open a round for a team now (the running server delivers it)."""
    click.echo(_on_team(team, org, lambda service, ref: service.open_round(ref)))


@pulse.command("close")
@click.option("--team", required=True, help=TEAM_HELP)
@click.option("--org", default=None, metavar="NAME", help=ORG_HELP)
def pulse_close(team: str, org: str | None) -> None:
    """Close a team's open round now (results show once its week is over and all closed)."""
    click.echo(_on_team(team, org, lambda service, ref: service.close_round(ref)))


@pulse.command("status")
def pulse_status() -> None:
    """Open rounds and outbox progress (no individual is ever shown)."""
    click.echo(_run(lambda service: service.status_report()))


@main.command("export")
@click.option("--team", required=True, help="Team name (its part of the organisation).")
@click.option("--org", default=None, metavar="NAME", help=ORG_HELP)
@click.option("--weeks", default=52, show_default=True, type=click.IntRange(1, 260))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to a file instead of standard output.",
)
def export_csv(team: str, org: str | None, weeks: int, output: Path | None) -> None:
    """Export a team's published results as CSV (groups below the threshold never appear)."""
    text = _on_team(team, org, lambda service, ref: service.export_csv(ref, weeks))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {max(text.count(chr(10)) - 1, 0)} rows to {output}.", err=True)


@main.command()
@click.option("--as", "email", required=True, help="Email of the person to chat as.")
def chat(email: str) -> None:
    """Talk to the bot in the terminal as someone in the organisation."""
    run_console = adapter_entry("adapters.local.console", "run_console")
    settings = _settings()
    if not settings.local_mode:
        raise click.ClickException(
            "the console chat acts as anyone, so it runs only in local "
            "mode (no Slack or Teams variable set, or TEAMPULSE_LOCAL_CHAT=on)"
        )
    asyncio.run(run_console(settings, email, open_service))


@main.group()
def manifest() -> None:
    """Platform app manifests."""


@manifest.command("slack")
@click.option(
    "--url",
    default="https://teampulse.example.org",
    show_default=True,
    help="Public base URL of this server (Slack sends requests to URL/slack/events).",
)
@click.option("--name", default="teampulse", show_default=True, help="The app's name in Slack.")
def manifest_slack(url: str, name: str) -> None:
    """Print the Slack app manifest (YAML): paste it into api.slack.com/apps > Create New App."""
    if not url.startswith(("https://", "http://")):
        raise click.ClickException("--url must start with https://")
    manifest_yaml = adapter_entry("adapters.slack.manifest", "manifest_yaml")
    settings = _settings()
    click.echo(manifest_yaml(url, name=name, kudos_values=settings.kudos_values), nl=False)


@manifest.command("teams")
@click.option(
    "--url",
    required=True,
    help="Public https:// base URL of this server (its host becomes the app's valid domain).",
)
@click.option(
    "--app-id",
    default=None,
    metavar="GUID",
    help="The Azure Bot's Microsoft app id [default: MicrosoftAppId].",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("teampulse-teams.zip"),
    show_default=True,
    help="Where to write the package.",
)
@click.option("--name", default="teampulse", show_default=True, help="The app's name in Teams.")
@click.option("--app-version", default=None, help="The app's version [default: teampulse's].")
@click.option("--developer", default="teampulse", show_default=True, help="Publisher's name.")
@click.option("--privacy-url", default=None, help="Privacy notice (https) [default: --url].")
@click.option("--terms-url", default=None, help="Terms of use (https) [default: --url].")
def manifest_teams(
    url: str,
    app_id: str | None,
    out: Path,
    name: str,
    app_version: str | None,
    developer: str,
    privacy_url: str | None,
    terms_url: str | None,
) -> None:
    """Write the Teams app package (manifest.json and icons, zipped): upload it in the Teams
    admin center > Teams apps > Manage apps."""
    app_info = adapter_entry("adapters.teams.manifest", "AppInfo")
    write_package = adapter_entry("adapters.teams.manifest", "write_package")
    info = app_info(
        app_id=app_id or _settings().microsoft_app_id,
        url=url,
        name=name,
        app_version=app_version,
        developer=developer,
        privacy_url=privacy_url,
        terms_url=terms_url,
    )
    try:
        click.echo(write_package(out, info))
    except ValueError as error:  # the package module's PackageError names the option
        raise click.BadParameter(str(error), param_hint=getattr(error, "option", None)) from None
    except OSError as error:
        raise click.ClickException(f"could not write {out}: {error.strerror}") from None


if _COLLECTING:  # (the imports above are done)
    gc.freeze()  # (they stay out of every collection's sight: see the module's docstring)
    gc.enable()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

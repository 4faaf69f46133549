"""``teampulse data prune``, ``teampulse person forget`` and ``teampulse backup``: the data's
lifecycle from the command line (docs/data-protection.md, docs/deploy.md for restores)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy.engine import URL, make_url

from bot.service import TeamPulse
from surveys.lifecycle import Forgotten, Pruned


@click.group()
def data() -> None:
    """Keeping data only as long as it is needed."""


@data.command("prune")
def data_prune() -> None:
    """Delete comments older than TEAMPULSE_COMMENT_RETENTION_MONTHS now (the server also does
    it daily); scores and published results are kept."""
    from bot.cli import _run  # late: bot.cli imports this module to add its commands

    pruned: Pruned = _run(lambda service: service.prune_comments())
    if pruned.cutoff is None:
        click.echo("TEAMPULSE_COMMENT_RETENTION_MONTHS is 0: comments are kept; nothing deleted.")
        return
    click.echo(
        f"Deleted comments from before {pruned.cutoff.isoformat()}: "
        f"{pruned.statement_comments} on statements, {pruned.general_comments} general. "
        "Scores and published results are kept."
    )


@click.group()
def person() -> None:
    """One person's data."""


@person.command("show")
@click.argument("email")
def person_show(email: str) -> None:
    """Print, as JSON, what is held about EMAIL (a subject access request): directory entry,
    teams, platform accounts, pulse times, pulses and reminders sent, kudos.  Never their answers:
    nothing links an answer to a person."""
    from bot.cli import _run

    found = _run(lambda service: service.person_data(email))
    if found is None:
        raise click.ClickException(f"no one with the email {email} is known")
    click.echo(json.dumps(found, indent=2, ensure_ascii=False))


@person.command("forget")
@click.argument("email")
@click.option(
    "--kudos-text",
    is_flag=True,
    help="Also replace the words of every kudos they gave or received with '(message removed)'.",
)
@click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
def person_forget(email: str, kudos_text: bool, yes: bool) -> None:
    """Erase EMAIL's identity: email and name, platform accounts, conversation references,
    pulse times and team memberships.  Their anonymous answers were never linked to them."""
    if not yes:
        click.confirm(f"Erase the identity of {email}? This can't be undone", abort=True)
    from bot.cli import _run

    async def work(service: TeamPulse) -> Forgotten | None:
        return await service.forget_person(email, kudos_text=kudos_text)

    forgotten = _run(work)
    if forgotten is None:
        raise click.ClickException(f"no one with the email {email} is known; nothing changed")
    click.echo(_forgotten_summary(email, forgotten))


def _forgotten_summary(email: str, forgotten: Forgotten) -> str:
    lines = [
        f"Forgot {email}: their email and name are erased.",
        f"  platform accounts removed: {forgotten.accounts}",
        f"  conversation references removed: {forgotten.references}",
        f"  team memberships removed: {forgotten.memberships}",
        f"  unsent pulses dropped: {forgotten.unsent}",
    ]
    if forgotten.kudos_blanked is None:
        lines.append("  kudos words kept (add --kudos-text to remove them)")
    else:
        lines.append(f"  kudos whose words were removed: {forgotten.kudos_blanked}")
    lines.append(
        "Their anonymous answers hold nothing of them and stay in the results.  Remove them "
        "from the organisation file and any synced channel too, or an import or sync adds "
        "them again."
    )
    return "\n".join(lines)


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the backup [default: teampulse-<UTC time>.dump, or .db for SQLite].",
)
def backup(output: Path | None) -> None:
    """Back up the database: pg_dump's custom format for PostgreSQL (restore with pg_restore),
    or a consistent copy of the SQLite file (online backup, safe while serving)."""
    from bot.cli import _settings

    url = make_url(_settings().database_url)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if url.get_backend_name() == "sqlite":
        target = output or Path(f"teampulse-{stamp}.db")
        _sqlite_backup(url, target)
    elif url.get_backend_name() == "postgresql":
        target = output or Path(f"teampulse-{stamp}.dump")
        _pg_dump(url, target)
    else:
        raise click.ClickException(f"no backup for a {url.get_backend_name()} database")
    click.echo(f"Backed up to {target} ({target.stat().st_size} bytes).")


def _sqlite_backup(url: URL, target: Path) -> None:
    if not url.database or not Path(url.database).exists():
        raise click.ClickException(f"the SQLite database {url.database!r} does not exist")
    source = sqlite3.connect(f"file:{url.database}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def _pg_dump(url: URL, target: Path) -> None:
    """``pg_dump`` with the connection in libpq's variables: no password on a command line."""
    if shutil.which("pg_dump") is None:
        raise click.ClickException(
            "pg_dump is not installed here. Run it where it is, for example: docker compose "
            "exec db pg_dump -U postgres -Fc teampulse > teampulse.dump (docs/deploy.md)"
        )
    env = {**os.environ, **_libpq_env(url)}
    done = subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={target}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        raise click.ClickException(f"pg_dump failed: {done.stderr.strip()}")


def _libpq_env(url: URL) -> dict[str, str]:
    values = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    ssl = url.query.get("sslmode") or url.query.get("ssl")
    if isinstance(ssl, str):
        values["PGSSLMODE"] = ssl
    return {name: value for name, value in values.items() if value}

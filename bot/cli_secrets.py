"""``teampulse secrets new-key`` and ``teampulse secrets rotate``: the keys that seal stored
credentials (docs/security.md, "Credentials at rest")."""

from __future__ import annotations

import click
from cryptography.fernet import Fernet

from bot.credentials import Resealed, reseal
from bot.service import TeamPulse
from storage.sealed import CredentialUnreadable


@click.group()
def secrets() -> None:
    """Keys of the credentials stored in the database."""


@secrets.command("new-key")
def secrets_new_key() -> None:
    """Print a new key: put it first in TEAMPULSE_ENCRYPTION_KEYS, then run `secrets rotate`."""
    click.echo(Fernet.generate_key().decode())


@secrets.command("rotate")
def secrets_rotate() -> None:
    """Seal every stored credential under the newest key (the first of
    TEAMPULSE_ENCRYPTION_KEYS); older keys can then be dropped from the list."""
    from bot.cli import _run  # late: bot.cli imports this module to add its commands

    async def work(service: TeamPulse) -> Resealed:
        return await reseal(service.db.engine, service.sealer, rotate=True)

    try:
        done = _run(work)
    except CredentialUnreadable as error:
        raise click.ClickException(f"{error} Nothing was changed.") from None
    click.echo(
        f"Sealed {done.rotated + done.sealed} stored credentials under the newest key "
        f"({done.sealed} of them were stored in plain text)."
    )

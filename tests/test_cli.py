"""The ``teampulse`` command line, as an operator uses it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner, Result

from bot.cli import main
from tests.support import ORG_YAML, email


async def teampulse(database_url: str, *args: str) -> Result:
    env = {
        "DATABASE_URL": database_url,
        "TEAMPULSE_SECRET": "cli-test-secret",
        "TEAMPULSE_LOCAL_CHAT": "on",
    }
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, main, list(args), env=env)


async def test_org_import_then_pulse_send_status_close_and_export(
    database_url: str, tmp_path: Path
) -> None:
    org = tmp_path / "org.yaml"
    org.write_text(ORG_YAML)
    imported = await teampulse(database_url, "org", "import", str(org))
    assert imported.exit_code == 0, imported.output
    assert "Imported 4 teams" in imported.output

    sent = await teampulse(database_url, "pulse", "send", "--team", "Ward A")
    assert sent.exit_code == 0 and "12 people will be asked" in sent.output
    status = await teampulse(database_url, "pulse", "status")
    assert "Ward A: pulse #1" in status.output and "12 invited" in status.output
    assert "fewer than 5 answered" in status.output
    assert email("a0") not in status.output  # counts only, never people

    closed = await teampulse(database_url, "pulse", "close", "--team", "Ward A")
    assert closed.exit_code == 0 and "Closed pulse #1" in closed.output
    again = await teampulse(database_url, "pulse", "close", "--team", "Ward A")
    assert again.exit_code == 1 and "no open pulse" in again.output

    exported = await teampulse(database_url, "export", "--team", "Ward A")
    assert exported.exit_code == 0
    # nobody answered, so nothing is published: the export is the header alone
    assert exported.output.splitlines() == [
        "team,week,theme,respondents,mean,favourable_pct,participation_pct"
    ]


async def test_a_bad_file_names_the_lines_and_imports_nothing(
    database_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "org.csv"
    bad.write_text(
        "email,team,parent_team,role\n"
        "amara@trust.example,Ward 7,,member\n"
        "not-an-email,Ward 7,,member\n"
        "dan@trust.example,Ward 7,,boss\n"
    )
    result = await teampulse(database_url, "org", "import", str(bad))
    assert result.exit_code == 1
    assert "nothing changed" in result.output
    assert "line 3" in result.output and "line 4" in result.output
    status = await teampulse(database_url, "pulse", "send", "--team", "Ward 7")
    assert status.exit_code == 1 and "no team called" in status.output


async def test_unknown_team_is_a_clear_error(database_url: str) -> None:
    result = await teampulse(database_url, "export", "--team", "Nowhere")
    assert result.exit_code == 1 and "no team called" in result.output
    assert "Traceback" not in result.output
